"""Shared by tests/security and tests/reliability: an in-process gateway, a CLI server
that may speak TLS, a throwaway PKI and request builders."""

from __future__ import annotations

import datetime
import ipaddress
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from gatewise.gateway.server import GatewayServer
from gatewise.gateway.settings import ServerSettings
from gatewise.plugins.manager import PluginManager
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import RunningServer, free_port, start_server  # noqa: F401 - tests/conftest.py (free_port re-exported)


@asynccontextmanager
async def serving(
    repository: Path, plugins: PluginManager | None = None, **settings: Any
) -> AsyncIterator[GatewayServer]:
    """A GatewayServer on a free loopback port in this event loop; stopped on exit."""
    server = GatewayServer(
        ServerSettings(**{"repository": repository, "grpc_port": 0, "grace_period_s": 5, **settings}),
        plugins or PluginManager(entry_points=False),
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def stub(channel: grpc.aio.Channel | grpc.Channel) -> pb_grpc.GRPCInferenceServiceStub:
    return pb_grpc.GRPCInferenceServiceStub(channel)


def add_one_request(model: str = "add-one", rows: int = 2, value: float = 1.0, **fields: Any) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, **fields)
    request.inputs.add(name="x", datatype="FP32", shape=[rows, 4])
    request.raw_input_contents.append(np.full((rows, 4), value, dtype=np.float32).tobytes())
    return request


def text_request(*texts: bytes, model: str = "tiny-sentiment", **fields: Any) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, **fields)
    request.inputs.add(name="text", datatype="BYTES", shape=[len(texts)])
    request.raw_input_contents.append(b"".join(struct.pack("<I", len(text)) + text for text in texts))
    return request


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _with(details: grpc.aio.ClientCallDetails, metadata: tuple[tuple[str, str], ...]) -> grpc.aio.ClientCallDetails:
    return details._replace(metadata=grpc.aio.Metadata(*(tuple(details.metadata or ())), *metadata))


class _UnaryBearer(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.metadata = metadata

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(_with(details, self.metadata), request)


class _StreamBearer(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self.metadata = metadata

    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(_with(details, self.metadata), requests)


def authorised_channel(target: str, metadata: tuple[tuple[str, str], ...]) -> grpc.aio.Channel:
    """A plaintext channel that sends ``metadata`` (a bearer token) with every call."""
    return grpc.aio.insecure_channel(target, interceptors=[_UnaryBearer(metadata), _StreamBearer(metadata)])


# ------------------------------------------------------------------ a server process


def start_cli(
    repository: Path, log_path: Path, *flags: str, credentials: grpc.ChannelCredentials | None = None
) -> RunningServer:
    """``gatewise serve`` in a subprocess; ready once health says SERVING (health needs no token)."""

    def health_serving(url: str) -> bool:
        return health_status(url, credentials) == health_pb2.HealthCheckResponse.SERVING

    return start_server(repository, log_path, *flags, ready=health_serving)


def health_status(url: str, credentials: grpc.ChannelCredentials | None = None, service: str = "") -> int | None:
    channel = grpc.secure_channel(url, credentials) if credentials else grpc.insecure_channel(url)
    with channel:
        try:
            request = health_pb2.HealthCheckRequest(service=service)
            return health_pb2_grpc.HealthStub(channel).Check(request, timeout=2).status
        except grpc.RpcError:
            return None


# ------------------------------------------------------------------ a throwaway PKI


@dataclass
class Pki:
    """PEM files: a CA, a server certificate for 127.0.0.1, a client it signed, a stranger."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path
    rogue_key: Path

    def client_credentials(self, *, cert: bool = False, rogue: bool = False) -> grpc.ChannelCredentials:
        chain = key = None
        if cert or rogue:
            chain = (self.rogue_cert if rogue else self.client_cert).read_bytes()
            key = (self.rogue_key if rogue else self.client_key).read_bytes()
        return grpc.ssl_channel_credentials(self.ca.read_bytes(), private_key=key, certificate_chain=chain)


def make_pki(folder: Path) -> Pki:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    folder.mkdir(parents=True, exist_ok=True)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def issue(
        subject: str, key: Any, issuer: tuple[str, Any] | None, *, ca: bool, usage: Any = None
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer[0] if issuer else subject))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if usage is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(issuer[1] if issuer else key, hashes.SHA256())

    def write(stem: str, cert: x509.Certificate, key: Any) -> tuple[Path, Path]:
        cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_path.chmod(0o600)  # the server refuses a private key others may read
        return cert_path, key_path

    ca_key, rogue_ca_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = issue("gatewise test CA", ca_key, None, ca=True)
    ca_path, _ = write("ca", ca_cert, ca_key)
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(3)]
    server = write("server", issue("127.0.0.1", keys[0], ("gatewise test CA", ca_key), ca=False,
                                   usage=ExtendedKeyUsageOID.SERVER_AUTH), keys[0])  # fmt: skip
    client = write("client", issue("alice", keys[1], ("gatewise test CA", ca_key), ca=False,
                                   usage=ExtendedKeyUsageOID.CLIENT_AUTH), keys[1])  # fmt: skip
    rogue = write("rogue", issue("mallory", keys[2], ("rogue CA", rogue_ca_key), ca=False,
                                 usage=ExtendedKeyUsageOID.CLIENT_AUTH), keys[2])  # fmt: skip
    return Pki(ca_path, *server, *client, *rogue)
