"""Many models on one host, through a real server: workers sharing weight pages, on-demand loading
and eviction as clients see them, and the budget's startup errors."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import onnx
import tritonclient.grpc as triton
from onnx import TensorProto, helper, numpy_helper

from conftest import free_port, start_server, stop_server
from models import build_repository, write_model

WIDE = 2048


def wide_graph() -> onnx.ModelProto:
    """y = x @ W with W a 4 MB FP32 initializer: enough weight to see where its pages live."""
    weights = np.random.default_rng(0).standard_normal((512, WIDE)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 512])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", WIDE])],
        initializer=[numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def mapping_of(pid: int, file_name: str) -> dict[str, int]:
    """Summed smaps fields (kB) of every mapping of ``file_name`` in process ``pid``."""
    totals: dict[str, int] = {}
    inside = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            inside = line.rstrip().endswith(file_name)
        elif inside and line.endswith(" kB"):
            key, value = line.split(":")
            totals[key] = totals.get(key, 0) + int(value.split()[0])
    return totals


def worker_pids(log: str) -> set[int]:
    return {int(pid) for pid in re.findall(r"INFO\s+(\d+) gatewise.server: server ready", log)}


def test_two_workers_share_the_weight_pages_and_answer_alike(tmp_path: Path) -> None:
    """With --workers 2 each worker maps the one weights file; its pages are shared clean, not private copies."""
    repository = tmp_path / "models"
    write_model(repository, "wide", wide_graph(), 'name = "wide"\n')
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    server = start_server(repository, tmp_path / "log", "--workers", "2", env=env)
    try:
        deadline = time.monotonic() + 60
        while len(worker_pids(server.log())) < 2:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
        x = np.linspace(-1, 1, 512, dtype=np.float32).reshape(1, 512)
        answers = set()
        for _ in range(12):  # a new connection each time: the kernel spreads them over the workers
            client = triton.InferenceServerClient(server.url)
            tensor = triton.InferInput("x", [1, 512], "FP32")
            tensor.set_data_from_numpy(x)
            answers.add(client.infer("wide", [tensor]).as_numpy("y").tobytes())
            client.close()
        assert len(answers) == 1
        (folder,) = [path for path in (tmp_path / "cache" / "gatewise" / "weights").glob("wide-1-*") if path.is_dir()]
        assert (folder / "weights.bin").stat().st_size >= 512 * WIDE * 4
        for pid in worker_pids(server.log()):
            pages = mapping_of(pid, str(folder / "weights.bin"))
            assert pages["Shared_Clean"] > 0, (pid, pages)
            assert pages["Private_Dirty"] == pages["Private_Clean"] == 0, (pid, pages)
            assert pages["Pss"] < pages["Rss"], (pid, pages)  # each worker counts its share of the pages
    finally:
        assert stop_server(server) == 0, server.log()


def metric(text: str, pattern: str) -> float:
    found = re.search(pattern, text)
    assert found, pattern
    return float(found.group(1))


def test_on_demand_models_load_on_first_request_and_the_least_recent_is_evicted(tmp_path: Path) -> None:
    """With room for one model, metadata answers unloaded, a request loads, the next model evicts it."""
    metrics_port = free_port()
    server = start_server(
        build_repository(tmp_path / "models"), tmp_path / "log",
        "--default-load", "on-demand", "--max-resident-models", "1", "--metrics-port", str(metrics_port),
        env={"XDG_CACHE_HOME": str(tmp_path / "cache")},
    )  # fmt: skip
    client = triton.InferenceServerClient(server.url)
    try:
        assert not client.is_model_ready("tiny-sentiment")
        assert client.get_model_metadata("tiny-sentiment").inputs[0].name == "text"
        config = client.get_model_config("tiny-sentiment").config
        assert config.parameters["load"].string_value == "on-demand"
        assert config.parameters["resident"].string_value == "false"
        index = {m.name: m for m in client.get_model_repository_index().models}
        assert (index["tiny-sentiment"].state, index["tiny-sentiment"].reason) == ("UNAVAILABLE", "not loaded yet")

        text = triton.InferInput("text", [1], "BYTES")
        text.set_data_from_numpy(np.array([b"a great movie"], dtype=object))
        assert client.infer("tiny-sentiment", [text]).as_numpy("label").tolist() == [b"positive"]
        assert client.is_model_ready("tiny-sentiment")
        config = client.get_model_config("tiny-sentiment").config
        assert int(config.parameters["memory_host_bytes"].string_value) >= 0

        x = triton.InferInput("x", [1, 4], "FP32")
        x.set_data_from_numpy(np.zeros((1, 4), np.float32))
        assert client.infer("add-one", [x]).as_numpy("y").tolist() == [[1.0] * 4]
        index = {m.name: m for m in client.get_model_repository_index().models}
        assert (index["tiny-sentiment"].state, index["tiny-sentiment"].reason) == ("UNAVAILABLE", "evicted")
        assert not client.is_model_ready("tiny-sentiment")
        assert client.infer("tiny-sentiment", [text]).as_numpy("label").tolist() == [b"positive"]

        scraped = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        assert metric(scraped, r'gatewise_model_evictions_total\{model="tiny-sentiment"\} ([\d.]+)') == 1
        assert metric(scraped, r'gatewise_model_evictions_total\{model="add-one"\} ([\d.]+)') == 1
        assert metric(scraped, r'gatewise_model_loads_total\{model="tiny-sentiment",reason="request"\} ([\d.]+)') == 2
        assert metric(scraped, r"gatewise_models_resident ([\d.]+)") == 1
        assert metric(scraped, r"gatewise_model_load_seconds_count ([\d.]+)") == 3
    finally:
        client.close()
        assert stop_server(server) == 0, server.log()
    log = server.log()
    assert re.search(r"INFO .* model tiny-sentiment evicted \(least recently used, idle\)", log)
    assert re.search(r"INFO .* model add-one version 1 loaded \(request\)", log)


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gatewise", "serve", "--log-level", "WARNING", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_pinned_models_over_the_memory_budget_stop_startup_in_one_line(tmp_path: Path) -> None:
    repository = build_repository(tmp_path / "models")
    done = serve("--repository", str(repository), "--grpc-port", str(free_port()), "--memory-budget", "1KiB")
    assert done.returncode == 1, done.stderr
    assert re.search(r"error: the pinned models need .* more than --memory-budget 1.0 KiB", done.stderr)
    assert "Traceback" not in done.stderr


def test_bad_budget_and_load_values_name_the_flag(tmp_path: Path) -> None:
    done = serve("--repository", str(tmp_path), "--memory-budget", "lots")
    assert done.returncode == 1 and "error: --memory-budget: memory_budget: 'lots' is not a size" in done.stderr
    done = serve("--repository", str(tmp_path), "--default-load", "lazy")
    assert (
        done.returncode == 1
        and "error: --default-load: default_load: 'lazy' is not one of always, on-demand" in done.stderr
    )
