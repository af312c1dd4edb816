"""All configuration in one typed place: a YAML/TOML file, ``FW_FLIGHT_SQL_*`` variables, flags.

Precedence (highest first): command-line flags, environment variables, the config
file, defaults. Nested keys use ``__`` in environment variables
(``FW_FLIGHT_SQL_ENGINE__MEMORY_LIMIT=4GB``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "FW_FLIGHT_SQL_"
CONFIG_ENV = f"{ENV_PREFIX}CONFIG"


class DatasetSettings(BaseModel):
    """A dataset served without Flywheel: a name and where it lives."""

    name: str
    location: str
    catalog: str | None = None
    options: dict[str, SecretStr] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or "@" in value or "." in value:
            raise ValueError(f"dataset name {value!r} must be non-empty without '@' or '.'")
        return value


class EngineSettings(BaseModel):
    """DuckDB resources and streaming shape."""

    threads: int | None = Field(default=None, ge=1)
    memory_limit: str | None = None
    temp_directory: str = "/tmp/fw-flight-sql"
    batch_rows: int = Field(default=122_880, ge=1024)


class AuthSettings(BaseModel):
    """Signing of tickets and prepared-statement handles."""

    token_secret: SecretStr | None = None
    ticket_ttl_seconds: int = Field(default=3600, ge=1)


class Settings(BaseSettings):
    """Every setting of the server."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=32010, ge=0, le=65535)
    local_catalog: str = "local"
    default_catalog: str | None = None
    default_schema: str | None = None
    datasets: list[DatasetSettings] = Field(default_factory=list)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
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


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Reads the file named by ``FW_FLIGHT_SQL_CONFIG`` (YAML or TOML)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get(CONFIG_ENV)
        return read_config_file(Path(path)) if path else {}


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a YAML or TOML config file into a plain mapping."""
    text = path.read_text()
    data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must contain a mapping at the top level")
    return data


def load_settings(config_file: Path | None = None, **flags: Any) -> Settings:
    """Build settings from flags (``None`` means not given), the environment and a config file."""
    if config_file is not None:
        os.environ[CONFIG_ENV] = str(config_file)
    return Settings(**{key: value for key, value in flags.items() if value is not None})
