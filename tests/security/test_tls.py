"""TLS and mutual TLS with certificates made at test time; health stays reachable."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from gatewise.protos.errors import StartupError
from grpc_health.v1 import health_pb2, health_pb2_grpc

from security.harness import Pki, add_one_request, serving, stub


async def test_tls_serves_tls_clients_and_refuses_plaintext(repository: Path, pki: Pki) -> None:
    """A client trusting the CA gets answers; a plaintext client never reaches the service."""
    async with serving(repository, tls_cert=pki.server_cert, tls_key=pki.server_key) as server:
        target = f"127.0.0.1:{server.port}"
        async with grpc.aio.secure_channel(target, pki.client_credentials()) as channel:
            response = await stub(channel).ModelInfer(add_one_request(), timeout=10)
            assert response.model_name == "add-one"
        async with grpc.aio.insecure_channel(target) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub(channel).ModelInfer(add_one_request(), timeout=5)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_tls_with_half_a_keypair_is_refused(repository: Path, pki: Pki) -> None:
    with pytest.raises(StartupError, match="TLS needs both tls_cert and tls_key"):
        async with serving(repository, tls_cert=pki.server_cert):
            pass


async def test_a_client_ca_without_a_server_certificate_is_refused(repository: Path, pki: Pki) -> None:
    """It would otherwise serve plaintext while the settings read as mutual TLS."""
    with pytest.raises(StartupError, match=r"tls_client_ca \(mutual TLS\) needs tls_cert and tls_key"):
        async with serving(repository, tls_client_ca=pki.ca):
            pass


async def test_mutual_tls_needs_a_client_certificate_from_the_ca(repository: Path, pki: Pki) -> None:
    """With tls_client_ca: no certificate or one from another CA is refused; the CA's is served."""
    async with serving(repository, tls_cert=pki.server_cert, tls_key=pki.server_key, tls_client_ca=pki.ca) as server:
        target = f"127.0.0.1:{server.port}"
        for credentials in (pki.client_credentials(), pki.client_credentials(rogue=True)):
            async with grpc.aio.secure_channel(target, credentials) as channel:
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await stub(channel).ModelInfer(add_one_request(), timeout=5)
                assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        async with grpc.aio.secure_channel(target, pki.client_credentials(cert=True)) as channel:
            response = await stub(channel).ModelInfer(add_one_request(), timeout=10)
            assert response.outputs[0].name == "y"
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert health.status == health_pb2.HealthCheckResponse.SERVING
