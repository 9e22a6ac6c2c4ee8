"""What a served model reports about itself in Triton's vocabulary: ModelConfig and ModelStatistics.

Both front doors send these same protocol messages (gRPC as protobuf, HTTP as their JSON
form, which is what Triton's HTTP endpoint answers), so the two can never disagree.
"""

from __future__ import annotations

from typing import Any

from gatewise.gateway import explanations
from gatewise.gateway.engines import registry
from gatewise.gateway.model import ServedModel, VersionInfo
from gatewise.gateway.repository import ModelRepository
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import model_config_pb2 as config_pb
from gatewise.protos.tensors import DATATYPE_TO_TRITON

VersionView = ServedModel | VersionInfo
"""A version as clients see it: loaded, or described while it is not resident."""


def platform(model: VersionView) -> str:
    """Triton's platform name of the model's backend (the engine registry knows it)."""
    return registry.get(model.config.backend).platform


def residency_parameters(proto: config_pb.ModelConfig, repository: ModelRepository, model: VersionView) -> None:
    """ModelConfig's parameters for residency: the load policy, whether it is resident, its measured footprint."""
    entry = repository.entries[model.name]
    proto.parameters["load"].string_value = "on-demand" if entry.on_demand else "always"
    proto.parameters["pinned"].string_value = "true" if entry.pinned else "false"
    proto.parameters["resident"].string_value = "true" if entry.versions else "false"
    footprint = repository.footprint(model.name, model.version)
    if footprint is not None:
        proto.parameters["memory_host_bytes"].string_value = str(footprint.host)
        if footprint.device_id is not None:
            proto.parameters["memory_device_bytes"].string_value = str(footprint.device)
            proto.parameters["memory_device_id"].string_value = str(footprint.device_id)


def model_config_proto(model: VersionView) -> config_pb.ModelConfig:
    """Triton's ModelConfig for a served model.

    Where every input has a per-row shape (``[-1, 4]``), ``max_batch_size`` is the batcher's
    and dims exclude the batch dimension, as in Triton. Where an input is one value per
    row (``text``: ``[-1]``), Triton's convention has no per-row dims to report and
    perf_analyzer refuses such a model; so, as Triton does for a model it does not batch
    itself, ``max_batch_size`` is 0 and dims are the full shape. Such a request still
    carries up to ``max_batch_rows`` rows and is batched dynamically with others.
    """
    config = model.config
    batching = config.batching
    per_row = all(len(spec.shape) > 1 for spec in model.signature.inputs)
    skip = 1 if per_row else 0
    proto = config_pb.ModelConfig(
        name=model.name,
        platform=platform(model),
        backend=config.backend,
        max_batch_size=batching.max_batch_size if per_row else 0,
        dynamic_batching=config_pb.ModelDynamicBatching(
            preferred_batch_size=batching.preferred_batch_sizes,
            max_queue_delay_microseconds=int(batching.max_queue_delay_ms * 1000),
            default_queue_policy=config_pb.ModelQueuePolicy(max_queue_size=batching.max_queue_size),
        ),
    )
    for spec in model.signature.inputs:
        proto.input.add(name=spec.name, data_type=DATATYPE_TO_TRITON[spec.datatype], dims=spec.shape[skip:])
    for spec in explanations.listed_outputs(model):
        proto.output.add(name=spec.name, data_type=DATATYPE_TO_TRITON[spec.datatype], dims=spec.shape[skip:])
    proto.parameters["max_batch_rows"].string_value = str(batching.max_batch_size)
    facts = model.describe()  # the served version's own engine, not config.toml's default backend
    on_gpu = facts.get("device") == "gpu"
    kind = config_pb.ModelInstanceGroup.KIND_GPU if on_gpu else config_pb.ModelInstanceGroup.KIND_CPU
    proto.instance_group.add(name=f"{model.name}_0", count=config.instances, kind=kind)
    for key, value in facts.items():
        proto.parameters[key].string_value = value
    if config.plugin:
        proto.parameters["plugin"].string_value = config.plugin
    if model.drift:
        proto.parameters["drift"].string_value = model.drift
    for key, value in explanations.how_to_ask(model).items():
        proto.parameters[key].string_value = value
    return proto


def statistics_proto(model: VersionView) -> pb.ModelStatistics:
    stats = model.stats

    def duration(value: Any) -> pb.StatisticDuration:
        return pb.StatisticDuration(count=value.count, ns=value.ns)

    proto = pb.ModelStatistics(
        name=model.name,
        version=model.version,
        last_inference=stats.last_inference_ms,
        inference_count=stats.inference_count,
        execution_count=stats.execution_count,
        inference_stats=pb.InferStatistics(
            success=duration(stats.success),
            fail=duration(stats.fail),
            queue=duration(stats.queue),
            compute_input=duration(stats.compute_input),
            compute_infer=duration(stats.compute_infer),
            compute_output=duration(stats.compute_output),
        ),
    )
    for size, per_size in sorted(stats.by_batch_size.items()):
        proto.batch_stats.add(
            batch_size=size,
            compute_input=duration(per_size.compute_input),
            compute_infer=duration(per_size.compute_infer),
            compute_output=duration(per_size.compute_output),
        )
    return proto
