"""Building the authenticator from settings: one place decides who may call and as whom."""

from __future__ import annotations

import secrets

from flight_server.auth.authenticator import Authenticator, Credentials
from flight_server.auth.flywheel import FlywheelKeys
from flight_server.auth.identity import Caller, Grant
from flight_server.auth.throttle import LoginThrottle
from flight_server.auth.tokens import BearerTokens
from flight_server.config import Settings
from flight_server.flywheel.api_key import ApiKeyError, parse_api_key

#: The user name anonymous callers run as (tickets and sessions are bound to it).
ANONYMOUS_USER = "anonymous"


def signing_secret(settings: Settings) -> bytes:
    """The configured secret, or one made for this process (fine for a single server only)."""
    secret = settings.auth.token_secret
    return secret.get_secret_value().encode() if secret else secrets.token_bytes(32)


def flywheel_site(settings: Settings) -> str | None:
    """The site whose API keys are accepted: configured, or the discovery key's own site."""
    if settings.auth.flywheel_site:
        return settings.auth.flywheel_site.rstrip("/")
    if settings.flywheel.api_key is None:
        return None
    try:
        return parse_api_key(settings.flywheel.api_key.get_secret_value()).base_url
    except ApiKeyError:
        return None  # discovery reports the bad key itself


def anonymous_enabled(settings: Settings) -> bool:
    """Whether callers without credentials are let in (by default: when nothing else is)."""
    auth = settings.auth
    if auth.anonymous is not None:
        return auth.anonymous
    return not (auth.users or auth.tokens or flywheel_site(settings))


def build_authenticator(settings: Settings, secret: bytes) -> Authenticator:
    """Users, static tokens, Flywheel keys, anonymous access and login throttling, as
    configured."""
    auth = settings.auth
    site = flywheel_site(settings)
    return Authenticator(
        BearerTokens(secret, auth.token_ttl_seconds),
        users={
            name: Credentials(user.password_hash.get_secret_value(), Grant.parse(user.datasets))
            for name, user in auth.users.items()
        },
        static_tokens={
            token.token.get_secret_value(): Caller(token.user, Grant.parse(token.datasets))
            for token in auth.tokens
        },
        flywheel=FlywheelKeys(site, ttl_seconds=auth.flywheel_cache_seconds) if site else None,
        anonymous=(
            Caller(ANONYMOUS_USER, Grant.parse(auth.anonymous_datasets))
            if anonymous_enabled(settings)
            else None
        ),
        throttle=LoginThrottle.from_settings(auth),
        address_header=auth.login_address_header,
    )
