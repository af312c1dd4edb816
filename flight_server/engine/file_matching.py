"""Which files of a table may hold rows of a query's result, from what the catalog knows.

A query's top-level AND terms must all hold for a row of its result, so a file for which
one of them holds for no row can be left out: by its hive partition values (in its path),
or by its min and max of the columns the catalog keeps bounds of (``catalog.bounds``).
Everything here answers "maybe" when unsure; the engine then reads the file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import duckdb

from flight_server.catalog.bounds import bounded_column
from flight_server.catalog.model import Table
from flight_server.engine import partitioning
from flight_server.engine.sql_text import quote_ident, quote_literal
from flight_server.identifiers import fold

#: A table's columns by folded name: each one's name as written and its DuckDB type.
ColumnTypes = Mapping[str, tuple[str, str]]
#: The row number column of the partition values a WHERE clause is evaluated against.
_ROW_COLUMN = "fw partition row"
_BoundsTest = Callable[[object, object], bool]


def by_partition(
    cursor: duckdb.DuckDBPyConnection,
    tree: partitioning.Tree,
    table: Table,
    columns: ColumnTypes,
) -> tuple[str, ...]:
    """The files of a hive-partitioned table whose partition values the query's terms on
    partition columns alone do not rule out (each term evaluated once per partition, by
    DuckDB, over the values cast to the columns' types)."""
    every = table.loaded.files
    by_file = {path: partitioning.hive_values(path) for path in every}
    hive = sorted({name for values in by_file.values() for name in values} & set(columns))
    conditions = partitioning.hive_conditions(tree, frozenset(hive))
    found = [by_file[path].get(name) for path in every for name in hive]
    if not conditions or any("%" in value for value in found if value):
        return every  # DuckDB decodes escaped values: compare none by hand
    combos = sorted({tuple(by_file[path].get(name) for name in hive) for path in every})
    rows = ", ".join(
        "(" + ", ".join([str(index), *map(_typed, combo, (columns[n][1] for n in hive))]) + ")"
        for index, combo in enumerate(combos)
    )
    names = ", ".join(quote_ident(n) for n in [_ROW_COLUMN, *(columns[n][0] for n in hive)])
    values = partitioning.parse(
        cursor, f"SELECT {quote_ident(_ROW_COLUMN)} FROM (VALUES {rows}) AS t({names})"
    )
    if values is None:
        return every
    query = partitioning.conditions_query(tree, conditions, values)
    (text,) = cursor.execute("SELECT json_deserialize_sql(?)", [query]).fetchall()[0]
    kept = {
        combos[row[0]]
        for row in cursor.execute(str(text)).fetchall()
        if all(value is True for value in row[1:])
    }
    return tuple(path for path in every if tuple(by_file[path].get(n) for n in hive) in kept)


def by_bounds(
    cursor: duckdb.DuckDBPyConnection,
    tree: partitioning.Tree,
    table: Table,
    columns: ColumnTypes,
    files: Collection[str] | None,
) -> tuple[str, ...]:
    """Of ``files`` (None: all), those whose bounds no ``partitioning.range_terms`` term
    rules out. The terms' literals are turned into the column's type once, by DuckDB as
    the query does; each file is then compared in Python (no query per file)."""
    types = {name: type_name for name, (_, type_name) in columns.items() if bounded_column(name)}
    terms = partitioning.range_terms(tree, types)
    candidates = table.loaded.files if files is None else tuple(files)
    if not terms:
        return candidates
    tests: dict[str, list[_BoundsTest]] = {}
    for term, values in zip(terms, _literal_values(cursor, terms, types), strict=True):
        test = partitioning.bounds_test(term, values)
        if test is not None:
            tests.setdefault(term.column, []).append(test)
    by_bound: dict[str, list[_BoundsTest]] = {}  # the files' names
    wanted = None if files is None else set(candidates)
    kept = []
    for file in table.loaded.data_files:
        if wanted is not None and file.path not in wanted:
            continue
        for name, low, high in file.bounds:
            found = by_bound.get(name)
            if found is None:  # the bounds' names are few: fold each once
                found = by_bound[name] = tests.get(fold(name), [])
            if found and not _all_hold(found, low, high):
                break
        else:
            kept.append(file.path)
    return tuple(kept)


def _literal_values(
    cursor: duckdb.DuckDBPyConnection,
    terms: Sequence[partitioning.RangeTerm],
    types: Mapping[str, str],
) -> list[list[object]]:
    """Each term's literals as values of its column's type: integers as written,
    strings cast by DuckDB to the column's type (as it casts them when comparing)."""
    casts = [
        (text, types[term.column])
        for term in terms
        for kind, text in term.literals
        if kind == "STRING" and types[term.column] != "VARCHAR"
    ]
    cast: list[object] = []
    if casts:
        # Type names are DuckDB's own (``partitioning.BOUNDED_TYPES``); texts are bound.
        listed = ", ".join(f"CAST(? AS {type_name})" for _, type_name in casts)
        result = cursor.sql(f"SELECT {listed}", params=[t for t, _ in casts]).to_arrow_table()
        cast = [column[0].as_py() for column in result.columns]
    found = iter(cast)
    return [
        [
            int(text)
            if kind == "INTEGER"
            else (text if types[term.column] == "VARCHAR" else next(found))
            for kind, text in term.literals
        ]
        for term in terms
    ]


def _all_hold(tests: Sequence[_BoundsTest], low: object, high: object) -> bool:
    """Whether every test passes a file's bounds: once per file of a table, where a loop
    costs a third less than ``all`` over a generator."""
    for test in tests:  # noqa: SIM110
        if not test(low, high):
            return False
    return True


def _typed(value: str | None, type_name: str) -> str:
    """A hive partition value as SQL, cast to its column's type."""
    return f"CAST({'NULL' if value is None else quote_literal(value)} AS {type_name})"
