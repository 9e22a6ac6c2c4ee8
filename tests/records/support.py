"""Helpers for the decision-records tests: a real PostgreSQL cluster, tiny domain models, record readers.

PostgreSQL is Debian's package (scripts/bootstrap.sh installs it): the fixture runs initdb in a
temporary folder and starts the server on a free loopback port, as the ``postgres`` user when
the tests run as root (PostgreSQL refuses to run as root), and stops it at the end.
"""

from __future__ import annotations

import glob
import sqlite3
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from gatewise.gateway.records.build import Draft
from gatewise.gateway.records.config import RecordsConfig
from onnx import TensorProto, helper, numpy_helper

from models import WORDS, _finish, write_classifier, write_model

_BINS = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(Path(path).parent.name))
PG_BIN = Path(_BINS[-1]) if _BINS else None


@dataclass
class Postgres:
    """One throw-away cluster; ``stop``/``start`` restart it on the same port and data."""

    root: Path
    port: int
    user: str | None

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        return subprocess.run([*prefix, *command], check=check, capture_output=True, text=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "-w", "stop", check=False)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://gatewise@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = f"records_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def dump(self, url: str) -> str:
        """pg_dump of the database at ``url``: every row as the server holds it."""
        return self._run(str(PG_BIN / "pg_dump"), "--data-only", url).stdout


# ---------------------------------------------------------------- tiny domain models

MEDICAL_LABELS = ("O", "B-PROBLEM", "I-PROBLEM")


def token_classifier_graph(vocab_size: int) -> onnx.ModelProto:
    """logits[b, s, 3] = a per-token table: every token a little ``B-PROBLEM`` but mostly ``O``."""
    table = np.zeros((vocab_size, len(MEDICAL_LABELS)), dtype=np.float32)
    table[:, 0] = 2.0
    table[:, 1] = 1.0
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["gathered"]),
            helper.make_node("Identity", ["gathered"], ["logits"]),
            helper.make_node("Shape", ["attention_mask"], ["unused"]),
        ],
        "tiny-ner",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "sequence", len(MEDICAL_LABELS)])],
        initializer=[numpy_helper.from_array(table, "table")],
    )
    return _finish(graph)


def fraud_graph(features: int) -> onnx.ModelProto:
    """fraud_probability = sigmoid(features . w - 2): a plain linear scorer."""
    weights = np.full((features, 1), 0.1, dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "w"], ["score"]),
            helper.make_node("Sub", ["score", "two"], ["shifted"]),
            helper.make_node("Sigmoid", ["shifted"], ["probability"]),
            helper.make_node("Squeeze", ["probability", "axis"], ["fraud_probability"]),
        ],
        "tiny-fraud",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("fraud_probability", TensorProto.FLOAT, ["batch"])],
        initializer=[
            numpy_helper.from_array(weights, "w"),
            numpy_helper.from_array(np.array([2.0], np.float32), "two"),
            numpy_helper.from_array(np.array([1], np.int64), "axis"),
        ],
    )
    return _finish(graph)


def write_domain_models(repository: Path, records: str) -> list[str]:
    """finance (sentiment and fraud), medical and retail tiny models, each with ``records`` as its [records] table."""
    from gatewise.plugins.finance.fraud_features import NUM_FEATURES
    from gatewise.plugins.harness import SPECIAL_TOKENS, tiny_tokenizer

    names = []
    for name, plugin in (("tiny-finance", "finance"), ("tiny-retail", "retail")):
        folder = write_classifier(repository, name, plugin=plugin)
        _append(folder, records)
        names.append(name)
    folder = repository / "tiny-medical"
    tiny_tokenizer(folder / "assets", WORDS)
    vocab = len(SPECIAL_TOKENS) + len(WORDS)
    write_model(
        repository,
        "tiny-medical",
        token_classifier_graph(vocab),
        (
            f'plugin = "medical"\ntask = "token-classification"\nlabels = {list(MEDICAL_LABELS)!r}\n'.replace("'", '"')
            + records
        ),
    )
    names.append("tiny-medical")
    write_model(
        repository,
        "tiny-fraud",
        fraud_graph(NUM_FEATURES),
        ('plugin = "finance"\ntask = "transaction-fraud"\n[parameters]\ninput_format = "json"\n' + records),
    )
    names.append("tiny-fraud")
    return names


def _append(folder: Path, text: str) -> None:
    config = folder / "config.toml"
    config.write_text(config.read_text() + "\n" + text)


# ---------------------------------------------------------------- reading what was kept


def sqlite_rows(folder: Path, sql: str = "SELECT * FROM records ORDER BY time") -> list[dict]:
    with sqlite3.connect(folder / "records.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql)]


def wait_for(condition, what: str, limit_s: float = 60.0):
    """Poll ``condition()`` until it returns something truthy (returned); fail naming ``what`` after ``limit_s``."""
    import time

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"{what}: not within {limit_s:.0f} s")


def metric(url: str, name: str, **labels: str) -> float:
    """One sample of the server's /metrics (0 when absent)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(url, timeout=10).read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(key) == value for key, value in labels.items()):
                total += sample.value
    return total


def ask(url: str, model: str, text: str, request_id: str = "", headers: dict | None = None, **parameters):
    """One ModelInfer with a ``text`` row through tritonclient; returns the result (raises on an error status)."""
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(url)
    try:
        tensor = triton.InferInput("text", [1], "BYTES")
        tensor.set_data_from_numpy(np.array([text.encode()], dtype=object))
        return client.infer(model, [tensor], request_id=request_id, parameters=parameters or None, headers=headers)
    finally:
        client.close()


def draft(
    model: str = "m", text: str = "the movie was good", time: str | None = None, config: RecordsConfig | None = None
) -> Draft:
    """One decision to record: a text in, a label out, as the data plane hands it to the writer."""
    extra = {"time": time} if time else {}
    return Draft(
        model=model,
        version="1",
        config=config or RecordsConfig(),
        artifact=None,
        plugin=None,
        plugin_version=None,
        principal="anonymous",
        auth="none",
        request_id="r",
        trace_id=None,
        method="ModelInfer",
        status="OK",
        latency_ms=1.0,
        inputs={"text": np.array([text.encode()], dtype=object)},
        outputs={"label": np.array([b"positive"], dtype=object)},
        **extra,
    )
