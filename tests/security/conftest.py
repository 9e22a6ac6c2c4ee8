"""Fixtures for the security tests: a PKI, a key file with two principals, JWT signing keys."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from gatewise.gateway.security import hash_key, new_token
from gatewise.gateway.security.keys import entry_toml

from security.harness import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@dataclass
class Keys:
    """A key file and the plain tokens it was made from."""

    path: Path
    alice: str
    """May call add-one and tiny-* models."""
    admin: str
    """May call every model and load/unload them."""


@pytest.fixture
def keys(tmp_path: Path) -> Keys:
    alice, admin = new_token(), new_token()
    path = tmp_path / "keys.toml"
    path.write_text(
        entry_toml("alice", hash_key(alice), ["add-one", "tiny-*"], admin=False)
        + "\n"
        + entry_toml("ops", hash_key(admin), ["*"], admin=True)
    )
    path.chmod(0o600)  # the server refuses a key file others may read
    return Keys(path, alice, admin)


@dataclass
class JwtSigner:
    """Signs tokens with a private key whose public half is in ``public_key``."""

    private_key: Any
    public_key: Path
    algorithm: str

    def sign(self, sub: str = "svc-retail", models: Any = ("add-one",), expires_in: float = 300, **claims: Any) -> str:
        import jwt

        payload = {"sub": sub, "exp": int(time.time() + expires_in), **claims}
        if models is not None:
            payload["models"] = list(models) if not isinstance(models, str) else models
        return jwt.encode(payload, self.private_key, algorithm=self.algorithm)


def _signer(folder: Path, algorithm: str) -> JwtSigner:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = rsa.generate_private_key(65537, 2048) if algorithm == "RS256" else ec.generate_private_key(ec.SECP256R1())
    path = folder / f"jwt-{algorithm}.pub.pem"
    path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return JwtSigner(key, path, algorithm)


@pytest.fixture(scope="session", params=["RS256", "ES256"])
def jwt_signer(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> JwtSigner:
    return _signer(tmp_path_factory.mktemp("jwt"), request.param)


@pytest.fixture(scope="session")
def other_signer(tmp_path_factory: pytest.TempPathFactory) -> JwtSigner:
    """A key the server does not trust."""
    return _signer(tmp_path_factory.mktemp("jwt-other"), "ES256")
