"""Engine: DuckDB plans and runs SQL over the published datasets; knows nothing of Flight."""

from flight_server.engine.duckdb_engine import Engine, Plan, QueryContext
from flight_server.engine.errors import ErrorKind, QueryError
from flight_server.engine.execution import Execution

__all__ = ["Engine", "ErrorKind", "Execution", "Plan", "QueryContext", "QueryError"]
