"""Settings of the strike service, read from ``TEGUR_*`` environment variables.

``TEGUR_DATABASE_URL``          ledger database (default ``sqlite:///strikes.db``)
``TEGUR_MODERATOR_API_KEYS``    comma-separated keys accepted in ``X-API-Key`` by moderator endpoints
``TEGUR_POLICY_PATH``           strike policy YAML (default ``configs/strikes.yaml``)
``TEGUR_AUTO_MIGRATE``          upgrade the schema at start-up (default true)
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tegur.errors import ConfigError

MIN_KEY_LENGTH = 16


class StrikeSettings(BaseSettings):
    """Typed settings of the strike service; every field can be set through ``TEGUR_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="TEGUR_", extra="forbid")

    database_url: str = Field(
        default="sqlite:///strikes.db",
        description="sqlite:///path/to/file.db or postgresql+psycopg://user:password@host:5432/db",
    )
    moderator_api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(),
        description="Keys accepted from moderators in the X-API-Key header; none disables those endpoints.",
    )
    policy_path: Path = Field(
        default=Path("configs/strikes.yaml"), description="The strike policy YAML file."
    )
    auto_migrate: bool = Field(default=True, description="Upgrade the database schema at start-up.")

    @field_validator("moderator_api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        # The environment holds "key1,key2"; code may pass a list directly.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _check_keys(self) -> StrikeSettings:
        # ConfigError passes through pydantic unwrapped: a ValueError would echo the key in the message.
        for index, key in enumerate(self.moderator_api_keys):
            if len(key.get_secret_value()) < MIN_KEY_LENGTH:
                raise ConfigError(
                    f"TEGUR_MODERATOR_API_KEYS: key #{index + 1} is shorter than {MIN_KEY_LENGTH} "
                    "characters; use long random keys, e.g. from "
                    "`python -c 'import secrets; print(secrets.token_urlsafe())'`"
                )
        return self


def load_strike_settings(**overrides: object) -> StrikeSettings:
    """Read settings from the environment (and ``overrides``); raise :class:`ConfigError` on bad values."""
    try:
        return StrikeSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        # Imported on the error path only: tegur.config pulls in the training stack (torch).
        from tegur.yaml_config import format_validation_error

        raise ConfigError(format_validation_error(exc, "TEGUR_* strike settings")) from None


@lru_cache(maxsize=1)
def get_strike_settings() -> StrikeSettings:
    """The process's settings, read once. A FastAPI dependency; tests override it."""
    return load_strike_settings()
