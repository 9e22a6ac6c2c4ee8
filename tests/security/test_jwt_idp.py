"""JWTs as identity providers issue them: issuer, audience lists, lifetime, keys chosen by
``kid`` from a JWKS file, and keys reloaded on SIGHUP; real tokens, real servers."""

from __future__ import annotations

import json
import os
import queue
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from gatewise.gateway.security.tokens import JwtPolicy, JwtVerifier
from gatewise.protos.errors import AuthError, StartupError

from security.harness import add_one_request, bearer, serving, start_cli, stub

ISSUER = "https://idp.example.com/realms/bank"
AUDIENCE = "gatewise"


@dataclass
class SigningKey:
    """A private key, the kid it is published under, and its public JWK."""

    kid: str
    private: Any
    algorithm: str

    @property
    def jwk(self) -> dict[str, Any]:
        from jwt.algorithms import ECAlgorithm, RSAAlgorithm

        codec = RSAAlgorithm if self.algorithm == "RS256" else ECAlgorithm
        return {**codec.to_jwk(self.private.public_key(), as_dict=True), "kid": self.kid, "use": "sig"}

    def sign(self, kid: str | None = "own", lifetime: float = 300, **claims: Any) -> str:
        import jwt

        now = int(time.time())
        payload = {"sub": "svc-risk", "iss": ISSUER, "aud": [AUDIENCE], "iat": now, "exp": now + lifetime,
                   "models": ["*"], **claims}  # fmt: skip
        headers = {"kid": self.kid if kid == "own" else kid} if kid is not None else None
        return jwt.encode({k: v for k, v in payload.items() if v is not None}, self.private, self.algorithm, headers)


def signing_key(kid: str, algorithm: str = "RS256") -> SigningKey:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    private = rsa.generate_private_key(65537, 2048) if algorithm == "RS256" else ec.generate_private_key(ec.SECP256R1())
    return SigningKey(kid, private, algorithm)


def write_jwks(path: Path, *keys: SigningKey, extra: list[dict] | None = None) -> Path:
    path.write_text(json.dumps({"keys": [key.jwk for key in keys] + (extra or [])}))
    return path


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return signing_key("2026-rsa")


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return signing_key("2026-ec", "ES256")


@pytest.fixture
async def channel(repository: Path, tmp_path: Path, rsa_key: SigningKey, ec_key: SigningKey) -> AsyncIterator[Any]:
    jwks = write_jwks(tmp_path / "jwks.json", rsa_key, ec_key)
    settings = dict(jwt_jwks_file=jwks, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_max_lifetime_s=3600)
    async with serving(repository, **settings) as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield channel


async def outcome(channel: Any, token: str) -> str:
    """``OK``, or the refusal's details."""
    try:
        await stub(channel).ModelInfer(add_one_request(), metadata=bearer(token), timeout=10)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAUTHENTICATED, exc.details()
        return exc.details()
    return "OK"


async def test_tokens_an_idp_issues_are_accepted(channel: Any, rsa_key: SigningKey, ec_key: SigningKey) -> None:
    """Each key verifies its own tokens, chosen by kid; an aud list containing ours is fine."""
    assert await outcome(channel, rsa_key.sign()) == "OK"
    assert await outcome(channel, ec_key.sign(aud=["account", AUDIENCE])) == "OK"
    assert await outcome(channel, ec_key.sign(aud=AUDIENCE)) == "OK"


async def test_tokens_not_meant_for_this_gateway_are_refused(
    channel: Any, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    stranger = signing_key("2026-rsa")  # same kid, another key: the signature fails
    cases = {
        rsa_key.sign(iss="https://evil.example.com"): "not issued by the configured issuer",
        rsa_key.sign(iss=None): '"iss"',
        rsa_key.sign(aud=["account"]): "not meant for this audience",
        rsa_key.sign(aud=None): '"aud"',
        rsa_key.sign(lifetime=7200): "over the 3600 s allowed",
        rsa_key.sign(iat=None, lifetime=7200): "expires more than 3600 s from now",
        rsa_key.sign(kid="2025-retired"): "key id '2025-retired' is not among the configured keys",
        rsa_key.sign(kid=None): "no 'kid' header and several keys",
        rsa_key.sign(kid=ec_key.kid): "not valid",  # signed by RSA, presented as the EC key
        stranger.sign(): "Signature verification failed",
        rsa_key.sign(lifetime=-60): "expired",
    }
    for token, message in cases.items():
        assert message in await outcome(channel, token), message


async def test_without_a_configured_audience_tokens_with_aud_are_accepted(
    repository: Path, tmp_path: Path, rsa_key: SigningKey
) -> None:
    """IdP tokens always carry aud: unset, it is not checked (and the server warned at start)."""
    jwks = write_jwks(tmp_path / "jwks.json", rsa_key)
    async with serving(repository, jwt_jwks_file=jwks) as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            assert await outcome(channel, rsa_key.sign(aud=["some-other-api"], iss="anyone")) == "OK"
            assert await outcome(channel, rsa_key.sign(kid=None)) == "OK"  # the only key
            assert "over the 86400 s allowed" in await outcome(channel, rsa_key.sign(lifetime=90000))


def test_jwks_files_that_cannot_verify_are_refused_at_start(tmp_path: Path, rsa_key: SigningKey) -> None:
    secret = {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}
    cases = {
        '{"keys": []}': "at least one key",
        "not json": "is not JSON",
        json.dumps({"keys": [secret]}): "uses HS256",
        json.dumps({"keys": [{k: v for k, v in rsa_key.jwk.items() if k != "kid"}]}): "has no 'kid'",
        json.dumps({"keys": [rsa_key.jwk, rsa_key.jwk]}): "is used twice",
        json.dumps({"keys": [{**rsa_key.jwk, "use": "enc"}]}): "has no signing key",
    }
    for text, message in cases.items():
        path = tmp_path / "jwks.json"
        path.write_text(text)
        with pytest.raises(StartupError, match=message):
            JwtVerifier.from_files(None, path, JwtPolicy())


def test_a_pem_key_verifies_tokens_without_a_kid_beside_a_jwks(tmp_path: Path, rsa_key: SigningKey) -> None:
    from cryptography.hazmat.primitives import serialization

    pem_key = signing_key("pem", "ES256")
    pem = tmp_path / "jwt.pem"
    pem.write_bytes(pem_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    verifier = JwtVerifier.from_files(pem, write_jwks(tmp_path / "jwks.json", rsa_key), JwtPolicy())
    assert verifier.verify(pem_key.sign(kid=None)).name == "svc-risk"
    assert verifier.verify(rsa_key.sign()).via == "jwt"
    with pytest.raises(AuthError, match="not among the configured keys"):
        verifier.verify(pem_key.sign())  # its kid "pem" is not in the JWKS


# ------------------------------------------------------------------ SIGHUP on a real process


def wait_for_log(server: Any, text: str, count: int = 1, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while server.log().count(text) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged {count} time(s):\n{server.log()}")
        time.sleep(0.05)


def call(url: str, token: str) -> grpc.StatusCode:
    with grpc.insecure_channel(url) as channel:
        try:
            stub(channel).ModelInfer(add_one_request(), metadata=bearer(token), timeout=10)
        except grpc.RpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def test_sighup_reloads_keys_and_jwks_without_a_restart(repository: Path, tmp_path: Path) -> None:
    """Rotate the API key file and the JWKS, send SIGHUP to the server process: new credentials
    work, old ones are refused, a stream opened before keeps being answered, the process is the
    same; a broken file on a later SIGHUP keeps the credentials in force."""
    from gatewise.gateway.security import hash_key, new_token
    from gatewise.gateway.security.keys import entry_toml

    old_key, new_key = new_token(), new_token()
    old_jwt, new_jwt = signing_key("k1"), signing_key("k2", "ES256")
    keys, jwks = tmp_path / "keys.toml", write_jwks(tmp_path / "jwks.json", old_jwt)
    keys.write_text(entry_toml("alice", hash_key(old_key), ["*"], admin=False))
    keys.chmod(0o600)
    server = start_cli(repository, tmp_path / "server.log", "--auth-keys-file", str(keys), "--jwt-jwks-file",
                       str(jwks), "--jwt-issuer", ISSUER, "--jwt-audience", AUDIENCE)  # fmt: skip
    try:
        assert call(server.url, old_key) == grpc.StatusCode.OK
        assert call(server.url, old_jwt.sign()) == grpc.StatusCode.OK
        with grpc.insecure_channel(server.url) as channel:
            feed = _Feed()
            stream = stub(channel).ModelStreamInfer(iter(feed), metadata=bearer(old_key), timeout=60)
            feed.put(add_one_request(id="before"))
            assert next(stream).infer_response.id == "before"

            keys.write_text(entry_toml("bob", hash_key(new_key), ["*"], admin=False))
            write_jwks(jwks, new_jwt)
            os.kill(server.process.pid, signal.SIGHUP)
            wait_for_log(server, "credentials reloaded: 1 API key(s), 1 JWT key(s)")

            feed.put(add_one_request(id="after"))  # admitted with the old key, before the reload
            assert next(stream).infer_response.id == "after"
            feed.close()
        assert call(server.url, old_key) == grpc.StatusCode.UNAUTHENTICATED
        assert call(server.url, old_jwt.sign()) == grpc.StatusCode.UNAUTHENTICATED
        assert call(server.url, new_key) == grpc.StatusCode.OK
        assert call(server.url, new_jwt.sign()) == grpc.StatusCode.OK

        keys.write_text("[[keys]]\nname = \n")
        os.kill(server.process.pid, signal.SIGHUP)
        wait_for_log(server, "credentials not reloaded, the previous ones stay in use")
        assert "not valid TOML" in server.log()
        assert call(server.url, new_key) == grpc.StatusCode.OK
        assert server.process.poll() is None
    finally:
        assert server.stop() == 0


class _Feed:
    """A request iterator the test feeds one message at a time (the stream stays open between)."""

    _END = object()

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()

    def put(self, request: Any) -> None:
        self._queue.put(request)

    def close(self) -> None:
        self._queue.put(self._END)

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> Any:
        item = self._queue.get(timeout=60)
        if item is self._END:
            raise StopIteration
        return item


def test_sighup_reaches_every_worker(repository: Path, tmp_path: Path) -> None:
    """With --workers 2 the parent passes SIGHUP on: both workers reload, and the new key
    works whichever worker the kernel hands the connection to."""
    from gatewise.gateway.security import hash_key, new_token
    from gatewise.gateway.security.keys import entry_toml

    old_key, new_key = new_token(), new_token()
    keys = tmp_path / "keys.toml"
    keys.write_text(entry_toml("alice", hash_key(old_key), ["*"], admin=False))
    keys.chmod(0o600)
    server = start_cli(repository, tmp_path / "server.log", "--auth-keys-file", str(keys), "--workers", "2")
    try:
        wait_for_log(server, "server ready", count=2)
        keys.write_text(entry_toml("bob", hash_key(new_key), ["*"], admin=False))
        os.kill(server.process.pid, signal.SIGHUP)
        wait_for_log(server, "credentials reloaded: 1 API key(s)", count=2)
        assert {call(server.url, new_key) for _ in range(6)} == {grpc.StatusCode.OK}
        assert {call(server.url, old_key) for _ in range(6)} == {grpc.StatusCode.UNAUTHENTICATED}
    finally:
        assert server.stop() == 0
