"""Tickets and prepared-statement handles: typed, signed tokens bound to their caller.

Each kind is a frozen dataclass; ``TicketSigner.encode`` and ``decode`` are the only
place they meet the wire. A token carries everything needed to serve it (so any replica
can), the caller and an expiry (see ``flight_server.signing``). Clients treat it as
opaque bytes; the format is ours to change, and tokens of an older format are refused.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from flight_server.engine import QueryContext
from flight_server.signing import SignatureError, SignedTokens

#: Changed whenever the payload changes, so older tokens fail as "not issued by this server".
_MAGIC = b"fwt2."


class TicketError(ValueError):
    """A token that is malformed, forged, expired or presented by someone else."""


@dataclass(frozen=True)
class Statement:
    """A query and the defaults it was planned with: what rerunning it exactly needs."""

    query: str
    catalog: str | None
    schema: str | None
    #: Bound parameter rows as ``parameters.encode_rows`` packs them; None when unbound.
    parameters: str | None = None

    @classmethod
    def planned(cls, query: str, context: QueryContext) -> Statement:
        """``query`` as planned with ``context``'s defaults (no parameters bound yet)."""
        return cls(query, context.default_catalog, context.default_schema)

    def context(self, may_read: Callable[[str, str, str | None], bool]) -> QueryContext:
        """The defaults it was planned with, reading only what the presenting caller may."""
        return QueryContext(self.catalog, self.schema, may_read)

    def _body(self) -> dict[str, Any]:
        return {"q": self.query, "c": self.catalog, "s": self.schema, "p": self.parameters}

    @classmethod
    def _parse(cls, body: dict[str, Any]) -> Statement:
        return cls(body["q"], body["c"], body["s"], body["p"])


@dataclass(frozen=True)
class StatementTicket:
    """DoGet runs a statement (planned by GetFlightInfo, maybe from a prepared handle)."""

    KIND: ClassVar[str] = "statement"
    statement: Statement

    def _body(self) -> dict[str, Any]:
        return self.statement._body()

    @classmethod
    def _parse(cls, body: dict[str, Any]) -> StatementTicket:
        return cls(Statement._parse(body))


@dataclass(frozen=True)
class CommandTicket:
    """DoGet answers a metadata command, built from what the caller may see then."""

    KIND: ClassVar[str] = "command"
    #: The ``Any``-packed Flight SQL command, as the descriptor carried it.
    command: bytes

    def _body(self) -> dict[str, Any]:
        return {"cmd": base64.b64encode(self.command).decode()}

    @classmethod
    def _parse(cls, body: dict[str, Any]) -> CommandTicket:
        return cls(base64.b64decode(body["cmd"]))


@dataclass(frozen=True)
class PartitionTicket:
    """DoGet reads some files of a table named by a plain Flight path (one endpoint)."""

    KIND: ClassVar[str] = "partition"
    table: tuple[str, str, str]
    files: tuple[str, ...]

    def _body(self) -> dict[str, Any]:
        return {"t": list(self.table), "f": list(self.files)}

    @classmethod
    def _parse(cls, body: dict[str, Any]) -> PartitionTicket:
        catalog, schema, table = body["t"]
        return cls((catalog, schema, table), tuple(body["f"]))


@dataclass(frozen=True)
class StatementPartTicket:
    """DoGet runs a statement over some files of the one table it reads (one endpoint of a
    partitioned query); the statement is checked and authorised again when it runs."""

    KIND: ClassVar[str] = "statement-part"
    statement: Statement
    table: tuple[str, str, str]
    files: tuple[str, ...]

    def _body(self) -> dict[str, Any]:
        return {**self.statement._body(), "t": list(self.table), "f": list(self.files)}

    @classmethod
    def _parse(cls, body: dict[str, Any]) -> StatementPartTicket:
        catalog, schema, table = body["t"]
        return cls(Statement._parse(body), (catalog, schema, table), tuple(body["f"]))


@dataclass(frozen=True)
class PreparedHandle:
    """A prepared statement: its query, defaults, parameter count and, once bound, rows."""

    KIND: ClassVar[str] = "prepared"
    statement: Statement
    parameter_count: int

    def _body(self) -> dict[str, Any]:
        return {**self.statement._body(), "n": self.parameter_count}

    @classmethod
    def _parse(cls, body: dict[str, Any]) -> PreparedHandle:
        return cls(Statement._parse(body), body["n"])


#: Every kind of token the server issues.
Token = StatementTicket | CommandTicket | PartitionTicket | StatementPartTicket | PreparedHandle
_KINDS: dict[str, type[Token]] = {
    kind.KIND: kind
    for kind in (
        StatementTicket,
        CommandTicket,
        PartitionTicket,
        StatementPartTicket,
        PreparedHandle,
    )
}


class TicketSigner:
    """Encodes and decodes tokens, signed with one secret shared by all replicas."""

    def __init__(self, secret: bytes, ttl_seconds: int) -> None:
        self._tokens = SignedTokens(secret, magic=_MAGIC, domain=b"ticket")
        self._ttl = ttl_seconds

    def encode(self, token: Token, caller: str | None) -> bytes:
        """Sign ``token`` for ``caller``, valid for the configured time."""
        return self._tokens.seal({"k": token.KIND, "b": token._body(), "u": caller}, self._ttl)

    def decode(self, raw: bytes, caller: str | None) -> Token:
        """The token ``raw`` encodes, if it is valid, unexpired and ``caller``'s own."""
        try:
            payload = self._tokens.open(raw)
        except SignatureError as exc:
            raise TicketError(f"ticket {exc}") from None
        if payload.get("u") != caller:
            raise TicketError("ticket was issued to another caller")
        # A signed token of an unknown kind or shape can only come from another build.
        kind = _KINDS.get(payload.get("k"))
        if kind is None:
            raise TicketError("ticket is malformed")
        try:
            return kind._parse(payload["b"])
        except (KeyError, TypeError, ValueError):
            raise TicketError("ticket is malformed") from None
