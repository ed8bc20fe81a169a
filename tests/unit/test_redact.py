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


def test_userinfo_in_nested_urls_is_redacted() -> None:
    nested = redact_uri("pinecone://idx?host=http://user:secret@127.0.0.1:5081&namespace=ns")
    assert "secret" not in nested and "http://user:***@127.0.0.1:5081" in nested and "namespace=ns" in nested
    encoded = redact_uri("pinecone://idx?host=http%3A%2F%2Fuser%3Asecret%40127.0.0.1%3A5081")
    assert "secret" not in encoded
    deeper = redact_uri("pinecone://idx?host=http://h:1/?next=https://tok@example.com/x")
    assert "tok@" not in deeper and "***@example.com" in deeper
    assert redact_uri("pinecone://user:pass@idx") == "pinecone://user:***@idx"


def test_userinfo_of_any_url_in_free_text_is_redacted() -> None:
    text = redact_text("POST http://alice:hunter22@hooks.example.com/x failed; see https://token123@h.example/")
    assert "hunter22" not in text and "token123" not in text
    assert "http://alice:***@hooks.example.com/x" in text and "https://***@h.example/" in text
    assert redact_text(text) == text  # redacting twice changes nothing


def test_the_server_key_from_the_environment_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGMIG_PINECONE_SERVER_KEY", "srv-key-4242")
    assert "srv-key-4242" not in redact_text("401 for Api-Key srv-key-4242")
