import pytest

from harness.errors import InvalidURIError
from harness.stores import open_store, parse_store_uri


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
