"""Keep credentials out of logs, reports and verdicts."""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_SECRET_PARAM = re.compile(r"(key|token|secret|password|passwd|auth|credential)", re.IGNORECASE)
# Things that look like keys wherever they appear: Pinecone keys (pcsk_...), bearer tokens, key=value pairs.
_KEY_LIKE = re.compile(
    r"(pcsk_[A-Za-z0-9_\-]{8,}|(?i:bearer)\s+[A-Za-z0-9._\-]{8,}"
    r"|(?i:api[_-]?key|apikey|token|secret|password)[\"']?\s*[:=]\s*[\"']?[^\s\"'&,}]+)"
)
# The userinfo of any URL in free text (``http://user:secret@host``), nested in a query value or not.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^\s/?#@\"'<>]*)@")
# Environment variables whose values are credentials wherever they turn up.
SECRET_ENV_VARS = ("PINECONE_API_KEY", "QDRANT_API_KEY", "RAGMIG_WEBHOOK_TOKEN", "RAGMIG_PINECONE_SERVER_KEY")
REDACTED = "***"


def redact_uri(uri: str) -> str:
    """``uri`` with any userinfo password and secret-looking query values replaced by ``***``, in the URI
    itself and in URLs nested in its query values (``pinecone://idx?host=http://user:secret@h``).

    A URI with nothing to redact comes back unchanged, byte for byte (``qdrant-edge:///dir`` stays
    parseable: rebuilding it with ``urlunsplit`` would drop the empty authority).
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        return redact_text(uri)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{REDACTED}@{host}" if ":" in userinfo else f"{REDACTED}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        redacted = [(k, REDACTED if _SECRET_PARAM.search(k) else _redact_value(k, v)) for k, v in pairs]
        if redacted != pairs:
            query = urlencode(redacted, safe="/:*@")
    if netloc == parts.netloc and query == parts.query:
        return redact_text(uri)
    head, sep, _ = uri.partition("://")
    rebuilt = urlunsplit(("", netloc, parts.path, query, parts.fragment))
    return redact_text(f"{head}{sep}{rebuilt.removeprefix('//')}" if sep else rebuilt)


def _redact_value(key: str, value: str) -> str:
    """A query value, redacted as a URL when it holds one (its own userinfo and secret parameters); a
    ``host`` given without a scheme (``user:secret@h``) loses its userinfo too."""
    if "://" in value:
        return redact_uri(value)
    if key.lower() == "host" and "@" in value:
        userinfo, host = value.rsplit("@", 1)
        return f"{userinfo.split(':', 1)[0]}:{REDACTED}@{host}" if ":" in userinfo else f"{REDACTED}@{host}"
    return value


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with the given secrets, the secret environment variables' values, the userinfo of any
    URL and anything key-shaped replaced by ``***``."""
    env_secrets = tuple(os.environ.get(name, "") for name in SECRET_ENV_VARS)
    for secret in (*secrets, *env_secrets):
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _USERINFO.sub(_redact_userinfo, text)
    return _KEY_LIKE.sub(_redact_match, text)


def _redact_userinfo(match: re.Match[str]) -> str:
    user, colon, _ = match.group("userinfo").partition(":")
    if user == REDACTED or (colon and match.group("userinfo").endswith(REDACTED)):
        return match.group(0)  # already redacted
    return f"{match.group('scheme')}{user}:{REDACTED}@" if colon else f"{match.group('scheme')}{REDACTED}@"


def _redact_match(match: re.Match[str]) -> str:
    found = match.group(0)
    for sep in ("=", ":"):
        if sep in found and not found.lower().startswith(("pcsk_", "bearer")):
            return found.split(sep, 1)[0] + sep + REDACTED
    return REDACTED
