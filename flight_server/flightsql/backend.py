"""What the Flight SQL server needs from the rest of the server: the catalog it answers from
and an engine that plans and runs over it.

``flight_server.runtime.Runtime`` is the real one; the protocol keeps the server from
knowing how the catalog is loaded, refreshed or configured.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Protocol

import duckdb

from flight_server.catalog.model import Dataset, LoadedFiles, ServedTable, Snapshot, Table
from flight_server.engine import Execution, Plan, QueryContext


class QueryEngine(Protocol):
    """Plans and runs read-only SQL over the published snapshot (``engine.Engine``)."""

    def plan(
        self,
        sql: str,
        context: QueryContext,
        parameters: Sequence[object] | None = None,
        on_cursor: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> Plan: ...

    def table_plan(self, catalog: str, schema: str, table: str) -> Plan: ...

    def start(
        self,
        sql: str,
        context: QueryContext,
        parameter_rows: Sequence[Sequence[object]] | None = None,
    ) -> Execution: ...

    def start_scan(
        self,
        target: Sequence[str],
        dataset: Dataset,
        table: Table,
        files: Collection[str],
        may_read: Callable[[str, str, str | None], bool] | None = None,
    ) -> Execution: ...

    def table_rows(self, key: tuple[str, str, str]) -> int: ...

    def loaded(self, served: ServedTable) -> LoadedFiles: ...

    def part_table(self, sql: str, context: QueryContext) -> tuple[str, str, str] | None: ...

    def part_files(
        self, sql: str, context: QueryContext, target: Sequence[str], table: Table
    ) -> tuple[str, ...]: ...

    def start_part(
        self,
        sql: str,
        context: QueryContext,
        target: Sequence[str],
        dataset: Dataset,
        table: Table,
        files: Collection[str],
    ) -> Execution: ...


class Backend(Protocol):
    """The served catalog now, the engine showing it, and the calls' default names."""

    @property
    def snapshot(self) -> Snapshot: ...

    @property
    def engine(self) -> QueryEngine: ...

    def default_context(self) -> QueryContext: ...
