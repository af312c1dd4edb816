"""SetSessionOptions / GetSessionOptions / CloseSession for the default catalog and schema."""

from __future__ import annotations

from flight_server.catalog.model import Snapshot
from flight_server.engine import QueryContext
from flight_server.flightsql import commands
from flight_server.flightsql import flight_session_pb2 as spb
from flight_server.flightsql.sessions import SessionStore

CATALOG = "catalog"
SCHEMA = "schema"
_ERRORS = spb.SetSessionOptionsResult


def set_options(
    store: SessionStore,
    session_id: str,
    snapshot: Snapshot,
    body: bytes,
    default_catalog: str | None,
) -> bytes:
    """Apply the valid options; report unknown names and bad values per option.

    ``snapshot`` holds what the caller may see, so a hidden catalog or schema is as
    unknown as a missing one; a schema set alone is checked in ``default_catalog``.
    """
    request = commands.decode(spb.SetSessionOptionsRequest, body)
    options = store.options(session_id) or {}
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
    if not _exists(snapshot, options.get(CATALOG, default_catalog), options.get(SCHEMA)):
        for name in (CATALOG, SCHEMA):
            if name in request.session_options and name not in result.errors:
                result.errors[name].value = _ERRORS.INVALID_VALUE
        options = store.options(session_id) or {}
    store.update(session_id, options)
    return result.SerializeToString()


def get_options(store: SessionStore, session_id: str) -> bytes:
    """The session's options (empty without a session)."""
    result = spb.GetSessionOptionsResult()
    for name, value in (store.options(session_id) or {}).items():
        result.session_options[name].string_value = value
    return result.SerializeToString()


def close_session(store: SessionStore, session_id: str) -> bytes:
    """Forget the session's options."""
    closed = store.close(session_id)
    status = spb.CloseSessionResult.CLOSED if closed else spb.CloseSessionResult.NOT_CLOSEABLE
    return spb.CloseSessionResult(status=status).SerializeToString()


def query_context(store: SessionStore, session_id: str, default: QueryContext) -> QueryContext:
    """The server's defaults, overridden by the caller's session options."""
    options = store.options(session_id)
    if not options:
        return default
    if CATALOG in options:
        return QueryContext(options[CATALOG], options.get(SCHEMA))
    return QueryContext(default.default_catalog, options.get(SCHEMA, default.default_schema))


def _exists(snapshot: Snapshot, catalog: str | None, schema: str | None) -> bool:
    """Whether the catalog (and the schema, if given) are served.

    Without any catalog a schema names nothing: queries then run without defaults.
    """
    if catalog is None:
        return True
    names = {served.name for served in snapshot.schemas() if served.catalog == catalog}
    return bool(names) and (schema is None or schema in names)
