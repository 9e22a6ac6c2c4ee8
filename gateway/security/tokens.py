"""Bearer tokens -> Principal: static API keys (hashed) and JWTs as identity providers issue them.

A token with two dots is read as a JWT (when JWT keys are configured), anything else as an
API key. Messages say what was wrong with a token, never the token itself.

JWT keys come from a PEM public key (``jwt_public_key``) and/or a JWKS file
(``jwt_jwks_file``). With a JWKS, the token's ``kid`` header picks the key; a token without
``kid`` is verified by the PEM key, or by the JWKS's only key. Each key fixes its own
algorithm (no algorithm confusion) and only asymmetric ones are accepted. Claims: ``exp``
and ``sub`` are required; ``iss`` must equal ``jwt_issuer`` and ``aud`` contain
``jwt_audience`` where those are set; a lifetime (``exp - iat``, and ``exp`` from now) over
``jwt_max_lifetime_s`` is refused. Without ``jwt_audience`` the ``aud`` claim is not checked
(an IdP's tokens carry one; refusing them all would leave JWTs unusable), which the server
warns about at start.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gatewise.gateway.security.files import check_private
from gatewise.gateway.security.keys import hash_key, load_keys
from gatewise.gateway.security.principal import Principal
from gatewise.protos.errors import AuthError, StartupError

if TYPE_CHECKING:
    from gatewise.gateway.settings import ServerSettings

log = logging.getLogger("gatewise.security")

ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
"""Asymmetric algorithms only: a shared (HMAC) secret on the gateway could mint tokens."""
LEEWAY_S = 10
"""Clock skew tolerated on ``exp``, ``nbf`` and ``iat``, in seconds."""
MAX_TOKEN_CHARS = 4096
"""Longer is not a key or a sane JWT (grpc itself refuses metadata over 8 KiB)."""


@dataclass(frozen=True)
class JwtKey:
    """One verification key and the one algorithm it verifies."""

    key: Any
    algorithm: str


@dataclass(frozen=True)
class JwtPolicy:
    """The claims every token must satisfy."""

    issuer: str | None = None
    audience: str | None = None
    max_lifetime_s: float = 86400.0


class JwtVerifier:
    """Verifies JWTs against a PEM key and/or a JWKS; ``sub`` names the principal."""

    def __init__(
        self, default: JwtKey | None = None, by_kid: dict[str, JwtKey] | None = None, policy: JwtPolicy | None = None
    ) -> None:
        self.default = default
        self.by_kid = by_kid or {}
        self.policy = policy or JwtPolicy()
        if default is None and not self.by_kid:
            raise StartupError("JWT verification needs jwt_public_key or jwt_jwks_file")

    @classmethod
    def from_files(cls, public_key: Path | None, jwks_file: Path | None, policy: JwtPolicy) -> JwtVerifier:
        _require_pyjwt()
        default = _pem_key(public_key) if public_key is not None else None
        by_kid = _jwks_keys(jwks_file) if jwks_file is not None else {}
        return cls(default, by_kid, policy)

    @property
    def key_count(self) -> int:
        return len(self.by_kid) + (self.default is not None)

    def _key_for(self, token: str) -> JwtKey:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"bearer JWT is not valid: {exc}") from exc
        kid = header.get("kid")
        if not self.by_kid:  # one PEM key verifies every token, whatever its kid
            assert self.default is not None
            return self.default
        if kid is None:
            if self.default is not None:
                return self.default
            if len(self.by_kid) == 1:
                return next(iter(self.by_kid.values()))
            raise AuthError("bearer JWT has no 'kid' header and several keys are configured")
        key = self.by_kid.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise AuthError(f"bearer JWT's key id {str(kid)[:64]!r} is not among the configured keys")
        return key

    def verify(self, token: str) -> Principal:
        import jwt

        key = self._key_for(token)
        policy = self.policy
        required = ["exp", "sub"] + (["iss"] if policy.issuer else []) + (["aud"] if policy.audience else [])
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                issuer=policy.issuer,
                audience=policy.audience,
                options={"require": required, "verify_aud": policy.audience is not None},
                leeway=LEEWAY_S,
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("bearer JWT has expired") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthError("bearer JWT was not issued by the configured issuer") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError("bearer JWT is not meant for this audience") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"bearer JWT is not valid: {exc}") from exc
        except (TypeError, ValueError) as exc:  # a malformed header or key mismatch inside PyJWT
            raise AuthError(f"bearer JWT is not valid: {type(exc).__name__}") from exc
        _check_lifetime(claims, policy.max_lifetime_s)
        models = claims.get("models", [])
        if isinstance(models, str):
            models = [models]
        if not isinstance(models, list) or not all(isinstance(item, str) for item in models):
            raise AuthError("bearer JWT claim 'models' must be a list of model name patterns")
        return Principal(str(claims["sub"]), tuple(models), claims.get("admin") is True, via="jwt")


def _check_lifetime(claims: dict[str, Any], max_lifetime_s: float) -> None:
    """A stolen long-lived token stays useful for long: refuse lifetimes over the maximum."""
    exp = claims["exp"]
    iat = claims.get("iat")
    if isinstance(iat, int | float) and exp - iat > max_lifetime_s:
        raise AuthError(f"bearer JWT lives {exp - iat:.0f} s (exp - iat), over the {max_lifetime_s:.0f} s allowed")
    if exp - time.time() > max_lifetime_s + LEEWAY_S:
        raise AuthError(f"bearer JWT expires more than {max_lifetime_s:.0f} s from now, over the lifetime allowed")


def _require_pyjwt() -> None:
    try:
        import jwt  # noqa: F401  (checked here so a missing extra fails at start, not per call)
        from cryptography.hazmat.primitives.asymmetric import ec  # noqa: F401
    except ImportError as exc:
        raise StartupError(
            f"JWT verification needs PyJWT with cryptography: pip install 'gatewise[jwt]' ({exc})"
        ) from exc


def _pem_key(path: Path) -> JwtKey:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(_read("jwt_public_key", path))
    except ValueError as exc:
        raise StartupError(f"jwt_public_key {path} is not a PEM public key: {exc}") from exc
    if isinstance(key, rsa.RSAPublicKey):
        return JwtKey(key, "RS256")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
        return JwtKey(key, "ES256")
    raise StartupError(f"jwt_public_key {path} must be an RSA or P-256 EC key (RS256/ES256)")


def _jwks_keys(path: Path) -> dict[str, JwtKey]:
    """kid -> key for every signing key of a JWKS file; StartupError names what is wrong."""
    import jwt

    try:
        data = json.loads(_read("jwt_jwks_file", path))
    except json.JSONDecodeError as exc:
        raise StartupError(f"jwt_jwks_file {path} is not JSON: {exc}") from exc
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise StartupError(f'jwt_jwks_file {path} must be a JWKS: {{"keys": [...]}} with at least one key')
    keys: dict[str, JwtKey] = {}
    for index, entry in enumerate(entries):
        where = f"jwt_jwks_file {path}: keys[{index}]"
        if not isinstance(entry, dict):
            raise StartupError(f"{where} must be an object")
        if entry.get("use", "sig") != "sig":
            continue  # an encryption key published beside the signing ones
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            raise StartupError(f"{where} has no 'kid' (a token names its key by kid)")
        if kid in keys:
            raise StartupError(f"{where}: kid {kid!r} is used twice")
        try:
            jwk = jwt.PyJWK(entry)
        except jwt.PyJWTError as exc:
            raise StartupError(f"{where} ({kid!r}) is not a usable key: {exc}") from exc
        if jwk.algorithm_name not in ALGORITHMS:
            raise StartupError(
                f"{where} ({kid!r}) uses {jwk.algorithm_name}; accepted: {', '.join(sorted(ALGORITHMS))}"
            )
        keys[kid] = JwtKey(jwk.key, jwk.algorithm_name)
    if not keys:
        raise StartupError(f"jwt_jwks_file {path} has no signing key")
    return keys


class Authenticator:
    """Maps the ``authorization`` metadata of a call to its Principal, or raises AuthError."""

    def __init__(self, keys: dict[str, Principal], jwt: JwtVerifier | None = None) -> None:
        self._keys = keys
        self._jwt = jwt

    @classmethod
    def from_files(
        cls,
        keys_file: Path | None,
        jwt_public_key: Path | None,
        jwks_file: Path | None = None,
        policy: JwtPolicy | None = None,
    ) -> Authenticator:
        """Read every credential file; StartupError (KeyFileError) names the first bad one."""
        if keys_file is not None:
            check_private("auth_keys_file", keys_file)
        keys = load_keys(keys_file) if keys_file is not None else {}
        verifier = None
        if jwt_public_key is not None or jwks_file is not None:
            verifier = JwtVerifier.from_files(jwt_public_key, jwks_file, policy or JwtPolicy())
        return cls(keys, verifier)

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> Authenticator | None:
        """The server's authenticator, or None when no API keys or JWT keys are configured."""
        if settings.auth_keys_file is None and settings.jwt_public_key is None and settings.jwt_jwks_file is None:
            return None
        policy = JwtPolicy(settings.jwt_issuer, settings.jwt_audience, settings.jwt_max_lifetime_s)
        return cls.from_files(settings.auth_keys_file, settings.jwt_public_key, settings.jwt_jwks_file, policy)

    def describe(self) -> str:
        """What it accepts, for the log: counts, never keys."""
        jwt = f", {self._jwt.key_count} JWT key(s)" if self._jwt else ""
        return f"{len(self._keys)} API key(s){jwt}"

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


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StartupError(f"{setting} {path}: cannot read ({exc.strerror})") from exc


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
