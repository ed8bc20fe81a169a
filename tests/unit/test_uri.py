from pathlib import Path

import pytest

from harness.errors import InvalidURIError
from harness.stores import open_store, parse_store_uri, same_store, store_identity


def test_unknown_scheme_names_accepted_schemes() -> None:
    with pytest.raises(InvalidURIError) as info:
        open_store("nonsense://x")
    message = str(info.value)
    for scheme in ("qdrant-edge://", "qdrant://", "qdrant-local://", "pinecone://", "exact://"):
        assert scheme in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("uri", "field", "value"),
    [
        ("qdrant-edge:///tmp/shard?distance=cosine&m=16&ef_construct=100", "path", "/tmp/shard"),
        (
            "qdrant-edge:///tmp/shard?distance=cosine&m=16&ef_construct=100",
            "options",
            {"distance": "cosine", "m": "16", "ef_construct": "100"},
        ),
        ("qdrant://localhost:6334/docs?grpc=1", "port", 6334),
        ("qdrant://localhost/docs", "port", 6333),
        ("qdrant://localhost:6333/docs", "collection", "docs"),
        ("qdrant-local://:memory:/docs", "path", ":memory:"),
        ("qdrant-local:///var/data/docs", "path", "/var/data"),
        ("qdrant-local:///var/data/docs", "collection", "docs"),
        ("pinecone://idx?host=http://127.0.0.1:5081&namespace=ns", "host", "http://127.0.0.1:5081"),
        ("pinecone://idx?host=http://127.0.0.1:5081&namespace=ns", "collection", "idx"),
        ("exact://oracle", "collection", "oracle"),
    ],
)
def test_parse_valid_uris(uri: str, field: str, value: object) -> None:
    assert getattr(parse_store_uri(uri), field) == value


@pytest.mark.parametrize(
    "uri",
    [
        "qdrant-edge://relative/dir",
        "qdrant://localhost:6333",
        "qdrant://localhost:port/c",
        "qdrant-local://:memory:",
        "pinecone://",
        "exact://",
        "no-scheme",
        "pinecone://idx?api_key=pcsk_secret123456",
        "qdrant://user:pw@localhost:6333/c",
    ],
)
def test_bad_uris_raise_one_line(uri: str) -> None:
    with pytest.raises(InvalidURIError) as info:
        parse_store_uri(uri)
    assert "\n" not in str(info.value)
    assert "pcsk_secret123456" not in str(info.value)
    assert ":pw@" not in str(info.value)


# -- store identity: the same store spelled two ways ----------------------------------------------------


def test_same_edge_directory_through_a_symlink_and_a_trailing_slash(tmp_path: Path) -> None:
    real = tmp_path / "shard"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert same_store(f"qdrant-edge://{real}", f"qdrant-edge://{link}/?hnsw_ef=64")
    assert not same_store(f"qdrant-edge://{real}", f"qdrant-edge://{tmp_path / 'other'}")


def test_same_qdrant_server_under_loopback_aliases_and_default_port() -> None:
    assert same_store("qdrant://localhost/docs", "qdrant://127.0.0.1:6333/docs")
    assert not same_store("qdrant://localhost/docs", "qdrant://localhost/docs2")
    assert not same_store("qdrant://localhost:6333/docs", "qdrant://localhost:6334/docs")


def test_pinecone_index_namespaces_overlap_only_with_the_whole_index() -> None:
    host = "host=http://127.0.0.1:5081"
    assert same_store(f"pinecone://idx?{host}", "pinecone://idx?host=http://localhost:5081/")
    assert same_store(f"pinecone://idx?{host}", f"pinecone://idx?{host}&namespace=a")
    assert not same_store(f"pinecone://idx?{host}&namespace=a", f"pinecone://idx?{host}&namespace=b")
    assert not same_store(f"pinecone://idx?{host}", f"pinecone://idx2?{host}")
    assert store_identity(f"pinecone://idx?{host}")[3] == "*"


def test_different_schemes_are_different_stores(tmp_path: Path) -> None:
    assert not same_store(f"qdrant-edge://{tmp_path}", f"qdrant-local://{tmp_path}/c")
    assert same_store("exact://a", "exact://a") and not same_store("exact://a", "exact://b")


# -- credentials anywhere in a URI are refused before any connection -------------------------------------


@pytest.mark.parametrize(
    ("uri", "secret"),
    [
        ("pinecone://idx?host=http://user:secret@127.0.0.1:5081", "secret"),
        ("pinecone://idx?host=user:secret@127.0.0.1:5081", "secret"),
        ("pinecone://idx?host=http%3A%2F%2Fuser%3Asecret%40127.0.0.1%3A5081", "secret"),
        ("pinecone://idx?host=http://127.0.0.1:5081/?next=http://u:secret@h", "secret"),
        ("pinecone://idx?host=http://127.0.0.1:5081/?api_key=secret123", "secret123"),
        ("pinecone://user:pw0rd@idx", "pw0rd"),
        ("pinecone://token@idx", "token"),
        ("qdrant://user:secret@localhost:6333/c", "secret"),
        ("exact://user:secret@name", "secret"),
        ("pinecone://idx?Api-Key=secret123", "secret123"),
        ("qdrant-edge:///tmp/shard?token=secret123", "secret123"),
    ],
)
def test_credentials_in_a_uri_are_refused_and_not_echoed(uri: str, secret: str) -> None:
    with pytest.raises(InvalidURIError, match="credentials do not belong in a URI") as info:
        parse_store_uri(uri)
    assert secret not in str(info.value) and "\n" not in str(info.value)


def test_at_signs_outside_the_authority_are_not_credentials(tmp_path: Path) -> None:
    assert parse_store_uri("pinecone://idx?namespace=tenant@example.com").options["namespace"] == "tenant@example.com"
    assert parse_store_uri(f"qdrant-edge://{tmp_path}/shard@v2").path == f"{tmp_path}/shard@v2"
