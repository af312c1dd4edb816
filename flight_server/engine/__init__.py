"""Engine: DuckDB plans and runs SQL over the published datasets; knows nothing of Flight."""

from flight_server.engine.duckdb_engine import Engine, QueryContext
from flight_server.engine.errors import ErrorKind, QueryError

__all__ = ["Engine", "ErrorKind", "QueryContext", "QueryError"]
