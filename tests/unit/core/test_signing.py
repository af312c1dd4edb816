"""``SignedTokens``: round trip, tampering, expiry, and one domain never opening another's."""

from __future__ import annotations

import base64
import json

import pytest

from flight_server import signing
from flight_server.signing import SignatureError, SignedTokens
from tests.unit.clock import Clock

SECRET = b"s" * 32


def tokens(
    domain: bytes = b"ticket", magic: bytes = b"fwt1.", secret: bytes = SECRET
) -> SignedTokens:
    return SignedTokens(secret, magic=magic, domain=domain)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(signing, "time", clock)
    return clock


def test_round_trip() -> None:
    payload = {"q": "SELECT 1", "p": [1, "two", None], "n": {"nested": True}}
    token = tokens().seal(payload, ttl_seconds=60)
    assert token.startswith(b"fwt1.")
    assert tokens().is_ours(token)
    assert tokens().open(token) == payload


def test_payload_is_not_secret_but_is_sealed() -> None:
    token = tokens().seal({"u": "ann"}, 60)
    body = token[len(b"fwt1.") :].split(b".")[0]
    raw = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
    assert raw["u"] == "ann"
    forged = json.dumps({**raw, "u": "root"}, separators=(",", ":")).encode()
    encoded = base64.urlsafe_b64encode(forged).rstrip(b"=")
    with pytest.raises(SignatureError, match="signature"):
        tokens().open(token.replace(body, encoded))


@pytest.mark.parametrize("position", [6, 20, -3])
def test_any_flipped_character_is_refused(position: int) -> None:
    token = bytearray(tokens().seal({"u": "ann"}, 60))
    token[position] = ord("A") if token[position] != ord("A") else ord("B")
    with pytest.raises(SignatureError):
        tokens().open(bytes(token))


@pytest.mark.parametrize("token", [b"fwt1.", b"fwt1.!!!.???", b"fwt1.abc", b"fwt1..", b"fwt1.e30."])
def test_malformed_tokens_are_refused(token: bytes) -> None:
    with pytest.raises(SignatureError):
        tokens().open(token)


def test_expiry(clock: Clock) -> None:
    token = tokens().seal({"u": "ann"}, ttl_seconds=60)
    clock.advance(59)
    assert tokens().open(token) == {"u": "ann"}
    clock.advance(2)
    with pytest.raises(SignatureError, match="expired"):
        tokens().open(token)


def test_a_negative_ttl_is_already_expired() -> None:
    with pytest.raises(SignatureError, match="expired"):
        tokens().open(tokens().seal({}, ttl_seconds=-5))


def test_another_domain_never_opens_a_token() -> None:
    token = tokens(domain=b"ticket").seal({"u": "ann"}, 60)
    with pytest.raises(SignatureError, match="signature"):
        tokens(domain=b"handle").open(token)


def test_another_prefix_is_not_ours() -> None:
    token = tokens(magic=b"fwt1.").seal({"u": "ann"}, 60)
    other = tokens(magic=b"fwh1.")
    assert not other.is_ours(token)
    with pytest.raises(SignatureError, match="not issued"):
        other.open(token)


def test_another_secret_never_opens_a_token() -> None:
    token = tokens(secret=b"a" * 32).seal({"u": "ann"}, 60)
    with pytest.raises(SignatureError, match="signature"):
        tokens(secret=b"b" * 32).open(token)


# One instance below: what it opened or sealed before must not weaken what it accepts.


def test_a_remembered_token_still_expires(clock: Clock) -> None:
    signer = tokens()
    token = signer.seal({"u": "ann"}, ttl_seconds=60)
    assert signer.open(token) == {"u": "ann"}
    clock.advance(61)
    with pytest.raises(SignatureError, match="expired"):
        signer.open(token)


@pytest.mark.parametrize("position", [6, 20, -3])
def test_a_token_altered_after_its_original_was_opened_is_refused(position: int) -> None:
    signer = tokens()
    token = signer.seal({"u": "ann"}, 60)
    assert signer.open(token) == {"u": "ann"}
    altered = bytearray(token)
    altered[position] = ord("A") if altered[position] != ord("A") else ord("B")
    with pytest.raises(SignatureError):
        signer.open(bytes(altered))
    assert signer.open(token) == {"u": "ann"}


def test_a_forged_payload_is_refused_by_an_instance_that_sealed_the_original() -> None:
    signer = tokens()
    token = signer.seal({"u": "ann"}, 60)
    body = token[len(b"fwt1.") :].split(b".")[0]
    raw = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
    forged = json.dumps({**raw, "u": "root"}, separators=(",", ":")).encode()
    with pytest.raises(SignatureError, match="signature"):
        signer.open(token.replace(body, base64.urlsafe_b64encode(forged).rstrip(b"=")))


def test_each_open_returns_its_own_payload() -> None:
    signer = tokens()
    token = signer.seal({"u": "ann", "p": [1, 2]}, 60)
    first = signer.open(token)
    first["u"] = "root"
    first["p"].append(3)
    assert signer.open(token) == {"u": "ann", "p": [1, 2]}


def test_a_token_verified_once_opens_again_and_others_still_verify() -> None:
    sealer, opener = tokens(), tokens()  # the opener never sealed: it verified the first time
    token = sealer.seal({"u": "ann"}, 60)
    assert opener.open(token) == opener.open(token) == {"u": "ann"}
    with pytest.raises(SignatureError, match="signature"):
        tokens(domain=b"handle").open(token)


def test_a_long_token_is_verified_every_time() -> None:
    signer = tokens()
    token = signer.seal({"q": "x" * 10_000}, 60)
    assert signer.open(token) == signer.open(token) == {"q": "x" * 10_000}
