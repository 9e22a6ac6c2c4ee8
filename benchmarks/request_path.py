"""Request-path bounds, measured: detector cost per KB on adversarial text, and a second
client's ServerLive latency while hostile requests run against a real server.

    python benchmarks/request_path.py                 # both parts
    python benchmarks/request_path.py --detectors     # in-process detector timings only

The server part starts ``gatewise serve`` on the tests' tiny repository (tests/models.py)
plus finance, retail and medical models, and an echo model for the stream test. To compare
with older code, check that code out and run the same command.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

PREFIXES = ["", "account", "MRN", "Dr.", "SSN", "zip", "age", "+1", "AB12", "x@", "12 "]
UNITS = [" ", "account ", "a.", "1", "1 ", "1-", "a", "A", "Dr. ", "Ab ", "AB1", "a@", "1.", "+1 ", "a-", "Jan ",
         "http://", "AB12 ", "12 Ab "]  # fmt: skip


def detectors(size: int) -> None:
    from gatewise.plugins import log_redaction
    from gatewise.plugins.common import deid
    from gatewise.plugins.common import finance_detectors as finance

    finders = {"finance (all)": finance.find_financial_identifiers, "medical (all)": deid.find_identifiers,
               "log redaction": log_redaction.redact}  # fmt: skip
    print(f"worst adversarial family per detector, {size // 1024} KiB strings ({len(PREFIXES) * len(UNITS)} families)")
    for name, find in finders.items():
        worst, family = 0.0, ("", "")
        for prefix in PREFIXES:
            for unit in UNITS:
                text = prefix + unit * (size // len(unit))
                took = float("inf")
                for _ in range(3):  # the best of three: the machine may be shared
                    started = time.perf_counter()
                    find(text)
                    took = min(took, time.perf_counter() - started)
                if took > worst:
                    worst, family = took, (prefix, unit)
        print(f"  {name:15s} {worst * 1e3 / (size / 1024):7.3f} ms/KB  worst family {family[0]!r} + {family[1]!r} * n")


def server(rows: bool) -> None:
    import grpc
    from gatewise.protos import grpc_service_pb2_grpc as pb_grpc

    from conftest import start_server
    from models import build_repository, write_classifier, write_echo, write_tagger
    from security.liveness import LivenessProbe
    from security.test_hostile_inputs import HOSTILE, hostile_row, text_request
    from security.test_stream_backpressure import echo_request, rss_bytes

    root = Path(tempfile.mkdtemp())
    repository = build_repository(root / "models")
    write_classifier(repository, "finance-sentiment", plugin="finance")
    write_classifier(repository, "retail-sentiment", plugin="retail")
    write_tagger(repository, "medical-ner")
    write_echo(repository)
    running = start_server(repository, root / "server.log")
    cases = dict(HOSTILE)
    cases["finance: 'account' + 16,384 spaces"] = (
        text_request(b"account" + b" " * 16384, model="finance-sentiment"),
        "",
    )
    cases["medical: 'a.' * 8,192"] = (text_request(b"a." * 8192, model="medical-ner"), "")
    for model in ("finance-sentiment", "medical-ner", "retail-sentiment"):
        cases[f"{model}: 1 MiB hostile row"] = (text_request(hostile_row(), model=model), "")
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    try:
        print("hostile request                                        answer             call s   worst ServerLive s")
        for name, (request, _) in cases.items():
            with grpc.insecure_channel(running.url, options=options) as channel:
                with LivenessProbe(running.url, timeout_s=60) as probe:
                    started = time.perf_counter()
                    try:
                        pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=600)
                        code = "OK"
                    except grpc.RpcError as exc:
                        code = exc.code().name
                    took = time.perf_counter() - started
            print(f"  {name:52s} {code:17s} {took:7.3f}  {probe.worst:7.3f}")

        async def never_reads() -> tuple[int, int]:
            baseline = rss_bytes(running.process.pid)
            async with grpc.aio.insecure_channel(running.url, options=options) as channel:
                call = pb_grpc.GRPCInferenceServiceStub(channel).ModelStreamInfer()
                written = 0
                for index in range(400):
                    try:
                        await asyncio.wait_for(call.write(echo_request(index)), timeout=3)
                    except TimeoutError:
                        break
                    written += 1
                await asyncio.sleep(1)
                grown = rss_bytes(running.process.pid) - baseline
                call.cancel()
            return written, grown

        written, grown = asyncio.run(never_reads())
        print(
            f"stream client writing 1 MiB requests, never reading: server took {written} of 400, RSS +{grown >> 20} MiB"
        )
    finally:
        running.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", action="store_true", help="only the in-process detector timings")
    parser.add_argument("--size", type=int, default=16 * 1024, help="adversarial string length for detectors")
    parser.add_argument("--no-rows", dest="rows", action="store_false", help="skip the 1 MiB rows (hours on old code)")
    args = parser.parse_args()
    detectors(args.size)
    if not args.detectors:
        server(args.rows)


if __name__ == "__main__":
    main()
