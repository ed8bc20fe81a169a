import pytest

from harness.redact import redact_text, redact_uri
from harness.stores import parse_store_uri


@pytest.mark.parametrize(
    "uri",
    [
        "qdrant-edge:///tmp/shard?distance=cosine&m=16",
        "qdrant-local://:memory:/docs",
        "qdrant-local:///var/data/docs",
        "pinecone://idx?host=http://127.0.0.1:5081&namespace=ns",
        "exact://oracle",
        "qdrant://localhost:6333/docs",
    ],
)
def test_uris_without_secrets_come_back_unchanged_and_parseable(uri: str) -> None:
    assert redact_uri(uri) == uri
    parse_store_uri(redact_uri(uri))


def test_secrets_in_uris_are_replaced() -> None:
    assert redact_uri("https://user:hunter2@example.com/x") == "https://user:***@example.com/x"
    out = redact_uri("pinecone://idx?host=http://h:1&api_key=pcsk_abcdefgh123")
    assert "pcsk_abcdefgh123" not in out and "api_key=***" in out and out.startswith("pinecone://idx?")


def test_secret_env_values_and_key_shapes_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QDRANT_API_KEY", "qk-1234567890")
    text = redact_text(
        "auth failed for qk-1234567890; Api-Key: pcsk_XXXXXXXXXXXX token=abc; id 550e8400-e29b-41d4-a716-446655440000"
    )
    assert "qk-1234567890" not in text and "pcsk_" not in text and "token=***" in text
    assert "550e8400-e29b-41d4-a716-446655440000" in text  # point ids are not secrets
