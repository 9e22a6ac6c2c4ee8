"""Bearer tokens -> Principal: static API keys (hashed) and, optionally, JWTs.

A token with two dots is read as a JWT (when a public key is configured), anything else
as an API key. Messages say what was wrong with a token, never the token itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from gatewise.gateway.security.keys import hash_key, load_keys
from gatewise.gateway.security.principal import Principal
from gatewise.protos.errors import AuthError, StartupError

log = logging.getLogger("gatewise.security")

ALGORITHMS = ("RS256", "ES256")
LEEWAY_S = 10
"""Clock skew tolerated on ``exp`` and ``nbf``, in seconds."""
MAX_TOKEN_CHARS = 4096
"""Longer is not a key or a sane JWT (grpc itself refuses metadata over 8 KiB)."""


class JwtVerifier:
    """Verifies RS256/ES256 JWTs against one PEM public key; ``sub`` names the principal."""

    def __init__(self, public_key_pem: bytes) -> None:
        try:
            import jwt  # noqa: F401  (checked here so a missing extra fails at start, not per call)
            from cryptography.hazmat.primitives.asymmetric import ec, rsa
            from cryptography.hazmat.primitives.serialization import load_pem_public_key
        except ImportError as exc:
            raise StartupError(
                f"jwt_public_key needs PyJWT with cryptography: pip install 'gatewise[jwt]' ({exc})"
            ) from exc

        try:
            self._key = load_pem_public_key(public_key_pem)
        except ValueError as exc:
            raise StartupError(f"jwt_public_key is not a PEM public key: {exc}") from exc
        # One algorithm, fixed by the key: a token cannot pick another (no alg confusion).
        if isinstance(self._key, rsa.RSAPublicKey):
            self.algorithm = "RS256"
        elif isinstance(self._key, ec.EllipticCurvePublicKey) and self._key.curve.name == "secp256r1":
            self.algorithm = "ES256"
        else:
            raise StartupError(f"jwt_public_key must be an RSA or P-256 EC key for {'/'.join(ALGORITHMS)}")

    def verify(self, token: str) -> Principal:
        import jwt

        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self.algorithm],
                options={"require": ["exp", "sub"]},
                leeway=LEEWAY_S,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("bearer JWT has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"bearer JWT is not valid: {exc}") from exc
        except (TypeError, ValueError) as exc:  # a malformed header or key mismatch inside PyJWT
            raise AuthError(f"bearer JWT is not valid: {type(exc).__name__}") from exc
        models = claims.get("models", [])
        if isinstance(models, str):
            models = [models]
        if not isinstance(models, list) or not all(isinstance(item, str) for item in models):
            raise AuthError("bearer JWT claim 'models' must be a list of model name patterns")
        return Principal(str(claims["sub"]), tuple(models), claims.get("admin") is True, via="jwt")


class Authenticator:
    """Maps the ``authorization`` metadata of a call to its Principal, or raises AuthError."""

    def __init__(self, keys: dict[str, Principal], jwt: JwtVerifier | None = None) -> None:
        self._keys = keys
        self._jwt = jwt

    @classmethod
    def from_files(cls, keys_file: Path | None, jwt_public_key: Path | None) -> Authenticator:
        keys = load_keys(keys_file) if keys_file is not None else {}
        verifier = JwtVerifier(_read_key(jwt_public_key)) if jwt_public_key is not None else None
        log.info("authentication on: %d API key(s)%s", len(keys), ", JWTs verified" if verifier else "")
        return cls(keys, verifier)

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> Principal:
        token = bearer_token(metadata)
        if self._jwt is not None and token.count(".") == 2:
            return self._jwt.verify(token)
        # A dict lookup by digest: timing could at most reveal the hash, which the client
        # already chose by choosing the token; the key file's hashes stay unguessable.
        principal = self._keys.get(hash_key(token))
        if principal is None:
            raise AuthError("unknown API key")
        return principal


def _read_key(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StartupError(f"jwt_public_key {path}: cannot read ({exc.strerror})") from exc


def bearer_token(metadata: Iterable[tuple[str, str | bytes]] | None) -> str:
    """The token of the single ``authorization: Bearer <token>`` entry."""
    values = [value for key, value in metadata or () if key == "authorization"]
    if not values:
        raise AuthError("missing 'authorization: Bearer <token>' metadata")
    if len(values) > 1:
        raise AuthError("more than one 'authorization' metadata entry")
    value = values[0]
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("'authorization' metadata must be 'Bearer <token>'")
    token = token.strip()
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError(f"bearer token is longer than {MAX_TOKEN_CHARS} characters")
    return token
