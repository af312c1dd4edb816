"""Connections, dataset handles and results over the ADBC Flight SQL driver."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as flight

if TYPE_CHECKING:
    import pandas
    import polars

_FW_PATH = re.compile(r"^fw://(?P<group>[^/]+)/(?P<project>[^/]+)/?$")


class DatasetNotFound(LookupError):
    """The server serves no such dataset, or not to this caller."""


@dataclass(frozen=True)
class DatasetRef:
    """A dataset as the server names it: catalog (Flywheel group) and schema (project label)."""

    catalog: str
    schema: str

    def qualified(self, table: str) -> str:
        """``"catalog"."schema"."table"``, quoted so any name works."""
        return ".".join(_quote(part) for part in (self.catalog, self.schema, table))


def parse_dataset_ref(ref: str) -> DatasetRef:
    """Accept ``fw://group/project``, ``group/project`` or ``catalog.schema``."""
    match = _FW_PATH.match(ref)
    if match:
        return DatasetRef(match["group"], match["project"])
    for separator in ("/", "."):
        catalog, sep, schema = ref.partition(separator)
        if sep and catalog and schema and separator not in schema:
            return DatasetRef(catalog, schema)
    raise ValueError(f"expected fw://group/project, group/project or catalog.schema, got {ref!r}")


class Result:
    """A query's result, fetched on demand in the format the caller wants."""

    def __init__(self, cursor: flight_sql.Cursor) -> None:
        self._cursor = cursor

    def reader(self) -> pa.RecordBatchReader:
        """Stream the result batch by batch (bounded memory).

        The returned reader holds the cursor: ADBC closes the stream with its cursor.
        """
        cursor = self._cursor
        source = cursor.fetch_record_batch()

        def batches() -> Iterator[pa.RecordBatch]:
            with cursor:
                yield from source

        return pa.RecordBatchReader.from_batches(source.schema, batches())

    def arrow(self) -> pa.Table:
        return self._cursor.fetch_arrow_table()

    def df(self) -> pandas.DataFrame:
        return self.arrow().to_pandas()

    def pl(self) -> polars.DataFrame:
        import polars

        return polars.from_arrow(self.arrow())


class Dataset:
    """One dataset: lists its tables and runs SQL in which its tables need no qualification."""

    def __init__(self, client: Client, ref: DatasetRef) -> None:
        self._client = client
        self.ref = ref

    def tables(self) -> list[str]:
        """The dataset's table names (latest version)."""
        objects = self._client.connection.adbc_get_objects(
            depth="tables",
            catalog_filter=self.ref.catalog,
            db_schema_filter=_exact(self.ref.schema),
        ).read_all()
        names = []
        for catalog in objects.to_pylist():
            for schema in catalog["catalog_db_schemas"] or []:
                if schema["db_schema_name"] == self.ref.schema:
                    names += [t["table_name"] for t in schema["db_schema_tables"] or []]
        return sorted(names)

    def table(self, name: str) -> Result:
        """The whole table."""
        return self._client.execute(f"SELECT * FROM {self.ref.qualified(name)}")

    def execute(self, sql: str, parameters: Any = None) -> Result:
        """Run ``sql`` with this dataset as the default catalog and schema."""
        return self._client.execute(sql, parameters, default=self.ref)


@dataclass(frozen=True)
class Credentials:
    """How to reach and authenticate to a server outside ADBC (for Flight actions)."""

    uri: str
    bearer: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_root_certs: str | None = field(default=None, repr=False)


class Client:
    """A connection to one fw-flight-sql server."""

    def __init__(
        self, connection: flight_sql.Connection, credentials: Credentials | None = None
    ) -> None:
        self.connection = connection
        self._credentials = credentials

    def datasets_status(self) -> dict[str, Any]:
        """Served datasets (with versions and table counts) and skipped ones with reasons."""
        return json.loads(self._action("ListDatasets"))

    def _action(self, name: str) -> bytes:
        """Run a Flight action with the connection's credentials; returns its first result."""
        creds = self._credentials
        if creds is None:
            raise RuntimeError("this client was not made by fw_flight.connect()")
        kwargs = {"tls_root_certs": creds.tls_root_certs} if creds.tls_root_certs else {}
        with flight.FlightClient(creds.uri, **kwargs) as client:
            headers = []
            if creds.bearer:
                headers.append((b"authorization", f"Bearer {creds.bearer}".encode()))
            elif creds.username is not None:
                headers.append(client.authenticate_basic_token(creds.username, creds.password))
            options = flight.FlightCallOptions(headers=headers)
            results = list(client.do_action(flight.Action(name, b""), options))
        return results[0].body.to_pybytes() if results else b""

    def datasets(self) -> list[DatasetRef]:
        """Datasets the caller may see (their latest versions; ``name@version`` schemas hidden)."""
        objects = self.connection.adbc_get_objects(depth="db_schemas").read_all()
        refs = [
            DatasetRef(catalog["catalog_name"], schema["db_schema_name"])
            for catalog in objects.to_pylist()
            for schema in catalog["catalog_db_schemas"] or []
            if "@" not in schema["db_schema_name"]
        ]
        return sorted(refs, key=lambda r: (r.catalog, r.schema))

    def dataset(self, ref: str) -> Dataset:
        """A served dataset; a name the server does not serve to this caller says which it does."""
        wanted = parse_dataset_ref(ref)
        objects = self.connection.adbc_get_objects(
            depth="db_schemas",
            catalog_filter=wanted.catalog,
            db_schema_filter=_exact(wanted.schema),
        ).read_all()
        found = {
            DatasetRef(catalog["catalog_name"], schema["db_schema_name"])
            for catalog in objects.to_pylist()
            for schema in catalog["catalog_db_schemas"] or []
        }
        if wanted not in found:
            served = ", ".join(f"{r.catalog}.{r.schema}" for r in self.datasets()) or "none"
            raise DatasetNotFound(f"dataset {ref!r} is not served; served datasets: {served}")
        return Dataset(self, wanted)

    def execute(
        self, sql: str, parameters: Any = None, default: DatasetRef | None = None
    ) -> Result:
        """Run ``sql``; ``default`` makes unqualified table names resolve in that dataset."""
        if default is not None:
            self.connection.adbc_current_catalog = default.catalog
            self.connection.adbc_current_db_schema = default.schema
        cursor = self.connection.cursor()
        cursor.execute(sql, parameters)
        return Result(cursor)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def connect(
    uri: str,
    *,
    api_key: str | None = None,
    token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    tls_root_certs: str | None = None,
) -> Client:
    """Connect with a Flywheel API key, a bearer token, or a user name and password."""
    bearer = token or api_key
    options = connection_options(
        bearer=bearer, username=username, password=password, tls_root_certs=tls_root_certs
    )
    credentials = Credentials(uri, bearer, username, password or "", tls_root_certs)
    return Client(flight_sql.connect(uri, db_kwargs=options, autocommit=True), credentials)


def connection_options(
    *,
    bearer: str | None = None,
    username: str | None = None,
    password: str | None = None,
    tls_root_certs: str | None = None,
) -> dict[str, str]:
    """ADBC database options for these credentials (shared with the SQLAlchemy dialect)."""
    # Session options (the default catalog and schema) live behind a session cookie.
    options = {adbc_driver_flightsql.DatabaseOptions.WITH_COOKIE_MIDDLEWARE.value: "true"}
    if bearer:
        options[adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value] = (
            f"Bearer {bearer}"
        )
    if username is not None:
        options["username"] = username
        options["password"] = password or ""
    if tls_root_certs:
        options[adbc_driver_flightsql.DatabaseOptions.TLS_ROOT_CERTS.value] = tls_root_certs
    return options


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _exact(name: str) -> str:
    """A LIKE pattern matching ``name`` literally."""
    return re.sub(r"([\\%_])", r"\\\1", name)
