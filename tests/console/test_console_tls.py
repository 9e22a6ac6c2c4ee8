"""Under TLS the session cookie is Secure: a browser never sends it over plain HTTP."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
from gatewise.plugins.manager import PluginManager

from console.support import write_keys
from security.harness import free_port, make_pki, serving


async def test_the_session_cookie_is_secure_under_tls(repository: Path, tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    keys = write_keys(tmp_path)
    port = free_port()
    settings = {
        "tls_cert": pki.server_cert,
        "tls_key": pki.server_key,
        "http_port": port,
        "console": True,
        "auth_keys_file": keys.path,
    }
    async with serving(repository, PluginManager(entry_points=False), **settings):
        trust = ssl.create_default_context(cafile=str(pki.ca))
        async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}", verify=trust, timeout=10) as http:
            answer = await http.post("/console/login", data={"credential": keys.ops})
            assert answer.status_code == 303, answer.text
            attributes = {part.strip().lower() for part in answer.headers["set-cookie"].split(";")}
            assert {"secure", "httponly", "samesite=strict", "path=/"} <= attributes
            page = await http.get("/console/")
            assert page.status_code == 200  # the Secure cookie is sent back over HTTPS
