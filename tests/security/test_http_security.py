"""HTTP has gRPC's security: the same tokens from ``Authorization: Bearer``, the same
per-model and admin rules, the same audit of refusals, the same TLS certificates."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
from gatewise.plugins.manager import PluginManager

from security.conftest import JwtSigner, Keys
from security.harness import Pki, Recorder, free_port, serving

ADD_ONE = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
TEXT = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["good"]}]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_api_keys_and_model_rules_apply_to_http(repository: Path, keys: Keys) -> None:
    recorder = Recorder()
    plugins = PluginManager(entry_points=False, extra=[("recorder", recorder)])
    port = free_port()
    settings = {"auth_keys_file": keys.path, "repository_control": True, "http_port": port}
    async with serving(repository, plugins, **settings):  # stopping flushes the audit
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert (await http.get("/v2/health/ready")).status_code == 200  # probes need no token
            assert (await http.get("/v2/health/live")).status_code == 200
            missing = await http.post("/v2/models/add-one/infer", json=ADD_ONE)
            assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
            assert "authorization" in missing.json()["error"]
            wrong = await http.post("/v2/models/add-one/infer", json=ADD_ONE, headers=bearer("not-a-key"))
            assert wrong.status_code == 401 and wrong.json() == {"error": "unknown API key"}
            assert (await http.get("/v2", headers=bearer("not-a-key"))).status_code == 401

            ok = await http.post("/v2/models/add-one/infer", json=ADD_ONE, headers=bearer(keys.alice))
            assert ok.status_code == 200, ok.text
            assert (await http.get("/v2/models/tiny-sentiment", headers=bearer(keys.alice))).status_code == 200
            # alice may not call broken, read every model's statistics, or load/unload
            for method, path in [
                ("GET", "/v2/models/broken"),
                ("GET", "/v2/models/stats"),
                ("POST", "/v2/repository/models/add-one/unload"),
            ]:
                denied = await http.request(method, path, headers=bearer(keys.alice))
                assert denied.status_code == 403, (path, denied.text)
                assert "principal 'alice' may not" in denied.json()["error"]
            # the admin may
            assert (await http.get("/v2/models/stats", headers=bearer(keys.admin))).status_code == 200
            reload = await http.post("/v2/repository/models/add-one/load", headers=bearer(keys.admin))
            assert reload.status_code == 200, reload.text
    refusals = [event for event in recorder.events if event["status"] in ("UNAUTHENTICATED", "PERMISSION_DENIED")]
    assert {
        "model": "",
        "principal": "<unauthenticated>",
        "status": "UNAUTHENTICATED",
        "method": "ModelInfer",
    } in refusals
    assert {
        "model": "broken",
        "principal": "alice",
        "status": "PERMISSION_DENIED",
        "method": "ModelMetadata",
    } in refusals
    answered = [event for event in recorder.events if event["status"] == "OK"]
    assert {"model": "add-one", "principal": "alice", "status": "OK", "method": "ModelInfer"} in answered


async def test_jwts_work_over_http(repository: Path, jwt_signer: JwtSigner) -> None:
    port = free_port()
    async with serving(repository, jwt_public_key=jwt_signer.public_key, http_port=port):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            token = jwt_signer.sign(models=["add-one"])
            assert (await http.post("/v2/models/add-one/infer", json=ADD_ONE, headers=bearer(token))).status_code == 200
            other = await http.post("/v2/models/tiny-sentiment/infer", json=TEXT, headers=bearer(token))
            assert other.status_code == 403
            expired = jwt_signer.sign(models=["add-one"], expires_in=-60)
            refused = await http.post("/v2/models/add-one/infer", json=ADD_ONE, headers=bearer(expired))
            assert refused.status_code == 401 and "expired" in refused.json()["error"]


async def test_https_with_the_grpc_certificates_and_mutual_tls(repository: Path, pki: Pki) -> None:
    """The same PEM files serve HTTPS; with a client CA, a client without its certificate is refused."""
    port = free_port()
    settings = {"tls_cert": pki.server_cert, "tls_key": pki.server_key, "tls_client_ca": pki.ca, "http_port": port}
    async with serving(repository, **settings):
        trusted = ssl.create_default_context(cafile=str(pki.ca))
        with_cert = ssl.create_default_context(cafile=str(pki.ca))
        with_cert.load_cert_chain(pki.client_cert, pki.client_key)
        async with httpx.AsyncClient(verify=with_cert, timeout=10) as http:
            answer = await http.post(f"https://127.0.0.1:{port}/v2/models/add-one/infer", json=ADD_ONE)
            assert answer.status_code == 200
        async with httpx.AsyncClient(verify=trusted, timeout=10) as http:
            with pytest.raises(httpx.TransportError):
                await http.post(f"https://127.0.0.1:{port}/v2/models/add-one/infer", json=ADD_ONE)
        async with httpx.AsyncClient(timeout=10) as http:
            with pytest.raises(httpx.TransportError):
                await http.get(f"http://127.0.0.1:{port}/v2/health/live")


async def test_a_burst_of_refused_http_calls_logs_one_line_per_kind(
    repository: Path, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    """As on gRPC: a client can make refusals at will, so the log gets one line (and later a count), not one each."""
    port = free_port()
    async with serving(repository, auth_keys_file=keys.path, http_port=port):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            with caplog.at_level("INFO", logger="gatewise.http"):
                for _ in range(50):
                    refused = await http.post("/v2/models/add-one/infer", json=ADD_ONE, headers=bearer("x" * 5000))
                    assert refused.status_code == 401
                    denied = await http.get("/v2/models/broken", headers=bearer(keys.alice))
                    assert denied.status_code == 403
    lines = [record.getMessage() for record in caplog.records if record.name == "gatewise.http"]
    assert len([line for line in lines if line.startswith("refused ")]) == 1, lines
    assert len([line for line in lines if line.startswith("denied ")]) == 1, lines
    assert all(len(line) < 2000 for line in lines)
