"""Texts of one shape: a SQL text with its constants swapped for other values of their kind."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import duckdb


def with_constants_swapped(sql: str, values: Mapping[str, Sequence[str]]) -> list[str]:
    """``sql`` with each of its constants swapped, in turn, for each of ``values[kind]``:
    kinds ``string`` (a plain quoted string), ``integer`` and ``decimal``."""
    tokens = duckdb.tokenize(sql)
    ends = [position for position, _kind in tokens[1:]] + [len(sql)]
    variants = []
    for (position, kind), end in zip(tokens, ends, strict=True):
        written = sql[position:end].rstrip(" \t\n\r\f")
        if written == ".":  # the tokeniser calls the dot of ``a.b`` a numeric constant
            continue
        if kind == duckdb.token_type.string_const and re.fullmatch(r"'.*'", written, re.S):
            swapped = values["string"]
        elif kind == duckdb.token_type.numeric_const and re.fullmatch(r"[0-9.]+", written):
            swapped = values["integer" if written.isdigit() else "decimal"]
        else:
            continue
        after = position + len(written)
        variants += [sql[:position] + value + sql[after:] for value in swapped]
    return variants
