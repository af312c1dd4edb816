"""``BearerTokens``: the server's own bearer tokens name their user until they expire."""

from __future__ import annotations

import pytest

from flight_server import signing
from flight_server.auth.tokens import BearerTokens
from flight_server.signing import SignedTokens
from tests.unit.clock import Clock

SECRET = b"k" * 32


def test_round_trip() -> None:
    tokens = BearerTokens(SECRET, ttl_seconds=3600)
    token = tokens.issue("ann@example.org")
    assert isinstance(token, str)
    assert tokens.is_ours(token)
    assert tokens.user_of(token) == "ann@example.org"
    # Any replica sharing the secret accepts it.
    assert BearerTokens(SECRET, ttl_seconds=1).user_of(token) == "ann@example.org"


def test_expired_token_names_no_user(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr(signing, "time", clock)
    tokens = BearerTokens(SECRET, ttl_seconds=600)
    token = tokens.issue("ann")
    clock.advance(599)
    assert tokens.user_of(token) == "ann"
    clock.advance(2)
    assert tokens.user_of(token) is None


@pytest.mark.parametrize(
    "token",
    ["", "fwb1.", "not-ours", "fwb1.garbage.garbage", "fwb1.é.é", "Bearer fwb1.x.y"],
)
def test_anything_else_names_no_user(token: str) -> None:
    assert BearerTokens(SECRET, 60).user_of(token) is None


def test_tampered_or_foreign_tokens_name_no_user() -> None:
    tokens = BearerTokens(SECRET, 60)
    token = tokens.issue("ann")
    assert tokens.user_of(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None
    assert BearerTokens(b"other" * 8, 60).user_of(token) is None
    # A token of another kind, signed with the same secret and prefix, is not a bearer token.
    ticket = SignedTokens(SECRET, magic=b"fwb1.", domain=b"ticket").seal({"u": "ann"}, 60)
    assert tokens.is_ours(ticket.decode())
    assert tokens.user_of(ticket.decode()) is None
