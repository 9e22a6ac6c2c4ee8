"""The committed stubs are exactly what ``python -m protos.generate`` produces."""

from __future__ import annotations

from pathlib import Path

from protos.generate import ROOT, generate


def test_committed_stubs_match_the_proto_files(tmp_path: Path) -> None:
    """Regenerating from the .proto files changes no committed stub (run protos.generate if this fails)."""
    written = generate(tmp_path)
    assert written, "protoc wrote nothing"
    for fresh in written:
        committed = ROOT / "protos" / fresh.name
        assert committed.exists(), f"{committed.name} is not committed; run python -m protos.generate"
        assert committed.read_text() == fresh.read_text(), f"{committed.name} is stale; run python -m protos.generate"


def test_stubs_live_beside_tritonclient_in_one_process() -> None:
    """Our private descriptor pool lets tritonclient's copy of the protocol load too."""
    import tritonclient.grpc.service_pb2 as triton_pb

    from protos import grpc_service_pb2 as pb

    ours = pb.ModelInferRequest(model_name="m", id="1")
    ours.inputs.add(name="text", datatype="BYTES", shape=[2])
    theirs = triton_pb.ModelInferRequest.FromString(ours.SerializeToString())
    assert (theirs.model_name, theirs.inputs[0].name, list(theirs.inputs[0].shape)) == ("m", "text", [2])
