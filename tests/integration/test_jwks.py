"""RS256 tokens verified against a JWKS served over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from extsched.auth import Authenticator
from extsched.errors import Unauthenticated


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_url(rsa_key: rsa.RSAPrivateKey) -> Iterator[str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


def _token(key: rsa.RSAPrivateKey, kid: str = "k1") -> str:
    now = int(time.time())
    claims = {
        "sub": "u",
        "tenant": "t",
        "permissions": ["extension:read"],
        "iat": now,
        "exp": now + 60,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


async def test_a_token_signed_by_a_jwks_key_is_accepted(
    jwks_url: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    auth = Authenticator(secret=None, jwks_url=jwks_url)
    p = await auth.verify(f"Bearer {_token(rsa_key)}")
    assert (p.sub, p.tenant, p.permissions) == ("u", "t", frozenset({"extension:read"}))


async def test_a_token_signed_by_another_key_is_refused(jwks_url: str) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    auth = Authenticator(secret=None, jwks_url=jwks_url)
    with pytest.raises(Unauthenticated):
        await auth.verify(f"Bearer {_token(other)}")
    with pytest.raises(Unauthenticated):
        await auth.verify(f"Bearer {_token(other, kid='unknown')}")


@pytest.mark.reliability(
    fault="JWT algorithm confusion (HS256 keyed with the RSA public key)",
    guarantee="refused",
)
async def test_an_hs256_token_keyed_with_the_public_key_is_refused(
    jwks_url: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    """The algorithm-confusion trick: an HMAC signed with the (public) RSA key as its secret."""
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {"sub": "u", "tenant": "t", "permissions": ["extension:read"], "exp": now + 60}
    header = {"alg": "HS256", "typ": "JWT", "kid": "k1"}

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(signature)}"
    with pytest.raises(Unauthenticated):
        await Authenticator(secret=None, jwks_url=jwks_url).verify(f"Bearer {forged}")


async def test_an_rs256_token_is_refused_where_hs256_is_configured(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    with pytest.raises(Unauthenticated):
        await Authenticator(secret="a-shared-secret-0123456789-0123456789").verify(
            f"Bearer {_token(rsa_key)}"
        )
