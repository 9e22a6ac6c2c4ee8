"""The console signs in with what the API accepts (API keys and JWTs, the same authenticator), and a
session lasts only as long as its credential does."""

from __future__ import annotations

from pathlib import Path

import httpx
from gatewise.gateway.security import hash_key
from gatewise.gateway.security.keys import entry_toml
from gatewise.plugins.manager import PluginManager

from console.support import csrf_of, write_keys
from security.conftest import _signer
from security.harness import free_port, serving

TEXT = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["good"]}]}


async def test_a_jwt_signs_in_and_its_claims_decide_what_the_session_may_call(repository: Path, tmp_path: Path) -> None:
    for folder in ("ours", "theirs"):
        (tmp_path / folder).mkdir()
    signer, stranger = _signer(tmp_path / "ours", "ES256"), _signer(tmp_path / "theirs", "ES256")
    port = free_port()
    settings = {"jwt_public_key": signer.public_key, "http_port": port, "console": True}
    async with serving(repository, PluginManager(entry_points=False), **settings):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            forged = await http.post("/console/login", data={"credential": stranger.sign(models=["*"])})
            assert forged.status_code == 401 and "Sign-in failed:" in forged.text and "set-cookie" not in forged.headers
            expired = await http.post("/console/login", data={"credential": signer.sign(expires_in=-600)})
            assert expired.status_code == 401 and "expired" in expired.text.lower()
            token = signer.sign(sub="risk-officer", models=["tiny-*"])
            assert (await http.post("/console/login", data={"credential": token})).status_code == 303
            page = await http.get("/console/")
            assert page.status_code == 200 and "risk-officer" in page.text and token not in page.text
            csrf = {"X-CSRF-Token": csrf_of(page.text)}
            assert (await http.post("/v2/models/tiny-sentiment/infer", json=TEXT, headers=csrf)).status_code == 200
            add_one = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
            assert (await http.post("/v2/models/add-one/infer", json=add_one, headers=csrf)).status_code == 403


async def test_a_key_removed_on_reload_ends_its_sessions(repository: Path, tmp_path: Path) -> None:
    """The credential is checked again on every request: SIGHUP's new key file takes effect at once."""
    keys = write_keys(tmp_path)
    port = free_port()
    settings = {"auth_keys_file": keys.path, "http_port": port, "console": True}
    async with serving(repository, PluginManager(entry_points=False), **settings) as server:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert (await http.post("/console/login", data={"credential": keys.alice})).status_code == 303
            page = await http.get("/console/")
            csrf = {"X-CSRF-Token": csrf_of(page.text)}
            assert (await http.post("/v2/models/tiny-sentiment/infer", json=TEXT, headers=csrf)).status_code == 200
            keys.path.write_text(entry_toml("ops", hash_key(keys.ops), ["*"], admin=True))  # alice's key is gone
            assert await server.reload_credentials()
            refused = await http.post("/v2/models/tiny-sentiment/infer", json=TEXT, headers=csrf)
            assert refused.status_code == 401
            again = await http.get("/console/")
            assert again.status_code == 303 and again.headers["location"] == "/console/login?expired=1"
            login = await http.get("/console/login?expired=1")
            assert "Your session ended; sign in again." in login.text
