"""Bearer JWT credentials (SPEC §8): HS256 with a shared secret, or RS256/ES256 via JWKS."""

from __future__ import annotations

import asyncio
import hmac
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from extsched.config import PLACEHOLDER_SECRETS
from extsched.errors import Unauthenticated

PLATFORM_ADMIN = "platform:admin"
EXTENSION_READ = "extension:read"
EXTENSION_WRITE = "extension:write"


@dataclass(frozen=True)
class Principal:
    sub: str
    tenant: str | None
    user_type: Literal["msp", "client"]
    permissions: frozenset[str]

    @property
    def is_client(self) -> bool:
        return self.user_type == "client"


class Authenticator:
    """Verifies tokens; exactly one of ``secret`` (HS256) or ``jwks_url`` is used."""

    def __init__(self, *, secret: str | None, jwks_url: str | None = None) -> None:
        if not secret and not jwks_url:
            raise ValueError("an HS256 secret or a JWKS URL is required")
        self.secret = secret
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None

    async def verify(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("missing Authorization header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("expected 'Authorization: Bearer <token>'")
        token = token.strip()
        try:
            if self._jwks is not None:
                key: Any = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
                algorithms = ["RS256", "ES256"]
            else:
                key, algorithms = self.secret, ["HS256"]
            claims = jwt.decode(
                token, key, algorithms=algorithms, options={"require": ["sub", "exp"]}
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token expired") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated("invalid token") from exc
        return principal_from_claims(claims)


# A tenant id travels in Runner headers (Latin-1, one line) and in backend keys, where ':' is the
# separator; a subject is the audit actor and appears in logs. Anything else is refused up front,
# rather than accepted here and failing every run later.
_TENANT = re.compile(r"[\x21-\x39\x3b-\x7e\xa1-\xff]{1,64}")
_SUBJECT = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,256}")


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    sub, tenant = claims.get("sub"), claims.get("tenant")
    user_type = claims.get("user_type", "msp")
    perms = claims.get("permissions", [])
    if not isinstance(sub, str) or not sub:
        raise Unauthenticated("token has no subject")
    if not _SUBJECT.fullmatch(sub):
        raise Unauthenticated("token has an invalid subject")
    if tenant is not None and (not isinstance(tenant, str) or not _TENANT.fullmatch(tenant)):
        raise Unauthenticated("token has an invalid tenant")
    if user_type not in ("msp", "client"):
        raise Unauthenticated("token has an unknown user_type")
    if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
        raise Unauthenticated("token permissions must be a list of strings")
    return Principal(sub=sub, tenant=tenant, user_type=user_type, permissions=frozenset(perms))


def mint_token(
    secret: str,
    *,
    sub: str,
    tenant: str | None,
    permissions: Iterable[str],
    user_type: str = "msp",
    ttl_seconds: int = 24 * 3600,
    now: float | None = None,
) -> str:
    """An HS256 token, for development and tests."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "user_type": user_type,
        "permissions": sorted(set(permissions)),
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    if tenant is not None:
        claims["tenant"] = tenant
    return jwt.encode(claims, secret, algorithm="HS256")


def runner_token_matches(expected: str | None, given: str | None, *, production: bool) -> bool:
    """The Runner's ``x-runner-auth`` against ``RUNNER_SERVICE_TOKEN``, in constant time. No token
    configured refuses every call, and so does a placeholder token in production."""
    if not expected or given is None:
        return False
    if production and expected.strip().lower() in PLACEHOLDER_SECRETS:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
