"""Parsing of the store URIs of design.md into a ``StoreURI`` value (no backend is touched)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from harness.errors import InvalidURIError
from harness.netloc import is_loopback
from harness.redact import redact_uri

SCHEMES = ("qdrant-edge", "qdrant", "qdrant-local", "pinecone", "exact")
EXAMPLES = {
    "qdrant-edge": "qdrant-edge:///abs/shard/dir?distance=cosine&m=16&ef_construct=100",
    "qdrant": "qdrant://localhost:6333/my_collection",
    "qdrant-local": "qdrant-local:///abs/dir/my_collection or qdrant-local://:memory:/my_collection",
    "pinecone": "pinecone://my-index?host=http://127.0.0.1:5081&namespace=ns",
    "exact": "exact://name",
}
_SECRET_PARAMS = {"api_key", "apikey", "api-key", "key", "token", "password", "secret", "access_token"}
_USERINFO_IN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#@]*@")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://\S+")


@dataclass(frozen=True, slots=True)
class StoreURI:
    """A parsed store URI: ``scheme``, ``host``/``port`` (servers), ``path`` (directories),
    ``collection`` (collection, index or name) and ``options`` (the query string)."""

    scheme: str
    raw: str
    collection: str = ""
    host: str = ""
    port: int | None = None
    path: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @property
    def redacted(self) -> str:
        """The URI with any credential replaced by ``***``."""
        return redact_uri(self.raw)


def _credentials(body: str, options: dict[str, str]) -> str:
    """What in a URI looks like a credential ("" when nothing does): userinfo in its authority, a secret
    parameter, or a nested URL (a query value such as ``host=http://user:secret@h``) with either.

    Refused before any connection: a credential in a URI ends up in shell history, process lists, logs,
    journals and reports, and a nested one would be sent to a host the user may not have meant."""
    if "@" in body.split("/", 1)[0]:  # the authority: everything before the first "/"
        return "userinfo (user:password@) in the authority"
    secret = sorted(k for k in options if k.lower() in _SECRET_PARAMS)
    if secret:
        return f"parameter(s) {secret}"
    for key, value in options.items():
        if key.lower() == "host" and "@" in urlsplit(value if "://" in value else f"//{value}").netloc:
            return f"userinfo in the {key}= URL"
        nested = _nested_credentials(value)
        if nested:
            return f"{nested} in the {key}= value"
    return ""


def _nested_credentials(value: str, depth: int = 0) -> str:
    """Userinfo or a secret parameter in any URL inside ``value`` (URLs inside its query included)."""
    if "://" not in value or depth > 4:
        return ""
    if _USERINFO_IN_URL.search(value) or _USERINFO_IN_URL.search(unquote(value)):
        return "userinfo (user:password@) in a nested URL"
    for url in _URL.findall(value):
        try:
            pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
        except ValueError:
            continue
        for key, inner in pairs:
            if key.lower() in _SECRET_PARAMS:
                return f"parameter {key!r} in a nested URL"
            found = _nested_credentials(inner, depth + 1)
            if found:
                return found
    return ""


def _fail(uri: str, why: str, scheme: str | None = None) -> InvalidURIError:
    hint = f" (example: {EXAMPLES[scheme]})" if scheme in EXAMPLES else ""
    return InvalidURIError(f"bad store URI {redact_uri(uri)!r}: {why}{hint}")


def parse_store_uri(uri: str) -> StoreURI:
    """Parse ``uri``; ``InvalidURIError`` (one line naming the accepted schemes) when it is not one of ours."""
    if not isinstance(uri, str) or "://" not in uri:
        raise InvalidURIError(
            f"bad store URI {redact_uri(str(uri))!r}: expected SCHEME://..., accepted schemes: "
            + ", ".join(f"{s}://" for s in SCHEMES)
        )
    scheme, rest = uri.split("://", 1)
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise InvalidURIError(
            f"unknown store scheme {scheme!r} in {redact_uri(uri)!r}; accepted schemes: "
            + ", ".join(f"{s}://" for s in SCHEMES)
        )
    body, _, query = rest.partition("?")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError as exc:
        raise _fail(uri, f"malformed query string ({exc})", scheme) from None
    found = _credentials(body, options)
    if found:
        raise _fail(
            uri,
            f"credentials do not belong in a URI (found {found}); set PINECONE_API_KEY or QDRANT_API_KEY instead",
            scheme,
        )

    if scheme == "exact":
        name = body.strip("/")
        if not name or "/" in name:
            raise _fail(uri, "expected exact://NAME", scheme)
        return StoreURI(scheme=scheme, raw=uri, collection=name, options=options)

    if scheme == "qdrant-edge":
        if not body.startswith("/") or body.rstrip("/") == "":
            raise _fail(uri, "expected an absolute directory, qdrant-edge:///ABS/DIR", scheme)
        path = body.rstrip("/") or "/"
        return StoreURI(scheme=scheme, raw=uri, path=path, collection=path.rsplit("/", 1)[-1], options=options)

    if scheme == "qdrant-local":
        if body.startswith(":memory:/"):
            coll = body[len(":memory:/") :].strip("/")
            if not coll or "/" in coll:
                raise _fail(uri, "expected qdrant-local://:memory:/COLLECTION", scheme)
            return StoreURI(scheme=scheme, raw=uri, path=":memory:", collection=coll, options=options)
        if not body.startswith("/"):
            raise _fail(
                uri,
                "expected qdrant-local:///ABS/DIR/COLLECTION or qdrant-local://:memory:/COLLECTION",
                scheme,
            )
        directory, _, coll = body.rstrip("/").rpartition("/")
        if not directory or not coll:
            raise _fail(uri, "expected a directory and a collection name", scheme)
        return StoreURI(scheme=scheme, raw=uri, path=directory, collection=coll, options=options)

    if scheme == "qdrant":
        parts = urlsplit(f"http://{body}")
        coll = parts.path.strip("/")
        if parts.username or parts.password:
            raise _fail(uri, "credentials do not belong in a URI; set QDRANT_API_KEY instead", scheme)
        try:
            port = parts.port
        except ValueError:
            raise _fail(uri, "the port must be a number", scheme) from None
        if not parts.hostname or not coll or "/" in coll:
            raise _fail(uri, "expected qdrant://HOST:PORT/COLLECTION", scheme)
        return StoreURI(
            scheme=scheme, raw=uri, host=parts.hostname, port=port or 6333, collection=coll, options=options
        )

    # pinecone://INDEX?host=...&namespace=...
    index = body.strip("/")
    if not index or "/" in index:
        raise _fail(uri, "expected pinecone://INDEX", scheme)
    return StoreURI(scheme=scheme, raw=uri, collection=index, host=options.get("host", ""), options=options)


# -- identity -----------------------------------------------------------------------------------------


def _host_key(host: str, default_port: int | None) -> str:
    """``host[:port]`` normalised: lower case, any loopback spelling the same, the default port explicit."""
    if "://" in host:  # pinecone host= values are URLs
        parts = urlsplit(host)
        scheme = parts.scheme.lower()
        name = (parts.hostname or "").lower()
        port = parts.port or (443 if scheme == "https" else 80 if scheme == "http" else default_port)
        path = parts.path.rstrip("/")
    else:
        name, _, port_text = host.lower().partition(":")
        port = int(port_text) if port_text.isdigit() else default_port
        path = ""
    name = "loopback" if is_loopback(name) or name == "0.0.0.0" else name
    return f"{name}:{port}{path}"


def store_identity(uri: str | StoreURI) -> tuple[str, ...]:
    """What ``uri`` names, so that two spellings of one store compare equal: an Edge directory after
    resolving links, a Qdrant host + port + collection, a Pinecone host + index (+ namespace, ``*`` when
    the URI spans every namespace). ``InvalidURIError`` for a URI that is not ours."""
    parsed = uri if isinstance(uri, StoreURI) else parse_store_uri(uri)
    if parsed.scheme == "qdrant-edge":
        return ("qdrant-edge", os.path.realpath(parsed.path))
    if parsed.scheme == "qdrant-local":
        where = parsed.path if parsed.path == ":memory:" else os.path.realpath(parsed.path)
        return ("qdrant-local", where, parsed.collection)
    if parsed.scheme == "qdrant":
        return ("qdrant", _host_key(f"{parsed.host}:{parsed.port}", 6333), parsed.collection)
    if parsed.scheme == "pinecone":
        host = _host_key(parsed.host, None) if parsed.host else "control-plane"
        return ("pinecone", host, parsed.collection, parsed.options.get("namespace", "*"))
    return (parsed.scheme, parsed.collection)


def same_store(a: str | StoreURI, b: str | StoreURI) -> bool:
    """True when ``a`` and ``b`` resolve to the same store or overlap (a Pinecone URI spanning every
    namespace overlaps one naming a namespace of the same index): migrating or certifying between them
    would read and write one store."""
    ia, ib = store_identity(a), store_identity(b)
    if ia == ib:
        return True
    if ia[0] == ib[0] == "pinecone" and ia[:3] == ib[:3]:
        return "*" in (ia[3], ib[3])
    return False
