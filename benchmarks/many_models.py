"""Many models on one host (issue 23): eviction under a memory budget, and workers sharing weights.

    .venv/bin/python benchmarks/many_models.py --demo demo-models               # both parts
    .venv/bin/python benchmarks/many_models.py --demo demo-models --seconds 20  # a quicker, stated run
    .venv/bin/python benchmarks/many_models.py --demo demo-models --only workers

Everything goes through real ``gatewise serve`` processes called with ``tritonclient.grpc``.

Part 1, budget: ``--copies`` (24) copies of the demo's text classifiers (finance-sentiment,
retail-sentiment, ... taken in turn) under other names in a temporary repository, every one
``load = "on-demand"``. A first server measures one copy's footprint (ModelConfig's
``memory_host_bytes``) and the server's fixed overhead (its PSS with no model loaded); the
budget is ``--fit`` (6) footprints. Then ``--clients`` (8) threads call it for ``--seconds``
(60) with a random model each call (uniform), then as long with 80% of calls to 4 models
(skewed). Reported: failed requests, the process's PSS sampled every 0.2 s (max) against
budget + overhead, load times from the server's own log (each ``loaded (request) in``
line: p50/p99), request latency p50/p99. Hot path: the 4 hot models on the budget server
(all resident, no eviction) against a server where the same 4 are pinned and there is no
budget, in interleaved rounds of single requests.

Part 2, workers: the demo repository as it is, ``--workers 1`` then ``--workers 2``, PSS of
every gatewise process summed (parent included), after requests to every text model on 4
connections per worker; the outputs compared byte for byte. Then the same with
``share_weights = true`` and ``= false`` in every model's ``[onnxruntime]`` (the default
shares with several workers and not with one; false is each process its own copy, as before
issue 23).

Part 3, engine: the first classifier in one ONNX Runtime session, private (prepacked) against
shared (memory-mapped, prepacking off): CPU time per call (``time.process_time``, one intra-op
thread, so other processes on the machine do not count) for 1 x 12 and 8 x 32 tokens,
interleaved; and the anonymous PSS one batch of 32 x 128 tokens leaves behind with the CPU
memory arena on and off.

No assertion on any figure: it prints them (docs/benchmarks.md has a run).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import tomli_w
import tritonclient.grpc as triton

TEXTS = [b"The quarterly results beat expectations", b"Terrible service, never again", b"It was okay"]
HOT = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``gatewise serve`` in a subprocess, its log in a file."""

    def __init__(self, repository: Path, log: Path, *flags: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"127.0.0.1:{self.port}"
        self.log_path = log
        command = [sys.executable, "-m", "gatewise", "serve", "--repository", str(repository),
                   "--grpc-port", str(self.port), *flags]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        client = triton.InferenceServerClient(self.url)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{log.read_text()}")
            try:
                if client.is_server_ready():
                    return
            except Exception:  # noqa: BLE001 - not listening yet
                pass
            time.sleep(0.2)
        raise RuntimeError("server not ready in 600 s")

    def pids(self) -> list[int]:
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [self.process.pid, *(int(pid) for pid in children.split())]

    def pss(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            total += int(re.search(r"^Pss:\s+(\d+) kB", text, re.M).group(1)) * 1024
        return total

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def classify(client: triton.InferenceServerClient, model: str, text: bytes) -> np.ndarray:
    tensor = triton.InferInput("text", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([text], dtype=object))
    return client.infer(model, [tensor], client_timeout=120).as_numpy("scores")


def classifiers(demo: Path) -> list[Path]:
    found = []
    for config in sorted(demo.glob("*/config.toml")):
        parsed = tomllib.loads(config.read_text())
        if parsed.get("task") == "text-classification" and (config.parent / "assets").is_dir():
            found.append(config.parent)
    if not found:
        raise SystemExit(f"no text classifiers in {demo}")
    return found


def copy_model(source: Path, target: Path, name: str, **settings: object) -> None:
    """``source`` as ``name`` (files hard-linked where possible), with ``settings`` in its config.toml."""
    shutil.copytree(source, target, copy_function=_link_or_copy)
    config = tomllib.loads((source / "config.toml").read_text())
    config["name"] = name
    for key, value in settings.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    (target / "config.toml").unlink()
    (target / "config.toml").write_text(tomli_w.dumps(config))


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# ---------------------------------------------------------------- part 1: budget


def run_phase(server: Server, models: list[str], weights: list[float] | None, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    peak = [0]
    stop = time.monotonic() + seconds
    lock = threading.Lock()

    def client_loop(seed: int) -> None:
        rng = random.Random(seed)
        client = triton.InferenceServerClient(server.url)
        while time.monotonic() < stop:
            model = rng.choices(models, weights)[0]
            started = time.perf_counter()
            try:
                classify(client, model, rng.choice(TEXTS))
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    failures.append(f"{model}: {exc}")
                continue
            with lock:
                latencies.append(time.perf_counter() - started)
        client.close()

    def sample() -> None:
        while time.monotonic() < stop:
            peak[0] = max(peak[0], server.pss())
            time.sleep(0.2)

    threads = [threading.Thread(target=client_loop, args=(seed,)) for seed in range(clients)]
    threads.append(threading.Thread(target=sample))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"requests": len(latencies), "failures": failures, "latencies": latencies, "peak_pss": peak[0]}


def load_times(log: Path) -> list[float]:
    return [float(s) for s in re.findall(r"loaded \(request\) in ([\d.]+) s", log.read_text())]


def hot_path(budgeted: Server, pinned: Server, hot: list[str], rounds: int, per_round: int) -> tuple[float, float]:
    """p50 ms of single requests to the hot models, interleaved rounds on the two servers."""
    a, b = triton.InferenceServerClient(budgeted.url), triton.InferenceServerClient(pinned.url)
    timings: dict[str, list[float]] = {"budget": [], "pinned": []}
    for round_index in range(rounds):
        order = [("budget", a), ("pinned", b)] if round_index % 2 == 0 else [("pinned", b), ("budget", a)]
        for label, client in order:
            for i in range(per_round):
                started = time.perf_counter()
                classify(client, hot[i % len(hot)], TEXTS[i % len(TEXTS)])
                timings[label].append(time.perf_counter() - started)
    return statistics.median(timings["budget"]) * 1e3, statistics.median(timings["pinned"]) * 1e3


def budget_part(demo: Path, work: Path, args: argparse.Namespace) -> None:
    sources = classifiers(demo)
    repository = work / "many"
    names = [f"classifier-{index:02d}" for index in range(args.copies)]
    for index, name in enumerate(names):
        copy_model(sources[index % len(sources)], repository / name, name, load="on-demand")
    env = {"XDG_CACHE_HOME": str(work / "cache")}
    probe = Server(repository, work / "probe.log", env=env)
    overhead = probe.pss()
    client = triton.InferenceServerClient(probe.url)
    footprints = []
    for name in names[: len(sources)]:
        classify(client, name, TEXTS[0])
        config = client.get_model_config(name).config
        footprints.append(int(config.parameters["memory_host_bytes"].string_value))
    probe.stop()
    footprint = max(footprints)
    budget = args.fit * footprint
    print(f"repository: {args.copies} copies of {[s.name for s in sources]}, load = on-demand")
    print(f"fixed overhead (PSS, no model loaded): {overhead / 2**20:.0f} MiB")
    print(f"footprint per model (PSS at load): {[f'{f / 2**20:.0f}' for f in footprints]} MiB; "
          f"budget {args.fit} x {footprint / 2**20:.0f} = {budget / 2**20:.0f} MiB")  # fmt: skip

    server = Server(repository, work / "budget.log", "--memory-budget", str(budget), env=env)
    try:
        hot = names[:HOT]
        for label, weights in (
            ("uniform", None),
            ("skewed 80/20", [0.8 / HOT] * HOT + [0.2 / (len(names) - HOT)] * (len(names) - HOT)),
        ):
            before = len(load_times(work / "budget.log"))
            result = run_phase(server, names, weights, args.clients, args.seconds)
            loads = load_times(work / "budget.log")[before:]
            lat = result["latencies"]
            print(
                f"{label}: {result['requests']} answered, {len(result['failures'])} failed; "
                f"PSS max {result['peak_pss'] / 2**20:.0f} MiB vs budget + overhead "
                f"{(budget + overhead) / 2**20:.0f} MiB; {len(loads)} cold loads "
                f"p50 {percentile(loads, 50) * 1e3:.0f} ms "
                f"p99 {percentile(loads, 99) * 1e3:.0f} ms; request p50 {percentile(lat, 50) * 1e3:.1f} ms "
                f"p99 {percentile(lat, 99) * 1e3:.1f} ms"
            )
            for failure in result["failures"][:3]:
                print(f"  failure: {failure}")
        pinned_repo = work / "pinned"
        for name in hot:
            shutil.copytree(repository / name, pinned_repo / name, copy_function=_link_or_copy)
            config = tomllib.loads((repository / name / "config.toml").read_text())
            config["load"] = "always"
            (pinned_repo / name / "config.toml").unlink()
            (pinned_repo / name / "config.toml").write_text(tomli_w.dumps(config))
        pinned = Server(pinned_repo, work / "pinned.log", env=env)
        try:
            for name in hot:  # the working set resident on the budget server
                classify(triton.InferenceServerClient(server.url), name, TEXTS[0])
            budget_ms, pinned_ms = hot_path(server, pinned, hot, args.rounds, 50)
        finally:
            pinned.stop()
        print(f"hot path, {HOT} resident models, single requests, p50: budget server {budget_ms:.2f} ms, "
              f"all pinned without budget {pinned_ms:.2f} ms ({(budget_ms / pinned_ms - 1) * 100:+.1f}%)")  # fmt: skip
    finally:
        server.stop()


# ---------------------------------------------------------------- part 2: workers


def answers(server: Server, models: list[str]) -> list[bytes]:
    client = triton.InferenceServerClient(server.url)
    return [classify(client, model, text).tobytes() for model in models for text in TEXTS]


def workers_part(demo: Path, work: Path) -> None:
    text_models = [path.name for path in classifiers(demo)]
    repositories = {"default": demo}
    for share in (True, False):
        label = f"share_weights = {str(share).lower()}"
        repositories[label] = work / label.replace(" ", "")
        for model in sorted(p.parent for p in demo.glob("*/config.toml")):
            copy_model(model, repositories[label] / model.name, model.name, onnxruntime={"share_weights": share})
    env = {"XDG_CACHE_HOME": str(work / "cache")}
    results = {}
    for label, repository in repositories.items():
        for workers in (1, 2):
            server = Server(repository, work / f"workers-{workers}.log", "--workers", str(workers), env=env)
            try:
                outputs = [answers(server, text_models) for _ in range(4 * workers)]  # new connections: every worker
                time.sleep(1)
                results[(label, workers)] = (server.pss(), outputs)
            finally:
                server.stop()
        one, two = results[(label, 1)][0], results[(label, 2)][0]
        first = results[(label, 1)][1][0]
        same = all(o == first for o in results[(label, 2)][1] + results[(label, 1)][1])
        print(f"{label}: --workers 1 PSS {one / 2**20:.0f} MiB, --workers 2 {two / 2**20:.0f} MiB = {two / one:.2f}x; "
              f"answers byte-identical between and within 1 and 2 workers: {same}")  # fmt: skip
    shared = np.frombuffer(b"".join(results[("share_weights = true", 1)][1][0]), np.float32)
    private = np.frombuffer(b"".join(results[("share_weights = false", 1)][1][0]), np.float32)
    print(
        f"shared vs private weights: scores byte-identical: {shared.tobytes() == private.tobytes()}, "
        f"largest difference {np.abs(shared - private).max():.2e}"
    )


# ---------------------------------------------------------------- part 3: one engine


def anon_mib() -> int:
    text = Path("/proc/self/smaps_rollup").read_text()
    return int(re.search(r"^Pss_Anon:\s+(\d+) kB", text, re.M).group(1)) // 1024


def engine_part(demo: Path, work: Path) -> None:
    """What sharing costs per call (no prepacking) and what the CPU arena keeps, on one ONNX Runtime session."""
    os.environ["XDG_CACHE_HOME"] = str(work / "cache")
    import onnxruntime as ort
    from gatewise.gateway import weights

    source = classifiers(demo)[0] / "1" / "model.onnx"
    shared = weights.prepare(source)

    def session(share: bool, arena: bool = True) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.enable_cpu_mem_arena = arena
        if not share:
            return ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        options.add_session_config_entry("session.disable_prepacking", "1")
        values = {name: ort.OrtValue.ortvalue_from_numpy(array) for name, array in shared.initializers.items()}
        for name, value in values.items():
            options.add_initializer(name, value)
        made = ort.InferenceSession(str(shared.model), options, providers=["CPUExecutionProvider"])
        made._gatewise_values = values  # alive as long as the session
        return made

    def feed(made: ort.InferenceSession, rows: int, tokens: int) -> dict[str, np.ndarray]:
        return {node.name: np.ones((rows, tokens), np.int64) for node in made.get_inputs()}

    sessions = {"private (prepacked)": session(False), "shared (not prepacked)": session(True)}
    for rows, tokens in ((1, 12), (8, 32)):
        times: dict[str, list[float]] = {label: [] for label in sessions}
        order = list(sessions)
        for _ in range(12):
            order = order[1:] + order[:1]
            for label in order:
                inputs = feed(sessions[label], rows, tokens)
                for _ in range(5):
                    started = time.process_time()
                    sessions[label].run(None, inputs)
                    times[label].append(time.process_time() - started)
        figures = ", ".join(f"{label} {statistics.median(v) * 1e3:.2f} ms" for label, v in times.items())
        print(f"{source.parent.parent.name} {rows} x {tokens} tokens, CPU time per call (1 thread): {figures}")
    del sessions
    for arena in (True, False):
        before = anon_mib()
        made = session(False, arena)
        made.run(None, feed(made, 32, 128))
        print(f"memory arena {'on' if arena else 'off'}: anonymous PSS +{anon_mib() - before} MiB after one batch "
              "of 32 x 128 tokens")  # fmt: skip
        del made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", type=Path, default=Path("demo-models"))
    parser.add_argument("--copies", type=int, default=24)
    parser.add_argument("--fit", type=int, default=6, help="models the budget holds")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--only", choices=("budget", "workers", "engine"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gatewise-many-") as folder:
        work = Path(folder)
        if args.only in (None, "budget"):
            budget_part(args.demo, work, args)
        if args.only in (None, "workers"):
            workers_part(args.demo, work)
        if args.only in (None, "engine"):
            engine_part(args.demo, work)


if __name__ == "__main__":
    main()
