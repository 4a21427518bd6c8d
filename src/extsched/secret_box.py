"""Install secrets at rest: sealed with a key from the environment, opened only for the Runner.

``EXTSCHED_SECRETS_KEYS`` holds one or more Fernet keys, comma-separated: the first seals, every
one opens, so a key is rotated by putting the new one first, running ``extsched secrets rotate``
(which re-seals every stored envelope with it) and then dropping the old one. Envelopes written
before secrets were sealed (format v1, plain values) are still opened, and sealed by the rotation.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SEALED = "extsched.secrets.v2"
PLAIN = "extsched.secrets.v1"  # what the Runner receives, and what was stored before sealing

# Development only: a production process refuses to start with it (config.Settings.check).
DEV_SECRETS_KEY = base64.urlsafe_b64encode(
    hashlib.sha256(b"extsched-development-only-secrets-key").digest()
).decode()


class SecretsUnreadable(Exception):
    """An envelope that none of the configured keys opens."""


def parse_keys(raw: str) -> list[str]:
    """The keys of ``EXTSCHED_SECRETS_KEYS``; ValueError naming the first one that is not a key."""
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        raise ValueError("no key given")
    for i, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ValueError(
                f"key {i} is not a Fernet key (32 bytes, url-safe base64; "
                "`extsched secrets new-key` makes one)"
            ) from None
    return keys


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def seal(self, values: dict[str, str]) -> dict[str, Any]:
        token = self._fernet.encrypt(orjson.dumps(values))
        return {"format": SEALED, "ciphertext": token.decode()}

    def open(self, envelope: dict[str, Any] | None) -> dict[str, Any] | None:
        """The envelope as the Runner receives it: ``{format: v1, values}``; None for none."""
        if not envelope:
            return None
        if envelope.get("format") == PLAIN:
            return envelope
        try:
            values = orjson.loads(self._fernet.decrypt(envelope["ciphertext"].encode()))
        except (InvalidToken, KeyError, AttributeError) as exc:
            raise SecretsUnreadable("no configured key opens the install's secrets") from exc
        return {"format": PLAIN, "values": values}

    def reseal(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """The same secrets sealed with the first key (rotation; plain envelopes get sealed)."""
        if envelope.get("format") == PLAIN:
            return self.seal(envelope["values"])
        try:
            token = self._fernet.rotate(envelope["ciphertext"].encode())
        except (InvalidToken, KeyError, AttributeError) as exc:
            raise SecretsUnreadable("no configured key opens the install's secrets") from exc
        return {"format": SEALED, "ciphertext": token.decode()}
