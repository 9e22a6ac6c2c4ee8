"""A console server for tests: tiny models of each kind, API keys, decision records, and a signed-in client.

Shared with the browser tests: ``console_server`` starts ``gatewise serve --console`` for real.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from gatewise.gateway.security import hash_key, new_token
from gatewise.gateway.security.keys import entry_toml

from conftest import RunningServer, free_port, start_server
from models import build_repository, write_classifier, write_model
from records.support import fraud_graph

VALIDATION_STEP = {"step": "pytorch -> onnx (batch 11)", "output": "scores", "rows": 11, "max_abs": 5.96e-08,
                   "mean_abs": 2.6e-08, "agreement": 1.0, "min_cosine": None}  # fmt: skip
"""What ``gatewise convert`` writes beside a model (validation.json), as the model page shows it."""
XSS_PRINCIPAL = 'eve<script>alert("principal")</script>'
"""A key name holding markup: it shows on pages and in records, always as text."""


@dataclass
class Keys:
    """Bearer tokens: ops may call every model; alice and the markup-named key only ``tiny-*``."""

    ops: str
    alice: str
    eve: str
    path: Path


@dataclass
class ConsoleServer:
    server: RunningServer
    http_port: int
    keys: Keys | None
    records: Path | None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def client(self) -> httpx.Client:
        """A client that follows no redirect (tests look at each answer) and keeps cookies like a browser."""
        return httpx.Client(base_url=self.base, timeout=30, follow_redirects=False)


def write_keys(folder: Path) -> Keys:
    tokens = {name: new_token() for name in ("ops", "alice", "eve")}
    text = entry_toml("ops", hash_key(tokens["ops"]), ["*"], admin=True)
    text += entry_toml("alice", hash_key(tokens["alice"]), ["tiny-*"], admin=False)
    text += entry_toml(XSS_PRINCIPAL, hash_key(tokens["eve"]), ["tiny-*"], admin=False)
    path = folder / "keys.toml"
    path.write_text(text)
    path.chmod(0o600)
    return Keys(tokens["ops"], tokens["alice"], tokens["eve"], path)


def console_repository(root: Path) -> Path:
    """tiny-sentiment (text, explains), tiny-finance (text, masks card numbers), tiny-fraud (one field per
    column, Shapley bars), add-one (a [-1, 4] tensor) and broken (a config that fails)."""
    repository = build_repository(root / "models")
    sentiment = repository / "tiny-sentiment" / "config.toml"  # keeps the explanations it computes
    sentiment.write_text(sentiment.read_text() + '\n[records]\nexplanation = "always"\n')
    finance = write_classifier(repository, "tiny-finance", plugin="finance")
    (finance / "1" / "validation.json").write_text(json.dumps([VALIDATION_STEP]))
    from gatewise.plugins.finance.fraud_features import NUM_FEATURES

    write_model(repository, "tiny-fraud", fraud_graph(NUM_FEATURES), 'plugin = "finance"\ntask = "transaction-fraud"\n')
    return repository


def http_ready(port: int):
    def ready(_url: str) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return ready


def console_server(
    root: Path, *extra: str, auth: bool = True, records: bool = True, console: bool = True
) -> ConsoleServer:
    """``gatewise serve --console`` (unless ``console`` is False) on the tiny repository, ready to answer HTTP."""
    repository = console_repository(root)
    keys = write_keys(root) if auth else None
    port = free_port()
    flags = ["--http-port", str(port)]
    if console:
        flags.append("--console")
    if keys is not None:
        flags += ["--auth-keys-file", str(keys.path)]
    if records:
        flags += ["--records", str(root / "records"), "--records-models", "*"]
    server = start_server(repository, root / "server.log", *flags, *extra, ready=http_ready(port))
    return ConsoleServer(server, port, keys, root / "records" if records else None)


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]*)">', html)
    assert match, "no csrf-token meta on the page"
    return match[1]


def sign_in(client: httpx.Client, token: str) -> str:
    """Sign ``client`` in with ``token``; returns the CSRF token of its session."""
    answer = client.post("/console/login", data={"credential": token})
    assert answer.status_code == 303, answer.text
    page = client.get("/console/")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)
