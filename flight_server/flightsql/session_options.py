"""SetSessionOptions / GetSessionOptions / CloseSession for the default catalog and schema."""

from __future__ import annotations

from flight_server.catalog.model import Snapshot, served_schemas
from flight_server.engine import QueryContext
from flight_server.flightsql import commands
from flight_server.flightsql import flight_session_pb2 as spb
from flight_server.flightsql.sessions import SessionMiddleware, SessionStore

CATALOG = "catalog"
SCHEMA = "schema"
_ERRORS = spb.SetSessionOptionsResult


def set_options(
    store: SessionStore, session: SessionMiddleware, snapshot: Snapshot, body: bytes
) -> bytes:
    """Apply the valid options; report unknown names and bad values per option."""
    request = commands.decode(spb.SetSessionOptionsRequest, body)
    options = store.options(session.session_id) or {}
    result = spb.SetSessionOptionsResult()
    for name, value in request.session_options.items():
        kind = value.WhichOneof("option_value")
        if name not in (CATALOG, SCHEMA):
            result.errors[name].value = _ERRORS.INVALID_NAME
        elif kind is None:
            options.pop(name, None)
        elif kind != "string_value":
            result.errors[name].value = _ERRORS.INVALID_VALUE
        else:
            options[name] = value.string_value
    if not _exists(snapshot, options):
        for name in (CATALOG, SCHEMA):
            if name in request.session_options and name not in result.errors:
                result.errors[name].value = _ERRORS.INVALID_VALUE
        options = store.options(session.session_id) or {}
    store.update(session.session_id, options)
    return result.SerializeToString()


def get_options(store: SessionStore, session: SessionMiddleware) -> bytes:
    """The session's options (empty without a session)."""
    result = spb.GetSessionOptionsResult()
    for name, value in (store.options(session.session_id) or {}).items():
        result.session_options[name].string_value = value
    return result.SerializeToString()


def close_session(store: SessionStore, session: SessionMiddleware) -> bytes:
    """Forget the session's options."""
    closed = store.close(session.session_id)
    status = spb.CloseSessionResult.CLOSED if closed else spb.CloseSessionResult.NOT_CLOSEABLE
    return spb.CloseSessionResult(status=status).SerializeToString()


def query_context(
    store: SessionStore, session: SessionMiddleware, default: QueryContext
) -> QueryContext:
    """The server's defaults, overridden by the caller's session options."""
    options = store.options(session.session_id)
    if not options:
        return default
    if CATALOG in options:
        return QueryContext(options[CATALOG], options.get(SCHEMA))
    return QueryContext(default.default_catalog, options.get(SCHEMA, default.default_schema))


def _exists(snapshot: Snapshot, options: dict[str, str]) -> bool:
    """Whether the catalog (and schema, when both are set) are served."""
    catalog, schema = options.get(CATALOG), options.get(SCHEMA)
    if catalog is None:
        return True
    datasets = [d for d in snapshot.datasets if d.catalog == catalog]
    if not datasets:
        return False
    return schema is None or any(
        name == schema for dataset in datasets for name, _ in served_schemas(dataset)
    )
