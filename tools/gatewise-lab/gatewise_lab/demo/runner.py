"""``gatewise demo``: build the repository, start the gateway, call every model, print tables."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from gatewise.gateway.config import ModelConfig, load_config
from gatewise.plugins.finance.fraud_features import FIELDS
from rich.markup import escape

from gatewise_lab.demo import examples, show
from gatewise_lab.demo.client import DemoClient

READY_TIMEOUT_S = 120.0
EXPLANATION = "explanation"
"""The output a client asks for to get, per row, why the model answered so (docs/explanations.md)."""
_QUIET = ("torch", "onnxscript", "onnx_ir", "torch.onnx", "torch.export", "httpx", "urllib3")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gateway(repository: Path, port: int, log_path: Path, records: Path | None = None) -> subprocess.Popen:
    """``gatewise serve`` in a child process (its log goes to ``log_path``, not the tables), keeping decision
    records in ``records`` for the models whose config.toml asks for them (finance-fraud)."""
    command = [
        sys.executable,
        "-m",
        "gatewise",
        "serve",
        "--repository",
        str(repository),
        "--grpc-port",
        str(port),
        *(("--records", str(records)) if records else ()),
    ]
    with log_path.open("w") as log_file:
        return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=dict(os.environ))


def stop_gateway(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def call_models(client: DemoClient, out: show.Console, repository: Path) -> None:
    """One call per demo model with the examples, each printed as a table, then why it answered so.

    Every model but medical-ner is asked for its ``explanation`` output too (token classifiers
    cannot explain). Titles and label columns come from each model's ``config.toml``, so they
    say what serves.
    """
    finance = load_config(repository / "finance-sentiment")
    wanted = ["label", "score", "scores", "redactions", EXPLANATION]
    result = client.infer("finance-sentiment", {"text": ("BYTES", examples.FINANCE_SENTIMENT)}, outputs=wanted)
    out.print(show.sentiment_table(_title(finance, "min_confidence"), examples.FINANCE_SENTIMENT, result,
                                   list(finance.labels)))  # fmt: skip
    out.print(show.explanation_table("finance-sentiment", examples.FINANCE_SENTIMENT, result))
    rows = examples.FRAUD
    columns = {name: (datatype, [row[name] for row in rows]) for name, datatype in FIELDS.items()}
    wanted = ["fraud_probability", "decision", "reasons", EXPLANATION]
    result = client.infer("finance-fraud", columns, outputs=wanted)
    out.print(show.fraud_table(rows, result, load_config(repository / "finance-fraud").parameters["threshold"]))
    out.print(show.fraud_shapley_table(rows, result))
    result = client.infer("medical-ner", {"text": ("BYTES", examples.MEDICAL_NER)})
    out.print(show.ner_table(examples.MEDICAL_NER, result))
    retail = load_config(repository / "retail-sentiment")
    wanted = ["label", "score", "scores", EXPLANATION]
    result = client.infer("retail-sentiment", {"text": ("BYTES", examples.RETAIL_SENTIMENT)}, outputs=wanted)
    out.print(show.sentiment_table(_title(retail, "min_confidence"), examples.RETAIL_SENTIMENT, result,
                                   list(retail.labels)))  # fmt: skip
    out.print(show.explanation_table("retail-sentiment", examples.RETAIL_SENTIMENT, result))
    result = client.infer(
        "retail-search", {"text": ("BYTES", examples.RETAIL_SEARCH)}, {"top_k": 3}, outputs=["results", EXPLANATION]
    )
    out.print(show.search_table(examples.RETAIL_SEARCH, result))


def _title(config: ModelConfig, parameter: str) -> str:
    return f"{config.name}  (plugin: {config.plugin}, {parameter} {config.parameters[parameter]})"


def run_demo(repository: Path, *, build_only: bool = False, port: int = 0) -> int:
    """Build (or reuse) the demo repository, then serve it and call every model; the exit code."""
    from gatewise_lab.demo.build import build_repository

    out = show.console()
    logging.basicConfig(level=logging.WARNING)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.ERROR)
    repository = Path(repository).resolve()
    with out.status("building the demo repository (first run: train, convert, validate; a few minutes)"):
        manifest = build_repository(repository, progress=lambda line: out.log(line))
    out.print(show.scores_table(manifest))
    if build_only:
        return 0
    port = port or free_port()
    log_path = Path(tempfile.mkstemp(prefix="gatewise-demo-", suffix=".log")[1])
    out.log(f"starting the gateway on 127.0.0.1:{port} (log: {log_path})")
    records = Path(tempfile.mkdtemp(prefix="gatewise-demo-records-"))
    process = start_gateway(repository, port, log_path, records)
    client = DemoClient(f"127.0.0.1:{port}")
    try:
        client.wait_ready(READY_TIMEOUT_S, alive=lambda: process.poll() is None)
        call_models(client, out, repository)
    except Exception as exc:  # noqa: BLE001 - the demo reports any failure and exits non-zero
        out.print(f"[bold red]demo failed:[/] {escape(str(exc))}\n[dim]gateway log: {log_path}[/]")
        out.print(log_path.read_text(errors="replace")[-3000:])
        return 1
    finally:
        client.close()
        stop_gateway(process)
    return show_record(out, records, "finance-fraud")


def show_record(out: show.Console, records: Path, model: str) -> int:
    """Once the gateway stopped (all committed): ``gatewise records show`` for one of ``model``'s decisions."""
    from gatewise.gateway.records.store import Filters, open_store

    store = open_store(records)
    with store:
        found = store.query(Filters(model=model), limit=1)
    if not found:
        out.print(f"[bold red]demo failed:[/] no decision record of {model} in {records}")
        return 1
    command = ["gatewise", "records", "show", found[0]["id"][:12], "--records", str(records)]
    out.rule(f"the decision record of one {model} call: {' '.join(command)}")
    return subprocess.run([sys.executable, "-m", *command], check=False).returncode
