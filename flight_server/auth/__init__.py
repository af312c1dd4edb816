"""Authentication (basic → bearer, static tokens, Flywheel API keys) and per-caller visibility."""

from flight_server.auth.authenticator import Authenticator, Credentials
from flight_server.auth.exposure import ExposureError, check_exposure, is_loopback
from flight_server.auth.flywheel import FlywheelKeys
from flight_server.auth.identity import Caller, Grant
from flight_server.auth.middleware import (
    AUTH_MIDDLEWARE,
    AuthMiddleware,
    AuthMiddlewareFactory,
    HandshakeAccepter,
    admitted_caller,
    caller_of,
)
from flight_server.auth.passwords import hash_password, verify_password
from flight_server.auth.throttle import LoginThrottle
from flight_server.auth.tokens import BearerTokens

__all__ = [
    "AUTH_MIDDLEWARE",
    "AuthMiddleware",
    "AuthMiddlewareFactory",
    "Authenticator",
    "BearerTokens",
    "Caller",
    "Credentials",
    "ExposureError",
    "FlywheelKeys",
    "Grant",
    "HandshakeAccepter",
    "LoginThrottle",
    "admitted_caller",
    "caller_of",
    "check_exposure",
    "hash_password",
    "is_loopback",
    "verify_password",
]
