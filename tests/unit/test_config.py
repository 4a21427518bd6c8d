from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from extsched.config import DEV_JWT_SECRET, Settings, async_url
from extsched.errors import ConfigError
from extsched.secret_box import DEV_SECRETS_KEY


def test_defaults_are_the_embedded_development_setup() -> None:
    s = Settings.from_env({})
    assert s.database_url == "sqlite:///./extsched.db"
    assert s.async_database_url == "sqlite+aiosqlite:///./extsched.db"
    assert s.backend == "embedded"
    assert s.effective_jwt_secret == DEV_JWT_SECRET


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_every_documented_url_form_is_accepted(url: str, expected: str) -> None:
    assert async_url(url) == expected


def test_an_unsupported_database_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="EXTSCHED_DATABASE_URL"):
        Settings.from_env({"EXTSCHED_DATABASE_URL": "mysql://x/y"})


@pytest.mark.parametrize("secret", [None, DEV_JWT_SECRET, "changeme", "secret"])
def test_production_refuses_a_missing_or_placeholder_jwt_secret(secret: str | None) -> None:
    env = {"EXTSCHED_ENV": "production"}
    if secret:
        env["EXTSCHED_JWT_SECRET"] = secret
    with pytest.raises(ConfigError, match="EXTSCHED_JWT_SECRET"):
        Settings.from_env(env)


def test_production_accepts_a_real_secret_and_refuses_a_placeholder_runner_token() -> None:
    env = {
        "EXTSCHED_ENV": "production",
        "EXTSCHED_JWT_SECRET": "k3y-" + "x" * 40,
        "EXTSCHED_SECRETS_KEYS": Fernet.generate_key().decode(),
    }
    assert Settings.from_env(env).effective_jwt_secret == env["EXTSCHED_JWT_SECRET"]
    with pytest.raises(ConfigError, match="RUNNER_SERVICE_TOKEN"):
        Settings.from_env({**env, "RUNNER_SERVICE_TOKEN": "changeme"})


def test_production_has_no_development_secret_fallback() -> None:
    s = Settings(env="production", jwks_url="https://idp.example/jwks")
    assert s.effective_jwt_secret is None


def test_a_bad_number_names_its_variable() -> None:
    with pytest.raises(ConfigError, match="EXT_GATEWAY_TIMEOUT_MS"):
        Settings.from_env({"EXT_GATEWAY_TIMEOUT_MS": "soon"})


@pytest.mark.parametrize(
    "keys", [None, DEV_SECRETS_KEY, f"{Fernet.generate_key().decode()},{DEV_SECRETS_KEY}"]
)
def test_production_refuses_to_start_without_a_secrets_key_of_its_own(keys: str | None) -> None:
    env = {"EXTSCHED_ENV": "production", "EXTSCHED_JWT_SECRET": "k3y-" + "x" * 40}
    if keys:
        env["EXTSCHED_SECRETS_KEYS"] = keys
    with pytest.raises(ConfigError, match="EXTSCHED_SECRETS_KEYS: a key of your own"):
        Settings.from_env(env)


@pytest.mark.parametrize("keys", ["not-a-key", f"{Fernet.generate_key().decode()},short", ","])
def test_a_malformed_secrets_key_names_the_variable(keys: str) -> None:
    with pytest.raises(ConfigError, match="EXTSCHED_SECRETS_KEYS"):
        Settings.from_env({"EXTSCHED_SECRETS_KEYS": keys})


def test_secrets_keys_are_kept_out_of_the_settings_repr() -> None:
    key = Fernet.generate_key().decode()
    settings = Settings.from_env({"EXTSCHED_SECRETS_KEYS": key})
    assert settings.secret_keys == [key]
    assert key not in repr(settings)
