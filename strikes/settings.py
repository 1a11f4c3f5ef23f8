"""Settings of the strike service, read from ``TEGUR_*`` environment variables.

``TEGUR_DATABASE_URL``          ledger database (default ``sqlite:///strikes.db``)
``TEGUR_MODERATOR_API_KEYS``    comma-separated ``name=key`` pairs of human moderators (``X-API-Key``)
``TEGUR_CLASSIFIER_API_KEYS``   comma-separated ``name=key`` pairs of the classifier (``/v1/moderate``)
``TEGUR_ACCOUNT_TOKEN_SECRET``  the secret the platform signs account tokens with (see strikes.identity)
``TEGUR_POLICY_PATH``           strike policy YAML (default: the policy shipped in the package, which is
                                ``configs/strikes.yaml`` in the repository)
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
#: The default strike policy, installed with the package (``configs/strikes.yaml`` links to it).
DEFAULT_POLICY_PATH = Path(__file__).resolve().with_name("strikes.yaml")


class StrikeSettings(BaseSettings):
    """Typed settings of the strike service; every field can be set through ``TEGUR_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="TEGUR_", extra="forbid")

    database_url: str = Field(
        default="sqlite:///strikes.db",
        description="sqlite:///path/to/file.db or postgresql+psycopg://user:password@host:5432/db",
    )
    moderator_api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(),
        description="name=key pairs of human moderators, accepted in the X-API-Key header; the name is "
        "recorded as the deciding moderator. None disables moderator endpoints.",
    )
    classifier_api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        default=(),
        description="name=key pairs of the classifier service (POST /v1/moderate); kept apart from "
        "moderator keys: they cannot decide appeals or act on penalties.",
    )
    account_token_secret: SecretStr | None = Field(
        default=None,
        description="Shared secret the platform signs account tokens with (at least 32 characters); "
        "unset disables the account-facing routes (status, appeals, reports, notifications).",
    )
    policy_path: Path = Field(
        default=DEFAULT_POLICY_PATH,
        description="The strike policy YAML file; default: the policy shipped with Tegur.",
    )
    auto_migrate: bool = Field(default=True, description="Upgrade the database schema at start-up.")

    @field_validator("moderator_api_keys", "classifier_api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        # The environment holds "key1,key2"; code may pass a list directly.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _check_keys(self) -> StrikeSettings:
        # ConfigError passes through pydantic unwrapped: a ValueError would echo the key in the message.
        from strikes.identity import key_name

        for variable, keys in (
            ("TEGUR_MODERATOR_API_KEYS", self.moderator_api_keys),
            ("TEGUR_CLASSIFIER_API_KEYS", self.classifier_api_keys),
        ):
            for index, entry in enumerate(keys):
                if len(key_name(entry.get_secret_value())[1]) < MIN_KEY_LENGTH:
                    raise ConfigError(
                        f"{variable}: key #{index + 1} is shorter than {MIN_KEY_LENGTH} "
                        "characters; use long random keys, e.g. from "
                        "`python -c 'import secrets; print(secrets.token_urlsafe())'`"
                    )
        moderators = {e.get_secret_value() for e in self.moderator_api_keys}
        classifiers = {e.get_secret_value() for e in self.classifier_api_keys}
        if {key_name(e)[1] for e in moderators} & {key_name(e)[1] for e in classifiers}:
            raise ConfigError(
                "TEGUR_CLASSIFIER_API_KEYS and TEGUR_MODERATOR_API_KEYS share a key; give the classifier "
                "service and human moderators separate keys"
            )
        secret = self.account_token_secret
        if secret is not None and len(secret.get_secret_value()) < 2 * MIN_KEY_LENGTH:
            raise ConfigError(
                f"TEGUR_ACCOUNT_TOKEN_SECRET is shorter than {2 * MIN_KEY_LENGTH} characters; use a long "
                "random secret shared with the platform"
            )
        return self

    def key_entries(self, which: str) -> tuple[str, ...]:
        """The configured ``name=key`` entries of ``moderator`` or ``classifier`` keys."""
        keys = self.moderator_api_keys if which == "moderator" else self.classifier_api_keys
        return tuple(k.get_secret_value() for k in keys)


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
