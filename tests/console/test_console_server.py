"""The console against a real ``gatewise serve --console``: sign-in, the session cookie and CSRF,
the security headers, the statistics call, the records pages, and markup shown as text."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

from conftest import stop_server
from console.support import XSS_PRINCIPAL, ConsoleServer, console_server, csrf_of, sign_in
from gatewise_lab.serving import free_port, serve_command
from records.support import sqlite_rows, wait_for

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
MARKUP = '<img src=x onerror=alert(1)> and <script>alert("review")</script> good'


def text_request(text: str, **parameters: object) -> dict:
    body: dict = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [text]}]}
    if parameters:
        body["parameters"] = parameters
    return body


ADD_ONE = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------- on, off, and without authentication


def test_without_console_every_console_path_is_404(tmp_path: Path) -> None:
    """Off by default: no page, no asset, no stats, no cookie; the REST API is as before."""
    off = console_server(tmp_path, records=False, console=False)
    try:
        with off.client() as http:
            for path in ("/console", "/console/", "/console/login", "/console/static/console.js", "/console/api/stats"):
                answer = http.get(path, headers=bearer(off.keys.ops))
                assert answer.status_code == 404, path
                assert "set-cookie" not in answer.headers
            assert http.post("/console/login", data={"credential": off.keys.ops}).status_code == 404
            assert http.post("/v2/models/add-one/infer", json=ADD_ONE, headers=bearer(off.keys.ops)).status_code == 200
    finally:
        stop_server(off.server)


def test_without_authentication_the_console_needs_no_sign_in(tmp_path: Path) -> None:
    """No API keys or JWTs configured (loopback): the pages open at once, with a session for the CSRF token."""
    open_server = console_server(tmp_path, auth=False, records=False)
    try:
        with open_server.client() as http:
            assert http.get("/console/login").headers["location"] == "/console/"
            page = http.get("/console/")
            assert page.status_code == 200 and 'data-testid="models-table"' in page.text
            assert "gatewise_console" in page.headers["set-cookie"]
            token = csrf_of(page.text)
            infer = http.post(
                "/v2/models/tiny-sentiment/infer", json=text_request("good"), headers={"X-CSRF-Token": token}
            )
            assert infer.status_code == 200, infer.text
            assert http.post("/v2/models/tiny-sentiment/infer", json=text_request("good")).status_code == 403
            records = http.get("/console/records")
            assert records.status_code == 200 and 'data-testid="records-off"' in records.text
            assert "--records DIR" in records.text
    finally:
        stop_server(open_server.server)


def test_console_without_an_http_port_refuses_to_start(tmp_path: Path) -> None:
    command = serve_command(tmp_path, free_port(), "--http-port", "0", "--console")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "--console is served on the HTTP port, and --http-port is 0" in done.stderr


# ---------------------------------------------------------------- signing in


def test_a_wrong_credential_fails_with_a_clear_message_and_no_cookie(console: ConsoleServer) -> None:
    with console.client() as http:
        wrong = http.post("/console/login", data={"credential": "not-a-key"})
        assert wrong.status_code == 401
        assert 'data-testid="login-error"' in wrong.text and "Sign-in failed: unknown API key." in wrong.text
        assert "set-cookie" not in wrong.headers
        empty = http.post("/console/login", data={"credential": "  "})
        assert empty.status_code == 400 and "Enter an API key or a token." in empty.text
        assert "set-cookie" not in empty.headers
        assert http.get("/console/").status_code == 303  # still signed out


def test_signing_in_sets_an_httponly_samesite_strict_cookie_holding_no_credential(console: ConsoleServer) -> None:
    with console.client() as http:
        answer = http.post("/console/login", data={"credential": console.keys.alice})
        assert answer.status_code == 303 and answer.headers["location"] == "/console/"
        cookie = answer.headers["set-cookie"]
        attributes = [part.strip().lower() for part in cookie.split(";")]
        assert attributes[0].startswith("gatewise_console=")
        assert {"httponly", "samesite=strict", "path=/"} <= set(attributes)
        assert "secure" not in attributes  # plain HTTP here; Secure under TLS
        assert console.keys.alice not in cookie
        page = http.get("/console/")
        assert page.status_code == 200
        assert console.keys.alice not in page.text
        # alice may call tiny-* only: the models page lists nothing else
        assert 'data-model="tiny-sentiment"' in page.text and 'data-model="tiny-fraud"' in page.text
        assert 'data-model="add-one"' not in page.text
        assert http.get("/console/models/add-one").status_code == 403


def test_a_browser_without_a_session_is_sent_to_the_login_page(console: ConsoleServer) -> None:
    with console.client() as http:
        for path in ("/console/", "/console/models/tiny-sentiment", "/console/records"):
            answer = http.get(path)
            assert answer.status_code == 303 and answer.headers["location"] == "/console/login", path
        http.cookies.set("gatewise_console", "made-up-session-id")
        assert http.get("/console/").headers["location"] == "/console/login"
        assert http.get("/console/api/stats").status_code == 401


def test_a_sign_in_form_posted_from_another_site_is_refused(console: ConsoleServer) -> None:
    """What the browser says of where the form came from decides; its own pages' posts carry Origin: null
    (their Referrer-Policy is no-referrer) with Sec-Fetch-Site: same-origin."""
    with console.client() as http:
        for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site", "Origin": "null"}):
            answer = http.post("/console/login", data={"credential": console.keys.ops}, headers=headers)
            assert answer.status_code == 403 and "set-cookie" not in answer.headers, headers
        own = http.post(
            "/console/login",
            data={"credential": console.keys.ops},
            headers={"Sec-Fetch-Site": "same-origin", "Origin": "null"},
        )
        assert own.status_code == 303 and "gatewise_console=" in own.headers["set-cookie"]


# ---------------------------------------------------------------- headers on every console response


def test_every_console_response_carries_the_strict_csp(console: ConsoleServer) -> None:
    with console.client() as http:
        paths = ["/console/login", "/console/static/console.css", "/console/static/model.js"]
        vendor = "/console/static/vendor/uplot"
        paths += [f"{vendor}/uPlot.esm.js", f"{vendor}/uPlot.min.css", "/console/nowhere"]
        before = [http.get(path) for path in paths]
        sign_in(http, console.keys.ops)
        after = [
            http.get(path)
            for path in (
                "/console/",
                "/console/models/tiny-sentiment",
                "/console/models/tiny-fraud",
                "/console/models/broken",
                "/console/records",
                "/console/records/ffff",
                "/console/api/stats",
            )
        ]
    for answer in before + after:
        where = str(answer.url)
        assert answer.headers.get("content-security-policy") == CSP, where
        assert answer.headers.get("x-content-type-options") == "nosniff", where
        assert answer.headers.get("referrer-policy") == "no-referrer", where
        assert answer.headers.get("x-frame-options") == "DENY", where
    statuses = {str(answer.url).split("/console")[1]: answer.status_code for answer in before + after}
    assert statuses["/static/vendor/uplot/uPlot.esm.js"] == 200 and statuses["/nowhere"] == 404
    assert statuses["/models/broken"] == 503 and statuses["/records/ffff"] == 404
    assert "max_queue_delay_ms" in after[3].text and str(console.server.repository) not in after[3].text
    assert before[1].headers["content-type"].startswith("text/css")
    assert "javascript" in before[2].headers["content-type"]


def test_pages_hold_no_inline_script_or_style(console: ConsoleServer) -> None:
    """What the CSP would block must not be there to block: every script is a file, no style attribute."""
    with console.client() as http:
        sign_in(http, console.keys.ops)
        for path in ("/console/", "/console/models/tiny-sentiment", "/console/models/tiny-fraud", "/console/records"):
            html = http.get(path).text
            assert " style=" not in html and "<style" not in html, path
            assert " on" + "click=" not in html and "javascript:" not in html, path
            for tag in html.split("<script")[1:]:
                assert tag.lstrip().startswith(('type="module" src="/console/static/', 'type="application/json"')), path


def test_a_model_page_builds_the_try_it_form_from_the_signature(console: ConsoleServer) -> None:
    """A text box for a text model, one typed field per column for the tabular fraud model, a
    number row for a tensor; the config and the converter's validation figures beside it."""
    from gatewise.plugins.finance.fraud_features import FIELDS

    with console.client() as http:
        sign_in(http, console.keys.ops)
        text = http.get("/console/models/tiny-finance").text
        fraud = http.get("/console/models/tiny-fraud").text
        tensor = http.get("/console/models/add-one").text
    assert text.count('data-testid="try-input"') == 1 and 'data-testid="try-field"' not in text
    assert 'data-explains="true"' in text
    assert 'data-testid="validation"' in text and "pytorch -&gt; onnx (batch 11)" in text and "5.96e-08" in text
    assert "plugin = &#34;finance&#34;" in text  # config.toml, as text
    for name, datatype in FIELDS.items():
        assert f'data-testid="try-field" data-column="{name}" data-datatype="{datatype}"' in fraud
    assert 'data-testid="try-input"' not in fraud and 'data-explains="true"' in fraud
    assert 'data-column="x" data-datatype="FP32" data-kind="vector"' in tensor and 'data-explains="false"' in tensor
    assert "No validation.json" in tensor


# ---------------------------------------------------------------- the cookie, CSRF, and the REST API


def test_infer_through_the_session_cookie_needs_the_csrf_header(console: ConsoleServer) -> None:
    with console.client() as http:
        token = sign_in(http, console.keys.alice)
        path = "/v2/models/tiny-sentiment/infer"
        missing = http.post(path, json=text_request("good"))
        assert missing.status_code == 403 and "X-CSRF-Token" in missing.json()["error"]
        wrong = http.post(path, json=text_request("good"), headers={"X-CSRF-Token": token[:-2] + "xx"})
        assert wrong.status_code == 403
        ok = http.post(path, json=text_request("good movie", explain=True), headers={"X-CSRF-Token": token})
        assert ok.status_code == 200, ok.text
        outputs = {output["name"] for output in ok.json()["outputs"]}
        assert {"label", "explanation"} <= outputs
        assert http.get("/v2/models/tiny-sentiment").status_code == 200  # reading needs no token
        # the session's principal is alice: the same rules as her key
        denied = http.post("/v2/models/add-one/infer", json=ADD_ONE, headers={"X-CSRF-Token": token})
        assert denied.status_code == 403 and "principal 'alice' may not call model 'add-one'" in denied.json()["error"]


def test_header_authenticated_requests_work_exactly_as_before(console: ConsoleServer) -> None:
    with console.client() as http:
        assert http.post("/v2/models/add-one/infer", json=ADD_ONE).status_code == 401
        assert http.post("/v2/models/add-one/infer", json=ADD_ONE, headers=bearer(console.keys.ops)).status_code == 200
        sign_in(http, console.keys.ops)
        # a header wins over the cookie: no CSRF token needed, and a bad header is not rescued by the cookie
        assert (
            http.post("/v2/models/add-one/infer", json=ADD_ONE, headers=bearer(console.keys.alice)).status_code == 403
        )
        assert http.post("/v2/models/add-one/infer", json=ADD_ONE, headers=bearer("nope")).status_code == 401
        assert http.get("/console/api/stats", headers=bearer(console.keys.alice)).status_code == 200


# ---------------------------------------------------------------- statistics


def test_stats_returns_every_model_in_one_call_and_follows_the_requests(console: ConsoleServer) -> None:
    with console.client() as http:
        sign_in(http, console.keys.ops)
        first = http.get("/console/api/stats").json()
        names = {model["name"] for model in first["models"]}
        assert {"add-one", "tiny-sentiment", "tiny-finance", "tiny-fraud", "broken"} <= names
        by_name = {model["name"]: model for model in first["models"]}
        assert (
            by_name["broken"]["state"] == "UNAVAILABLE"
            and "max_queue_delay_ms" in by_name["broken"]["versions"][0]["reason"]
        )
        add_one = by_name["add-one"]["versions"][0]
        assert add_one["engine"] == "onnxruntime" and "CPUExecutionProvider" in add_one["providers"]
        assert add_one["memory_host_bytes"] > 0
        assert by_name["tiny-finance"]["plugin"] == "finance"
        for _ in range(7):
            assert (
                http.post("/v2/models/add-one/infer", json=ADD_ONE, headers=bearer(console.keys.ops)).status_code == 200
            )
        time.sleep(1.1)  # polls closer than a second share a snapshot
        later = {model["name"]: model for model in http.get("/console/api/stats").json()["models"]}
        minute = later["add-one"]["windows"]["60s"]
        assert later["add-one"]["versions"][0]["requests"] - add_one["requests"] == 7
        assert minute["requests"] >= 7  # and any add-one request of an earlier test inside the minute
        assert minute["requests_per_s"] > 0 and minute["p50_ms"] > 0 and minute["p99_ms"] >= minute["p50_ms"]
    with console.client() as http:
        sign_in(http, console.keys.alice)
        seen = {model["name"] for model in http.get("/console/api/stats").json()["models"]}
        assert seen == {"tiny-sentiment", "tiny-finance", "tiny-fraud"}


# ---------------------------------------------------------------- records


def _records(console: ConsoleServer, count: int) -> list[dict]:
    return wait_for(
        lambda: (
            (rows := [r for r in sqlite_rows(console.records) if r["kind"] == "decision"])
            and len(rows) >= count
            and rows
        ),
        f"{count} decision records",
    )


def test_records_page_filters_by_model_principal_decision_and_time(console: ConsoleServer) -> None:
    with console.client() as ops, console.client() as alice:
        ops_csrf = sign_in(ops, console.keys.ops)
        alice_csrf = sign_in(alice, console.keys.alice)
        before = (
            len([r for r in sqlite_rows(console.records) if r["kind"] == "decision"]) if console.records.exists() else 0
        )
        assert ops.post("/v2/models/add-one/infer", json=ADD_ONE, headers={"X-CSRF-Token": ops_csrf}).status_code == 200
        card = text_request("paid with 4111 1111 1111 1111, good")
        assert (
            ops.post("/v2/models/tiny-finance/infer", json=card, headers={"X-CSRF-Token": ops_csrf}).status_code == 200
        )
        said = alice.post(
            "/v2/models/tiny-sentiment/infer", json=text_request("bad"), headers={"X-CSRF-Token": alice_csrf}
        )
        assert said.status_code == 200
        rows = _records(console, before + 3)
        page = ops.get("/console/records", params={"model": "tiny-finance"})
        assert page.status_code == 200
        finance_ids = {r["id"] for r in rows if r["model"] == "tiny-finance"}
        shown = set(_ids(page.text))
        assert shown and shown <= finance_ids
        assert "4111 1111 1111 1111" not in page.text
        by_alice = set(_ids(ops.get("/console/records", params={"principal": "alice"}).text))
        assert by_alice == {r["id"] for r in rows if r["principal"] == "alice"}
        label = next(output for output in said.json()["outputs"] if output["name"] == "label")["data"][0]
        decided = set(_ids(ops.get("/console/records", params={"decision": label, "model": "tiny-sentiment"}).text))
        assert decided and decided <= {
            r["id"] for r in rows if r["model"] == "tiny-sentiment" and label in (r["decision"] or "")
        }
        assert _ids(ops.get("/console/records", params={"until": "2000-01-01"}).text) == []
        assert set(_ids(ops.get("/console/records", params={"since": "1h"}).text)) >= {r["id"] for r in rows[-3:]}
        bad = ops.get("/console/records", params={"since": "last tuesday"})
        assert bad.status_code == 400 and "since &#39;last tuesday&#39;: give an age" in bad.text
        # alice sees the records of the models she may call, never add-one's
        hers = set(_ids(alice.get("/console/records").text))
        assert hers and not hers & {r["id"] for r in rows if r["model"] == "add-one"}
        add_one_id = next(r["id"] for r in rows if r["model"] == "add-one")
        assert alice.get(f"/console/records/{add_one_id}").status_code == 404
        assert ops.get(f"/console/records/{add_one_id}").status_code == 200


def _ids(html: str) -> list[str]:
    import re

    return re.findall(r'data-testid="record-row" data-record="([0-9a-f]+)"', html)


def test_markup_in_a_record_and_in_a_principal_name_is_shown_as_text(console: ConsoleServer) -> None:
    """A review holding <img onerror> and <script>, sent by a key whose name holds <script>: every
    server-rendered page escapes it, and the explanation's JSON block cannot close its script element."""
    with console.client() as eve:
        csrf = sign_in(eve, console.keys.eve)
        home = eve.get("/console/")
        assert (
            XSS_PRINCIPAL not in home.text and "eve&lt;script&gt;alert(&#34;principal&#34;)&lt;/script&gt;" in home.text
        )
        answer = eve.post(
            "/v2/models/tiny-sentiment/infer", json=text_request(MARKUP, explain=True), headers={"X-CSRF-Token": csrf}
        )
        assert answer.status_code == 200, answer.text
    rows = wait_for(
        lambda: [
            r for r in sqlite_rows(console.records) if r["kind"] == "decision" and r["principal"] == XSS_PRINCIPAL
        ],
        "eve's record",
    )
    with console.client() as ops:
        sign_in(ops, console.keys.ops)
        listing = ops.get("/console/records", params={"principal": XSS_PRINCIPAL}).text
        detail = ops.get(f"/console/records/{rows[0]['id']}").text
    for html in (listing, detail):
        assert "<img src=x" not in html and '<script>alert("' not in html
        assert "eve&lt;script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in detail  # the inputs as kept, as text
    assert 'data-testid="record-detail"' in detail and 'data-holds="true"' in detail
    block = detail.split('<script type="application/json" id="record-explanations">')[1].split("</script>")[0]
    assert "<" not in block and '"attributions"' in block  # tojson escapes < as \u003c


def test_a_record_page_shows_the_decision_version_artifact_and_a_chain_that_verifies(console: ConsoleServer) -> None:
    rows = _records(console, 1)
    record = next(r for r in rows if r["model"] == "tiny-sentiment")
    with console.client() as http:
        sign_in(http, console.keys.ops)
        html = http.get(f"/console/records/{record['id']}").text
    assert f'data-testid="record-version">{record["version"]}<' in html
    assert record["artifact_sha256"] and record["artifact_sha256"] in html
    assert 'data-testid="chain-status" data-holds="true"' in html
    assert "checkpoint signatures not checked" in html  # no --records-key-file on this server


def test_an_altered_record_shows_a_chain_that_does_not_verify(console: ConsoleServer) -> None:
    """Runs last in this module: it alters the store."""
    record = next(r for r in _records(console, 1) if r["model"] == "tiny-finance")
    with sqlite3.connect(console.records / "records.sqlite") as conn:
        conn.execute("UPDATE records SET decision = 'approved' WHERE id = ?", (record["id"],))
    with console.client() as http:
        sign_in(http, console.keys.ops)
        html = http.get(f"/console/records/{record['id']}").text
    assert 'data-holds="false"' in html and "altered: its content does not match its hash" in html


# ---------------------------------------------------------------- signing out, idle and bounded sessions


def test_logout_needs_the_csrf_token_and_ends_the_session(console: ConsoleServer) -> None:
    with console.client() as http:
        token = sign_in(http, console.keys.alice)
        assert http.post("/console/logout").status_code == 403
        assert http.get("/console/").status_code == 200  # still signed in
        cookie = http.cookies.get("gatewise_console")
        out = http.post("/console/logout", headers={"X-CSRF-Token": token})
        assert out.status_code == 303 and out.headers["location"] == "/console/login"
        assert 'gatewise_console=""' in out.headers["set-cookie"] or "Max-Age=0" in out.headers["set-cookie"]
    with console.client() as stale:  # the old cookie, as a browser that kept it would send it
        stale.cookies.set("gatewise_console", cookie)
        assert stale.get("/console/").status_code == 303
        again = stale.post(
            "/v2/models/tiny-sentiment/infer", json=text_request("good"), headers={"X-CSRF-Token": token}
        )
        assert again.status_code == 401


def test_sessions_end_when_idle_and_past_the_bound(tmp_path: Path) -> None:
    small = console_server(tmp_path, "--console-max-sessions", "2", "--console-session-idle", "2", records=False)
    try:
        clients = [small.client() for _ in range(3)]
        for client in clients:
            sign_in(client, small.keys.ops)
        assert clients[0].get("/console/").status_code == 303  # the least recently used went
        assert clients[1].get("/console/").status_code == 200 and clients[2].get("/console/").status_code == 200
        time.sleep(3)  # past the 2 s idle limit
        assert clients[1].get("/console/").status_code == 303
        for client in clients:
            client.close()
    finally:
        stop_server(small.server)
