"""Standard gRPC health (server and per model) and server reflection, as grpcurl uses them."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from conftest import RunningServer


def check(channel: grpc.Channel, service: str) -> int:
    return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service)).status


def test_health_answers_for_the_server_and_each_model(server: RunningServer) -> None:
    """'' and the inference service are SERVING; each model name is its own readiness."""
    with grpc.insecure_channel(server.url) as channel:
        assert check(channel, "") == health_pb2.HealthCheckResponse.SERVING
        assert check(channel, "inference.GRPCInferenceService") == health_pb2.HealthCheckResponse.SERVING
        assert check(channel, "tiny-sentiment") == health_pb2.HealthCheckResponse.SERVING
        assert check(channel, "broken") == health_pb2.HealthCheckResponse.NOT_SERVING


def test_reflection_lists_and_describes_the_services(server: RunningServer) -> None:
    """list_services names all three services; the inference service's file can be fetched."""
    with grpc.insecure_channel(server.url) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="inference.GRPCInferenceService"),
        ]
        listed, described = list(stub.ServerReflectionInfo(iter(requests)))
    names = {service.name for service in listed.list_services_response.service}
    assert {
        "inference.GRPCInferenceService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names
    assert described.file_descriptor_response.file_descriptor_proto
