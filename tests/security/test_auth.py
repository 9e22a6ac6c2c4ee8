"""Bearer tokens (API keys and JWTs) and per-model authorisation through a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from gatewise.gateway.server import GatewayServer
from gatewise.plugins.hookspecs import hookimpl
from gatewise.plugins.manager import PluginManager
from gatewise.protos import grpc_service_pb2 as pb
from grpc_health.v1 import health_pb2, health_pb2_grpc

from security.conftest import JwtSigner, Keys
from security.harness import add_one_request, bearer, serving, stub

UNAUTHENTICATED, DENIED = grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED


class Recorder:
    """Captures the audit events the servicer and the auth interceptor emit."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    @hookimpl
    def gatewise_request_finished(self, model_name: str, principal: str, status: str, method: str) -> None:
        self.events.append({"model": model_name, "principal": principal, "status": status, "method": method})


async def audited(gateway: GatewayServer, recorder: Recorder) -> list[dict]:
    """The events recorded so far, once the audit thread delivered every posted one."""
    assert await asyncio.to_thread(gateway.repository.plugins.flush_audit, 10)
    return recorder.events


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def gateway(
    repository: Path, keys: Keys, jwt_signer: JwtSigner, recorder: Recorder
) -> AsyncIterator[GatewayServer]:
    plugins = PluginManager(entry_points=False, extra=[("recorder", recorder)])
    async with serving(
        repository, plugins, auth_keys_file=keys.path, jwt_public_key=jwt_signer.public_key, repository_control=True
    ) as server:
        yield server


@pytest.fixture
async def channel(gateway: GatewayServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
        yield channel


async def code_of(call) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ((), "missing 'authorization: Bearer <token>' metadata"),
        ((("authorization", "Bearer gw_not-a-key"),), "unknown API key"),
        ((("authorization", "Basic YWxpY2U6cHc="),), "must be 'Bearer <token>'"),
        ((("authorization", "Bearer a"), ("authorization", "Bearer b")), "more than one 'authorization'"),
        ((("authorization", "Bearer " + "x" * 5000),), "longer than 4096 characters"),
    ],
)
async def test_missing_or_wrong_credentials_are_unauthenticated(channel, metadata, message) -> None:
    """Every way of not proving who you are gets UNAUTHENTICATED and says which way it was."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub(channel).ModelInfer(add_one_request(), metadata=metadata, timeout=10)
    assert info.value.code() == UNAUTHENTICATED
    assert message in info.value.details()


async def test_the_body_of_an_unauthenticated_call_is_never_parsed(
    channel, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    """Bytes that are not a protobuf: without a token UNAUTHENTICATED and never decoded; with one,
    decoded and refused as INVALID_ARGUMENT (one warning line, no traceback)."""
    raw = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
    garbage = b"\xff\xff\xff\xff\x0f not a protobuf"
    assert await code_of(raw(garbage, timeout=10)) == UNAUTHENTICATED
    assert "does not parse" not in caplog.text
    assert await code_of(raw(garbage, metadata=bearer(keys.alice), timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT
    assert "does not parse" in caplog.text and "Traceback" not in caplog.text


async def test_api_key_may_call_only_its_models(channel, gateway, keys: Keys, recorder: Recorder) -> None:
    """alice's patterns are add-one and tiny-*: those answer, 'broken' is PERMISSION_DENIED;
    the audit trail has the inference and every refusal, with the model each named."""
    client = stub(channel)
    alice = bearer(keys.alice)
    assert (await client.ModelInfer(add_one_request(), metadata=alice, timeout=10)).model_name == "add-one"
    assert (await client.ModelReady(pb.ModelReadyRequest(name="tiny-sentiment"), metadata=alice, timeout=10)).ready
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await client.ModelInfer(add_one_request("broken"), metadata=alice, timeout=10)
    assert info.value.code() == DENIED
    assert "principal 'alice' may not call model 'broken'" in info.value.details()
    for call in (
        client.ModelMetadata(pb.ModelMetadataRequest(name="broken"), metadata=alice, timeout=10),
        client.ModelStatistics(pb.ModelStatisticsRequest(), metadata=alice, timeout=10),
        client.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="add-one"), metadata=alice, timeout=10),
    ):
        assert await code_of(call) == DENIED
    events = await audited(gateway, recorder)
    assert events[:2] == [
        {"model": "add-one", "principal": "alice", "status": "OK", "method": "ModelInfer"},
        {"model": "broken", "principal": "alice", "status": "PERMISSION_DENIED", "method": "ModelInfer"},
    ]
    assert sorted(events[2:], key=lambda event: event["method"]) == [  # those three ran concurrently
        {"model": "broken", "principal": "alice", "status": "PERMISSION_DENIED", "method": "ModelMetadata"},
        {"model": "", "principal": "alice", "status": "PERMISSION_DENIED", "method": "ModelStatistics"},
        {"model": "add-one", "principal": "alice", "status": "PERMISSION_DENIED", "method": "RepositoryModelUnload"},
    ]


async def test_unauthenticated_calls_are_audited_without_reading_the_body(
    channel, gateway, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """No token, or a wrong one: an audit event with no model (the body was never parsed)."""
    raw = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
    assert await code_of(raw(b"\xff\xff\xff\xff\x0f not a protobuf", timeout=10)) == UNAUTHENTICATED
    request = add_one_request(id="r-1")
    assert await code_of(stub(channel).ModelInfer(request, metadata=bearer("gw_wrong"), timeout=10)) == UNAUTHENTICATED
    assert "DecodeError" not in caplog.text
    refused = {"model": "", "principal": "<unauthenticated>", "status": "UNAUTHENTICATED", "method": "ModelInfer"}
    assert await audited(gateway, recorder) == [refused, refused]


async def test_only_admin_keys_load_and_unload(channel, keys: Keys) -> None:
    client, ops = stub(channel), bearer(keys.admin)
    await client.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="add-one"), metadata=ops, timeout=30)
    assert not (await client.ModelReady(pb.ModelReadyRequest(name="add-one"), metadata=ops, timeout=10)).ready
    await client.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="add-one"), metadata=ops, timeout=30)
    assert (await client.ModelReady(pb.ModelReadyRequest(name="add-one"), metadata=ops, timeout=10)).ready
    assert len((await client.ModelStatistics(pb.ModelStatisticsRequest(), metadata=ops, timeout=10)).model_stats) >= 2


async def test_a_forged_principal_header_changes_nothing(channel, gateway, keys: Keys, recorder: Recorder) -> None:
    """The audit principal comes from the token, never from metadata the client writes."""
    metadata = (*bearer(keys.alice), ("x-gatewise-principal", "ops"))
    await stub(channel).ModelInfer(add_one_request(), metadata=metadata, timeout=10)
    assert [event["principal"] for event in await audited(gateway, recorder)] == ["alice"]


async def test_a_stream_ends_denied_at_the_first_forbidden_request(
    channel, gateway, keys: Keys, recorder: Recorder
) -> None:
    """Requests before the forbidden one are answered; then PERMISSION_DENIED, nothing after runs.
    The audit trail has the answered request and the refused one."""
    requests = [add_one_request(id="1"), add_one_request("broken", id="2"), add_one_request(id="3")]
    call = stub(channel).ModelStreamInfer(iter(requests), metadata=bearer(keys.alice), timeout=10)
    answered = []
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for response in call:
            answered.append(response.infer_response.id)
    assert info.value.code() == DENIED
    assert answered == ["1"]
    # The reader checks request 2 while request 1 still runs: the two events come in either order.
    assert sorted(await audited(gateway, recorder), key=lambda event: event["status"]) == [
        {"model": "add-one", "principal": "alice", "status": "OK", "method": "ModelStreamInfer"},
        {"model": "broken", "principal": "alice", "status": "PERMISSION_DENIED", "method": "ModelStreamInfer"},
    ]


async def test_probes_health_and_reflection_need_no_token(channel) -> None:
    """Load balancers probe without credentials; ServerMetadata is not a probe and needs one."""
    assert (await stub(channel).ServerReady(pb.ServerReadyRequest(), timeout=10)).ready
    assert (await stub(channel).ServerLive(pb.ServerLiveRequest(), timeout=10)).live
    health = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="add-one"), timeout=10
    )
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert await code_of(stub(channel).ServerMetadata(pb.ServerMetadataRequest(), timeout=10)) == UNAUTHENTICATED


async def test_jwt_sub_is_the_principal_and_models_claim_authorises(
    channel, gateway, jwt_signer: JwtSigner, recorder: Recorder
) -> None:
    client = stub(channel)
    token = jwt_signer.sign(sub="svc-retail", models=["add-*"])
    assert (await client.ModelInfer(add_one_request(), metadata=bearer(token), timeout=10)).model_name == "add-one"
    assert (
        await code_of(client.ModelInfer(add_one_request("tiny-sentiment"), metadata=bearer(token), timeout=10))
        == DENIED
    )
    assert [(event["principal"], event["status"]) for event in await audited(gateway, recorder)] == [
        ("svc-retail", "OK"), ("svc-retail", "PERMISSION_DENIED"),
    ]  # fmt: skip


async def test_bad_jwts_are_unauthenticated(channel, jwt_signer: JwtSigner, other_signer: JwtSigner) -> None:
    """Expired, signed by an untrusted key, without exp, or alg=none: each UNAUTHENTICATED, named."""
    import jwt

    cases = {
        jwt_signer.sign(expires_in=-60): "expired",
        other_signer.sign(): "not valid",
        jwt.encode({"sub": "x", "models": ["*"]}, jwt_signer.private_key, algorithm=jwt_signer.algorithm): '"exp"',
        jwt.encode({"sub": "x", "exp": 4102444800, "models": ["*"]}, None, algorithm="none"): "not valid",
        jwt_signer.sign(models=[1, 2]): "claim 'models'",
    }
    for token, message in cases.items():
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub(channel).ModelInfer(add_one_request(), metadata=bearer(token), timeout=10)
        assert info.value.code() == UNAUTHENTICATED, message
        assert message in info.value.details()
