"""``redact`` and ``display_url``: no credential survives into a message, seen or not."""

from __future__ import annotations

import uuid

from flight_server.storage import Location
from flight_server.storage.secrets import MASK, display_url, redact, remember


def secret() -> str:
    """A value no other test has made redaction remember."""
    return f"S3cr3t-{uuid.uuid4().hex}"


def test_credential_named_pairs_are_masked_without_being_seen() -> None:
    value = secret()
    for name in ("secret_access_key", "SAS_TOKEN", "AccountKey", "account_key", "sig", "password"):
        text = redact(f"failed: {name}={value}&region=eu-west-1")
        assert value not in text, name
        assert f"{name}={MASK}&region=eu-west-1" in text, name


def test_connection_string_parts_are_masked() -> None:
    value = secret()
    text = redact(f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={value};Suffix=x")
    assert value not in text
    assert "AccountName=a;" in text and "Suffix=x" in text


def test_values_a_location_carried_are_masked_anywhere() -> None:
    value = secret()
    assert redact(f"boom {value}") == f"boom {value}"
    Location("s3", "bkt", options={"secret_access_key": value, "region": "eu-west-1a"})
    assert redact(f"boom {value}!") == f"boom {MASK}!"
    assert redact("region eu-west-1a") == "region eu-west-1a", "not a secret option"


def test_short_values_are_not_remembered() -> None:
    remember({"password": "abc"})
    assert redact("abc def") == "abc def"


def test_longest_known_secret_is_masked_first() -> None:
    short = secret()
    long = short + "-and-more"
    remember({"access_key": short, "client_secret": long})
    assert redact(f"x {long} y") == f"x {MASK} y"


def test_url_user_info_is_masked() -> None:
    assert redact("GET https://ann:pw@host/x failed") == f"GET https://{MASK}@host/x failed"


def test_display_url_drops_query_and_user_info() -> None:
    assert display_url("s3://bkt/p?access_key_id=AK&secret_access_key=x") == "s3://bkt/p"
    assert display_url("https://ann:pw@host/path") == "https://host/path"
    assert display_url("/plain/path") == "/plain/path"
