"""Process settings, built once from an injected environment mapping.

Nothing reads ``os.environ`` at import time: ``Settings.from_env(os.environ)`` is called by the CLI,
and tests pass their own mapping. A bad value fails fast and names the variable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from extsched.errors import ConfigError
from extsched.secret_box import DEV_SECRETS_KEY, parse_keys

# Secrets that ship in docs and examples; a production process refuses to start with any of them.
DEV_JWT_SECRET = "extsched-development-only-secret"
PLACEHOLDER_SECRETS = frozenset(
    {
        DEV_JWT_SECRET,
        "",
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "password",
        "dev",
        "development",
        "test",
        "placeholder",
        "your-secret-here",
    }
)

_ENV_NAMES: dict[str, str] = {
    "database_url": "EXTSCHED_DATABASE_URL",
    "env": "EXTSCHED_ENV",
    "jwt_secret": "EXTSCHED_JWT_SECRET",
    "jwks_url": "EXTSCHED_JWKS_URL",
    "backend": "EXTSCHED_BACKEND",
    "runner_base_url": "RUNNER_BASE_URL",
    "runner_service_token": "RUNNER_SERVICE_TOKEN",
    "gateway_timeout_ms": "EXT_GATEWAY_TIMEOUT_MS",
    "runner_max_response_bytes": "EXT_RUNNER_MAX_RESPONSE_BYTES",
    "gateway_rate_burst": "EXT_GATEWAY_RATE_BURST",
    "gateway_rate_per_second": "EXT_GATEWAY_RATE_PER_SECOND",
    "max_schedules_per_install": "EXTSCHED_MAX_SCHEDULES_PER_INSTALL",
    "max_schedules_per_tenant": "EXTSCHED_MAX_SCHEDULES_PER_TENANT",
    "catchup_window_seconds": "EXTSCHED_CATCHUP_WINDOW_SECONDS",
    "log_level": "EXTSCHED_LOG_LEVEL",
    "worker_concurrency": "EXTSCHED_WORKER_CONCURRENCY",
    "auto_disable_after_failures": "EXTSCHED_AUTO_DISABLE_AFTER_FAILURES",
    "max_body_bytes": "EXTSCHED_MAX_BODY_BYTES",
    "secrets_keys": "EXTSCHED_SECRETS_KEYS",
    "temporal_address": "TEMPORAL_ADDRESS",
    "temporal_namespace": "TEMPORAL_NAMESPACE",
    "temporal_task_queue": "TEMPORAL_TASK_QUEUE",
}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = "sqlite:///./extsched.db"
    env: Literal["development", "production"] = "development"
    jwt_secret: str | None = None
    jwks_url: str | None = None
    backend: Literal["embedded", "temporal"] = "embedded"
    runner_base_url: str = "http://127.0.0.1:8080"
    runner_service_token: str | None = None
    gateway_timeout_ms: int = Field(default=30_000, ge=100, le=600_000)
    runner_max_response_bytes: int = Field(default=262_144, ge=1024)
    gateway_rate_burst: int = Field(default=100, ge=1)
    gateway_rate_per_second: float = Field(default=20.0, gt=0)
    max_schedules_per_install: int = Field(default=50, ge=1)
    max_schedules_per_tenant: int = Field(default=500, ge=1)
    catchup_window_seconds: int = Field(default=600, ge=0)
    log_level: str = "INFO"
    worker_concurrency: int = Field(default=256, ge=1, le=10_000)
    auto_disable_after_failures: int | None = Field(default=None, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    secrets_keys: str | None = Field(default=None, repr=False)
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    temporal_task_queue: str = "extsched"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        values = {field: env[name] for field, name in _ENV_NAMES.items() if env.get(name)}
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else ""
            raise ConfigError(f"{_ENV_NAMES.get(field, field)}: {first['msg']}") from exc
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse unusable settings, and those only safe on a developer's machine."""
        async_url(self.database_url)
        if self.secrets_keys is not None:
            try:
                parse_keys(self.secrets_keys)
            except ValueError as exc:
                raise ConfigError(f"EXTSCHED_SECRETS_KEYS: {exc}") from None
        if self.env != "production":
            return
        if not self.jwks_url and (self.jwt_secret or "").strip().lower() in PLACEHOLDER_SECRETS:
            raise ConfigError(
                "EXTSCHED_JWT_SECRET: a real secret (or EXTSCHED_JWKS_URL) is required in production"
            )
        if self.runner_service_token is not None and (
            self.runner_service_token.strip().lower() in PLACEHOLDER_SECRETS
        ):
            raise ConfigError("RUNNER_SERVICE_TOKEN: placeholder tokens are refused in production")
        if self.secrets_keys is None or DEV_SECRETS_KEY in parse_keys(self.secrets_keys):
            raise ConfigError(
                "EXTSCHED_SECRETS_KEYS: a key of your own is required in production "
                "(install secrets are encrypted with it)"
            )

    @property
    def effective_jwt_secret(self) -> str | None:
        if self.jwt_secret:
            return self.jwt_secret
        return DEV_JWT_SECRET if self.env == "development" else None

    @property
    def secret_keys(self) -> list[str]:
        """The keys install secrets are sealed (first) and opened with."""
        if self.secrets_keys is None:
            return [DEV_SECRETS_KEY]  # development only: check() refuses this in production
        return parse_keys(self.secrets_keys)

    @property
    def async_database_url(self) -> str:
        """The URL with the driver this service uses, whatever form the operator wrote."""
        return async_url(self.database_url)


def async_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ConfigError(f"EXTSCHED_DATABASE_URL: not a URL: {url!r}")
    base = scheme.split("+", 1)[0]
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if base in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    raise ConfigError(f"EXTSCHED_DATABASE_URL: unsupported database {scheme!r}")
