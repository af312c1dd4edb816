"""All configuration in one typed place: a YAML/TOML file, ``FW_FLIGHT_SQL_*`` variables, flags.

Precedence (highest first): command-line flags, environment variables, the config
file, defaults. Nested keys use ``__`` in environment variables
(``FW_FLIGHT_SQL_ENGINE__MEMORY_LIMIT=4GB``).
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from flight_server.messages import first_line

ENV_PREFIX = "FW_FLIGHT_SQL_"
CONFIG_ENV = f"{ENV_PREFIX}CONFIG"


def _schema_name(value: str) -> str:
    """A name served as a schema: ``@`` separates pinned versions and ``.`` qualifies names."""
    if not value or "@" in value or "." in value:
        raise ValueError(f"name {value!r} must be non-empty without '@' or '.'")
    return value


SchemaName = Annotated[str, AfterValidator(_schema_name)]


def _option_text(value: object) -> object:
    """A storage option as text, whatever YAML, TOML or JSON made of it.

    ``anon: true`` and ``project: 123456789`` arrive as a bool and an int; the backends
    read every option as text, as the options of a storage URL's query come, and turn
    ``anon`` into a boolean themselves. Other shapes (lists, mappings) stay refused.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


#: A storage option's value: kept secret (it may be a key), given as text, bool or number.
OptionValue = Annotated[SecretStr, BeforeValidator(_option_text)]


_FLIGHT_SCHEMES = ("grpc", "grpc+tcp", "grpc+tls")


def _flight_uri(value: str) -> str:
    """A location clients can dial: a gRPC scheme, a host and a port."""
    scheme, separator, rest = value.partition("://")
    host, colon, port = rest.rstrip("/").rpartition(":")
    if scheme not in _FLIGHT_SCHEMES or not separator or not (host and colon and port.isdigit()):
        raise ValueError(
            "not a Flight URI with a port, like grpc://host:32010 or grpc+tls://host:32010"
        )
    return value


AdvertisedLocation = Annotated[str, AfterValidator(_flight_uri)]


class _Section(BaseModel):
    """A nested settings block: a mistyped key is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class DatasetSettings(_Section):
    """A dataset served without Flywheel: a name and where it lives."""

    name: SchemaName
    location: str
    catalog: str | None = None
    options: dict[str, OptionValue] = Field(default_factory=dict)


class CentreSettings(_Section):
    """One centre of a federated dataset, given as a storage location with its options."""

    location: str
    options: dict[str, OptionValue] = Field(default_factory=dict)


class FederatedSettings(_Section):
    """One view over the same dataset at several centres, duplicates dropped by criteria.

    A centre is ``fw://group/project``, a Flywheel project id, ``catalog.schema`` of a
    served dataset, or a storage location (a URL or path, or ``{location, options}``).
    """

    name: SchemaName
    catalog: str = "federated"
    centres: dict[str, str | CentreSettings] = Field(min_length=1)
    #: ``{table: [field, ...]}``: rows are duplicates when all these fields are equal.
    criteria: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("criteria")
    @classmethod
    def _fields_given(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        empty = sorted(table for table, fields in value.items() if not fields)
        if empty:
            raise ValueError(f"criteria for {', '.join(empty)} name no fields")
        return value


#: ``engine.cache_index_columns`` unless set: Flywheel's ids and the parents queries filter
#: by (a dataset is one project, so ``parents.group`` and ``parents.project`` never narrow).
DEFAULT_CACHE_INDEX_COLUMNS = ("id", "parents.subject", "parents.session", "parents.acquisition")
#: ``engine.tail_cache_bytes`` unless set (also the storage layer's own default).
DEFAULT_TAIL_CACHE_BYTES = 256 * 1024 * 1024
#: ``engine.result_cache_bytes`` unless set: a dashboard's results are kilobytes, so this
#: holds thousands of them, or a few notebook-sized table reads.
DEFAULT_RESULT_CACHE_BYTES = 256 * 1024 * 1024
#: Files of used tables whose footers stay loaded (``limits.loaded_files``): ~200 MiB.
DEFAULT_LOADED_FILES = 1_000_000
#: ``engine.result_cache_max_result_bytes`` unless set.
DEFAULT_RESULT_MAX_BYTES = 16 * 1024 * 1024


class EngineSettings(_Section):
    """DuckDB resources and streaming shape."""

    threads: int | None = Field(default=None, ge=1)
    memory_limit: str | None = None
    temp_directory: str = "/tmp/fw-flight-sql"
    batch_rows: int = Field(default=122_880, ge=1024)
    #: Disk budget of the hot table cache (``2GiB``, ``500MB``); None or 0 turns it off.
    cache_bytes: ByteSize | None = None
    #: Where the hot table cache keeps its DuckDB database file.
    cache_directory: str = "/tmp/fw-flight-sql/cache"
    #: Columns each table-cache copy that has them is indexed on (an ART index each), so a
    #: lookup of one parent's rows or one id reads a few rows rather than the whole copy;
    #: only copies over one row group whose build fits a quarter of DuckDB's memory limit.
    #: The indexes count against ``cache_bytes``; an empty list indexes nothing.
    cache_index_columns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CACHE_INDEX_COLUMNS)
    )
    #: Memory for parquet footers (file tails) per remote dataset, read once per file and
    #: reused by every query; the least recently used go first.
    tail_cache_bytes: ByteSize = ByteSize(DEFAULT_TAIL_CACHE_BYTES)
    #: The zone time-zone-aware SQL (casts, ``date_trunc``) and result labels use: fixed,
    #: so results never depend on the host's ``TZ``.
    time_zone: str = "UTC"
    #: Memory for finished results replayed to repeated identical queries (a dashboard's
    #: refresh), keyed by the datasets' published versions; the least recently used go
    #: first. Held outside DuckDB's ``memory_limit``. 0 turns the results cache off.
    result_cache_bytes: ByteSize = Field(default=ByteSize(DEFAULT_RESULT_CACHE_BYTES), ge=0)
    #: A larger result streams as usual but is not kept; each running query holds up to
    #: this much of its result until it ends.
    result_cache_max_result_bytes: ByteSize = Field(
        default=ByteSize(DEFAULT_RESULT_MAX_BYTES), ge=0
    )
    #: Seconds a kept result is replayed: new versions never see old results, so this
    #: bounds staleness only where files change in place (outside Flywheel's versions).
    result_cache_seconds: float = Field(default=60.0, gt=0)
    #: Memory for Arrow copies of whole tables, streamed as they are to ``SELECT *`` and
    #: to plain column reads of them; a table is copied when a ``SELECT *`` of it streams
    #: to its end within this budget, and the least recently used go first. Held outside
    #: DuckDB's ``memory_limit``, beside the results cache. 0 turns memory tables off.
    memory_table_bytes: ByteSize = Field(default=ByteSize(0), ge=0)


#: The ``flywheel.allowed_roots`` key for projects without a storage id (environment creds).
ENVIRONMENT_ROOTS = "environment"


class FlywheelSettings(_Section):
    """Discovery of datasets through a Flywheel site (off without an API key)."""

    api_key: SecretStr | None = None
    exhaustive: bool = False
    #: Seconds one attempt of a Flywheel API call may wait to connect and for each read;
    #: a call failing for a reason that may pass (no connection, a timeout, a dropped
    #: connection, 5xx, 429) is retried up to ``retries`` times per kind of failure: at
    #: once, then after 0.5 s, 1 s, ... (at most 5 s), or the site's Retry-After (at most
    #: ``timeout_seconds``).
    timeout_seconds: float = Field(default=30.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    #: Where projects' ``info.dataset`` may point, per Flywheel storage id (and
    #: ``environment`` for projects without one): ``{"<storage id>": ["s3://bucket/prefix"]}``.
    #: Unset: anywhere the credentials reach. Set: a storage not named allows nothing.
    allowed_roots: dict[str, list[str]] | None = None

    @field_validator("allowed_roots")
    @classmethod
    def _roots_are_urls(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        for key, roots in (value or {}).items():
            for root in roots:
                scheme, separator, rest = root.partition("://")
                if not (scheme and separator and rest) or "?" in root:
                    # The root is not quoted: a query would be where a secret sits.
                    raise ValueError(
                        f"allowed_roots.{key}: a root is a storage URL without a query "
                        "(s3://bucket/prefix, gs://..., az://account/container/..., file:///dir)"
                    )
        return value


class StorageSettings(_Section):
    """Time bounds on loading, so one slow or dead store or project cannot stall the rest."""

    #: Seconds one storage request may take to connect, and to send each answer.
    timeout_seconds: float = Field(default=10.0, gt=0)
    #: Retries of one failed or timed-out storage request (with short back-offs).
    retries: int = Field(default=2, ge=0, le=10)
    #: Seconds one unit of loading (a project, a configured or federated dataset) may take
    #: in all; past it, the unit is skipped as timed out and the others go on.
    load_timeout_seconds: float = Field(default=300.0, gt=0)


class UserSettings(_Section):
    """A user who logs in with a password (``fw-flight-sql hash-password`` makes the hash)."""

    password_hash: SecretStr
    #: ``catalog/name`` entries; ``*`` matches any catalog or name.
    datasets: list[str] = Field(default_factory=list)


class StaticTokenSettings(_Section):
    """A bearer token accepted as is, for services that cannot log in."""

    token: SecretStr
    user: str = Field(min_length=1)
    datasets: list[str] = Field(default_factory=list)


class AuthSettings(_Section):
    """Who may call and what they see; the secret also signs tickets and handles."""

    token_secret: SecretStr | None = None
    token_ttl_seconds: int = Field(default=3600, ge=1)
    ticket_ttl_seconds: int = Field(default=3600, ge=1)
    users: dict[str, UserSettings] = Field(default_factory=dict)
    tokens: list[StaticTokenSettings] = Field(default_factory=list)
    #: Accept API keys of this Flywheel site (default: the site of ``flywheel.api_key``).
    flywheel_site: str | None = None
    flywheel_cache_seconds: float = Field(default=60.0, ge=0)
    #: Callers without credentials; None: only when no other authentication is configured.
    anonymous: bool | None = None
    anonymous_datasets: list[str] = Field(default_factory=lambda: ["*"])
    allow_public_anonymous: bool = False
    #: Failed basic logins in a row for a user name (or client address) before further
    #: attempts are refused at once: for the first window, then twice as long after each
    #: further failure, up to the maximum.
    login_failures_before_backoff: int = Field(default=5, ge=1)
    login_backoff_seconds: float = Field(default=1.0, gt=0)
    login_backoff_max_seconds: float = Field(default=300.0, gt=0)
    #: scrypt checks at once; a login waits up to the wait for one, then gets UNAVAILABLE.
    max_concurrent_password_checks: int = Field(default=2, ge=1)
    password_check_wait_seconds: float = Field(default=1.0, ge=0)
    #: Header a trusted proxy sets to the client's address (e.g. x-forwarded-for), for the
    #: per-address backoff; only when every connection comes through that proxy.
    login_address_header: str | None = None


class LimitsSettings(_Section):
    """What one caller's requests may cost (time, concurrency, request size), and the
    query threads and plan cache they share."""

    #: Seconds a query may run (from the start of its stream); None: no limit.
    query_timeout_seconds: float | None = Field(default=600.0, gt=0)
    #: Queries planning or streaming at once; more wait up to ``queue_seconds``, then get
    #: UNAVAILABLE.
    max_concurrent_queries: int = Field(default=16, ge=1)
    queue_seconds: float = Field(default=30.0, ge=0)
    #: Of those, how many one caller (a user or token name; anonymous callers share one)
    #: may hold; None: half of ``max_concurrent_queries``, at least 1.
    max_queries_per_user: int | None = Field(default=None, ge=1)
    #: The server process's memory ceiling (``3GiB``): past it, running queries are
    #: stopped with a resources error. None: 80% of the container's memory limit, or of
    #: the machine's memory; 0: no ceiling.
    max_memory_bytes: ByteSize | None = None
    #: Largest SQL text, and largest command, ticket or action body, in bytes.
    max_sql_bytes: int = Field(default=1_000_000, ge=1024)
    max_request_bytes: int = Field(default=4_000_000, ge=1024)
    #: Largest record batch (in Arrow IPC bytes) of a metadata reply, such as GetTables
    #: with schemas: each batch is one gRPC message, and clients refuse messages over their
    #: receive limit (gRPC's default 4 MiB, ADBC's 16 MiB), so listings of any size stream
    #: in batches well under both. A single row larger than this is sent alone.
    metadata_batch_bytes: ByteSize = Field(default=ByteSize(2 * 1024 * 1024), ge=1024)
    #: A statement's size past which it is refused before parsing and planning: syntax
    #: nodes (tokens, then parse-tree nodes) and SELECT blocks (each UNION branch is one).
    max_sql_nodes: int = Field(default=100_000, ge=100)
    max_sql_selects: int = Field(default=1_000, ge=1)
    #: Threads that run DuckDB's planning and batch pulls for every query (DuckDB
    #: parallelises inside each one); best above ``max_concurrent_queries``, as a stopped
    #: query's pull unwinds in the background while the next query starts.
    query_threads: int = Field(default=32, ge=1)
    #: Statement plans kept (per statement, caller, grant and snapshot, and as many again
    #: per shape of lookups by value) so ADBC's and JDBC's GetFlightInfo-then-DoGet plans
    #: once, for this many seconds: short, so a caller's changed permissions show in result
    #: schemas soon (DoGet checks access anyway).
    plan_cache_entries: int = Field(default=1024, ge=1)
    plan_cache_seconds: float = Field(default=30.0, gt=0)
    #: A row-wise scan of one table is answered in parts (one endpoint each) of at least
    #: this many rows: small tables and lookups stay one endpoint, one round trip.
    partition_min_rows: int = Field(default=1_000_000, ge=1)
    #: Files of used tables whose footers (rows, schema groups, bounds) stay loaded, about
    #: 0.2 KiB each; the tables used least recently are read again on their next use. A
    #: refresh reads listings only, so this, not the site's size, bounds catalog memory.
    loaded_files: int = Field(default=DEFAULT_LOADED_FILES, ge=1)


class TlsSettings(_Section):
    """Flight over TLS (``grpc+tls://``); with a client CA, clients must present certificates."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None


class Settings(BaseSettings):
    """Every setting of the server."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=32010, ge=0, le=65535)
    #: Flight URIs of the replicas that serve the same datasets with the same
    #: ``auth.token_secret`` (``grpc://pod-0.headless:32010``): every endpoint returned
    #: names them, so clients read endpoints from several replicas at once. Empty: clients
    #: read every endpoint where they asked.
    advertised_locations: list[AdvertisedLocation] = Field(default_factory=list)
    #: HTTP port for /healthz, /readyz and /metrics; 0 picks a free port, null turns it off.
    ops_port: int | None = Field(default=9090, ge=0, le=65535)
    #: After SIGTERM, seconds running queries get to finish before they are cancelled.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    tls: TlsSettings | None = None
    local_catalog: str = "local"
    default_catalog: str | None = None
    default_schema: str | None = None
    datasets: list[DatasetSettings] = Field(default_factory=list)
    federated: list[FederatedSettings] = Field(default_factory=list)
    flywheel: FlywheelSettings = Field(default_factory=FlywheelSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    refresh_seconds: float = Field(default=300.0, ge=0)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    log_format: Literal["plain", "json"] = "plain"
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _ConfigFileSource(settings_cls)


# The file ``load_settings`` was given, for the settings it builds: set per call, never in
# the process environment, so one caller's file (a CLI run inside tests) leaks into no other.
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("config_file", default=None)


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Reads the file given to ``load_settings``, else the one ``FW_FLIGHT_SQL_CONFIG`` names."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _CONFIG_FILE.get() or os.environ.get(CONFIG_ENV)
        return read_config_file(Path(path)) if path else {}


#: libyaml's safe loader where PyYAML was built with it: a site configuring 2,000 datasets
#: parses in 0.08 s instead of 0.39 s.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML or TOML config file into a plain mapping."""
    text = path.read_text()
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.load(text, _YAML_LOADER)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {path} is not valid TOML: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ValueError(f"config file {path} is not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must contain a mapping at the top level")
    return data


class ConfigError(Exception):
    """Settings that cannot be used, explained in one line without the offending values."""


def load_settings(config_file: Path | None = None, **flags: Any) -> Settings:
    """Build settings from flags (``None`` means not given), the environment and a config file.

    Raises ``ConfigError``: pydantic's own messages quote input values, and an input next
    to a secret (or the secret itself, mistyped) must never reach a terminal or a log.
    """
    token = _CONFIG_FILE.set(config_file)
    try:
        return Settings(**{key: value for key, value in flags.items() if value is not None})
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        ]
        raise ConfigError("; ".join(problems)) from None
    except (OSError, SettingsError, ValueError) as exc:
        raise ConfigError(first_line(exc)) from None
    finally:
        _CONFIG_FILE.reset(token)
