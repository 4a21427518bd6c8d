"""Field rules for schedules other than cron (SPEC §5); pure, each with a stable message."""

from __future__ import annotations

import json
import zoneinfo
from functools import lru_cache
from importlib import resources
from typing import Any

MAX_TIMEZONE_LENGTH = 64
MAX_NAME_LENGTH = 128
MAX_PAYLOAD_CHARS = 100_000
MAX_ATTEMPTS_RANGE = (1, 5)
JITTER_RANGE = (0, 300)
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_JITTER_SECONDS = 0

CREDENTIAL_KEYS = (
    "password",
    "passwd",
    "secret",
    "clientsecret",
    "token",
    "accesstoken",
    "apikey",
    "accesskey",
    "privatekey",
    "authorization",
)
SECRETS_HINT = "store credentials as install secrets (PUT /api/v1/extensions/{id}/secrets)"


class RuleViolation(ValueError):
    """A field value breaks a rule; ``str()`` is the stable, user-facing message."""


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    """The IANA database's keys (links included), by lower-case spelling. Taken from the tzdata
    package's list rather than the system's zone files, which also hold names such as
    ``localtime`` that mean whatever the host is set to."""
    listed = resources.files("tzdata").joinpath("zones").read_text().split()
    loadable = zoneinfo.available_timezones()
    return {key.lower(): key for key in listed if key in loadable}


def time_zones() -> list[str]:
    """Every key ``canonical_timezone`` accepts, in the database's spelling, sorted."""
    return sorted(_zones().values())


def canonical_timezone(raw: Any) -> str:
    """The IANA key in the database's own spelling; links such as US/Eastern are kept as links."""
    if not isinstance(raw, str) or not raw.strip():
        raise RuleViolation("timezone is required")
    if len(raw) > MAX_TIMEZONE_LENGTH:
        raise RuleViolation(f"timezone must be at most {MAX_TIMEZONE_LENGTH} characters")
    key = _zones().get(raw.strip().lower())
    if key is None:
        raise RuleViolation(
            f"unknown time zone '{raw.strip()}' (use an IANA name like Europe/Paris)"
        )
    return key


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _credential_key(value: Any, path: str = "") -> str | None:
    if isinstance(value, dict):
        for key, child in value.items():
            normalized = str(key).lower().replace("-", "").replace("_", "")
            here = f"{path}.{key}" if path else str(key)
            if any(normalized == c or normalized.endswith(c) for c in CREDENTIAL_KEYS):
                return here
            found = _credential_key(child, here)
            if found:
                return found
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found = _credential_key(child, f"{path}[{i}]")
            if found:
                return found
    return None


def check_payload(payload: Any, method: str | None) -> None:
    """A JSON object or array within the size cap, never on GET, without credential-like keys."""
    if payload is None:
        return
    if not isinstance(payload, dict | list):
        raise RuleViolation("payloadJson must be a JSON object or array")
    if method is not None and method.upper() == "GET":
        raise RuleViolation("GET endpoints take no payload (a GET request has no body)")
    if len(compact_json(payload)) > MAX_PAYLOAD_CHARS:
        raise RuleViolation(
            f"payloadJson must be at most {MAX_PAYLOAD_CHARS} characters as compact JSON"
        )
    key = _credential_key(payload)
    if key is not None:
        raise RuleViolation(f"payloadJson key '{key}' looks like a credential; {SECRETS_HINT}")


def normalize_name(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise RuleViolation("name must be a string")
    name = raw.strip()
    if not name:
        return None
    if len(name) > MAX_NAME_LENGTH:
        raise RuleViolation(f"name must be at most {MAX_NAME_LENGTH} characters")
    return name


def check_int(raw: Any, field: str, bounds: tuple[int, int]) -> int:
    low, high = bounds
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise RuleViolation(f"{field} must be a whole number from {low} to {high}")
    return raw


def check_bool(raw: Any, field: str) -> bool:
    if not isinstance(raw, bool):
        raise RuleViolation(f"{field} must be true or false")
    return raw
