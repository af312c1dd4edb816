"""The ``fwflight://`` SQLAlchemy dialect, as BI tools and notebooks use it, on a real server.

The venv has SQLAlchemy 1.4 (what Superset runs; flightsql-dbapi, a test client, needs < 2):
those tests run in-process. pandas 3 reads through SQLAlchemy 2 only, so the pandas test runs
in a child interpreter with `make test`'s SQLAlchemy 2 (.tools/sqlalchemy2) first on the path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import adbc_driver_flightsql.dbapi as flight_sql
import pytest
import sqlalchemy as sa
from fw_flight.sqlalchemy import FlightSQLDialect
from sqlalchemy import types as sqltypes

from flight_server.auth import hash_password
from flight_server.config import (
    AuthSettings,
    DatasetSettings,
    Settings,
    StaticTokenSettings,
    UserSettings,
)
from flight_server.demo import GeneratedDataset
from tests.support import REPO, running_server

SQLALCHEMY2 = REPO / ".tools" / "sqlalchemy2"


def url(server_uri: str, path: str = "") -> str:
    """The URL a user types for the server (plaintext, anonymous)."""
    return f"{server_uri.replace('grpc://', 'fwflight://')}/{path}?tls=false"


@pytest.fixture(scope="module")
def engine(server_uri: str) -> sa.engine.Engine:
    return sa.create_engine(url(server_uri))


def test_the_entry_point_names_our_dialect(engine: sa.engine.Engine) -> None:
    assert type(engine.dialect).__module__ == "fw_flight.sqlalchemy"


def test_inspector_lists_catalogs_schemas_and_tables(
    engine: sa.engine.Engine, demo: GeneratedDataset
) -> None:
    inspector = sa.inspect(engine)
    schemas = inspector.get_schema_names()
    assert {"local.proj1", "local.legacy_a", "local.legacy_b"} <= set(schemas)
    assert "local.proj1@v1" in schemas  # pinned versions stay reachable
    assert inspector.get_table_names(schema="local.proj1") == sorted(demo.exposed_tables)
    assert inspector.get_view_names(schema="local.proj1") == []
    with engine.connect() as conn:
        assert engine.dialect.get_catalog_names(conn) == ["local"]
        assert engine.dialect.has_table(conn, "sessions", schema="local.proj1")
        assert not engine.dialect.has_table(conn, "sesions", schema="local.proj1")


def test_columns_have_their_types_and_remarks(engine: sa.engine.Engine) -> None:
    columns = {c["name"]: c for c in sa.inspect(engine).get_columns("sessions", "local.proj1")}
    expected: dict[str, tuple[type[sqltypes.TypeEngine[Any]], dict[str, Any]]] = {
        "label": (sqltypes.String, {}),
        "age": (sqltypes.BigInteger, {}),
        "visit": (sqltypes.Integer, {}),
        "weight": (sqltypes.Numeric, {"precision": 10, "scale": 2}),
        "timestamp": (sqltypes.DateTime, {"timezone": True}),
        "timestamp_local": (sqltypes.DateTime, {"timezone": False}),
        "session_date": (sqltypes.Date, {}),
        "parents.subject": (sqltypes.String, {}),
    }
    for name, (kind, attributes) in expected.items():
        column_type = columns[name]["type"]
        assert type(column_type) is kind, (name, column_type)
        assert {key: getattr(column_type, key) for key in attributes} == attributes, name
    assert columns["timestamp"]["comment"] == "Session start (UTC)"


def test_reflected_tables_query_with_bound_parameters(engine: sa.engine.Engine) -> None:
    # A pinned version's schema needs quoting: catalog and schema are quoted apart.
    sessions = sa.Table("sessions", sa.MetaData(), autoload_with=engine, schema="local.proj1@v1")
    query = sa.select(sa.func.count()).select_from(sessions).where(sessions.c.visit >= 1)
    assert 'FROM local."proj1@v1".sessions' in str(query.compile(engine))
    with engine.connect() as conn:
        (total,) = conn.execute(sa.text('SELECT count(*) FROM local."proj1@v1".sessions')).one()
        assert conn.execute(query).scalar_one() == total > 0


def test_a_catalog_in_the_url_lists_its_schemas_by_their_own_names(server_uri: str) -> None:
    engine = sa.create_engine(url(server_uri, "local"))
    inspector = sa.inspect(engine)
    assert "proj1" in inspector.get_schema_names()
    assert "sessions" in inspector.get_table_names(schema="proj1")
    with engine.connect() as conn:
        (count,) = conn.execute(sa.text('SELECT count(*) FROM "proj1".sessions')).one()
    assert count > 0


PANDAS_SCRIPT = """
import json, sys
import pandas as pd
import sqlalchemy as sa

engine = sa.create_engine(sys.argv[1])
inspector = sa.inspect(engine)
subjects = sa.Table("subjects", sa.MetaData(), autoload_with=engine, schema="local.proj1")
frame = pd.read_sql(sa.select(subjects).where(subjects.c.label != sa.bindparam("x")), engine,
                    params={"x": "nobody"})
counted = pd.read_sql("SELECT count(*) AS n FROM local.proj1.subjects", engine)
print(json.dumps({
    "sqlalchemy": sa.__version__,
    "tables": inspector.get_table_names(schema="local.proj1"),
    "columns": {
        c["name"]: repr(c["type"]) for c in inspector.get_columns("subjects", "local.proj1")
    },
    "rows": len(frame),
    "count": int(counted["n"][0]),
    "dtypes": {name: str(dtype) for name, dtype in frame.dtypes.items()},
}))
"""


def test_pandas_read_sql_through_sqlalchemy_2(server_uri: str) -> None:
    assert SQLALCHEMY2.is_dir(), "SQLAlchemy 2 is missing: run `make .tools/sqlalchemy2`"
    result = subprocess.run(
        [sys.executable, "-c", PANDAS_SCRIPT, url(server_uri)],
        env={**os.environ, "PYTHONPATH": str(SQLALCHEMY2)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["sqlalchemy"].startswith("2.")
    assert "subjects" in report["tables"]
    assert report["columns"]["birth_date"] == "Date()"
    assert report["columns"]["created"] == "DateTime(timezone=True)"
    assert report["rows"] == report["count"] > 0
    assert report["dtypes"]["created"].startswith("datetime64")


def test_credentials_in_the_url(demo: GeneratedDataset) -> None:
    """A server without anonymous access: a bearer token or a user and password log in."""
    password_hash = hash_password("s3cret")
    auth = AuthSettings(
        users={"ana": UserSettings(password_hash=password_hash, datasets=["local/proj1"])},
        tokens=[StaticTokenSettings(token="tok-1", user="svc", datasets=["*"])],
    )
    settings = Settings(datasets=[DatasetSettings(name="proj1", location=demo.root)], auth=auth)
    with running_server(settings) as uri:
        address = uri.removeprefix("grpc://")
        for credentials in ("?tls=false&token=tok-1", "?tls=false&api_key=tok-1"):
            engine = sa.create_engine(f"fwflight://{address}{credentials}")
            assert "sessions" in sa.inspect(engine).get_table_names(schema="local.proj1")
        engine = sa.create_engine(f"fwflight://ana:s3cret@{address}/local?tls=false")
        assert sa.inspect(engine).get_schema_names()[0] == "proj1"
        engine = sa.create_engine(f"fwflight://{address}?tls=false")
        with pytest.raises(flight_sql.Error, match="UNAUTHENTICATED"):
            sa.inspect(engine).get_schema_names()


def test_tls_is_on_unless_turned_off() -> None:
    dialect = FlightSQLDialect()
    for url_text, uri in [
        ("fwflight://flight.example.org", "grpc+tls://flight.example.org:32010"),
        ("fwflight://flight.example.org:443?tls=true", "grpc+tls://flight.example.org:443"),
        ("fwflight://127.0.0.1:32010?tls=false", "grpc://127.0.0.1:32010"),
    ]:
        args, kwargs = dialect.create_connect_args(sa.engine.make_url(url_text))
        assert args == [uri]
        assert kwargs["autocommit"] is True
