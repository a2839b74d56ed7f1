"""The one place that decides what is a credential (`specc.credentials`), on the data in
tests/cases/credentials: names masked by name, values masked by shape, URIs refused with a reason that
never repeats the secret, and messages redacted."""

from __future__ import annotations

import pytest
import yaml

from specc.credentials import REDACTED, redact, sensitive_name, sensitive_value, uri_credential

from ..conftest import CASES

NAMES = yaml.safe_load((CASES / "credentials" / "names.yaml").read_text(encoding="utf-8"))
VALUES = yaml.safe_load((CASES / "credentials" / "values.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", NAMES["sensitive"])
def test_secret_names_are_sensitive(name: str) -> None:
    assert sensitive_name(name)


@pytest.mark.parametrize("name", NAMES["plain"])
def test_ordinary_names_are_not(name: str) -> None:
    assert not sensitive_name(name)


@pytest.mark.parametrize("value", VALUES["sensitive"])
def test_credential_shaped_values_are_sensitive(value: str) -> None:
    assert sensitive_value(value)


@pytest.mark.parametrize("value", VALUES["plain"])
def test_ordinary_values_are_not(value: str) -> None:
    assert not sensitive_value(value)


@pytest.mark.parametrize(("uri", "secret", "reason"), [
    ("hf://user:SECRETVALUE@owner/model", "SECRETVALUE", "userinfo"),
    ("pvc://user:SECRETVALUE@claim/path", "SECRETVALUE", "userinfo"),
    ("https://TOKENVALUE123@models.example.com/m", "TOKENVALUE123", "userinfo"),
    ("https://b.s3.amazonaws.com/m?X-Amz-Credential=AK&X-Amz-Signature=SIGVALUE99", "SIGVALUE99", "X-Amz-"),
    ("https://acct.blob.core.windows.net/c/m?sv=1&sig=SIGVALUE99", "SIGVALUE99", "'sig'"),
    ("https://example.com/m#access_token=TOKENVALUE123", "TOKENVALUE123", "'access_token'"),
    ("https://example.com/m?token=TOKENVALUE123", "TOKENVALUE123", "'token'"),
    ("https://acct.blob.core.windows.net/c;AccountKey=KEYVALUE99", "KEYVALUE99", "AccountKey"),
])
def test_credentials_in_uris_are_found_and_never_repeated(uri: str, secret: str, reason: str) -> None:
    found = uri_credential(uri)
    assert found is not None and reason in found
    assert secret not in found
    assert secret not in redact(f"'{uri}' is refused") and REDACTED in redact(uri)


@pytest.mark.parametrize("uri", ["s3://models/fraud/3", "hf://google-bert/bert-base-uncased:main",
                                 "https://models.example.com/m.bin?version=3", "pvc://claim/path", "oci://r/x:1"])
def test_ordinary_uris_carry_no_credential(uri: str) -> None:
    assert uri_credential(uri) is None
    assert redact(uri) == uri


def test_redact_masks_known_secrets_and_tokens_but_keeps_the_message() -> None:
    text = redact("login failed for Bearer abcdefghijkl, token: xyz987 and s3cr3tvalue",
                  secrets=("s3cr3tvalue",))
    assert "abcdefghijkl" not in text and "xyz987" not in text and "s3cr3tvalue" not in text
    assert text.startswith("login failed for Bearer <redacted>")
