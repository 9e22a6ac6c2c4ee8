"""What an open console costs serving: ordinary REST throughput with the console closed and open, interleaved.

``gatewise bench --console`` starts one ``gatewise serve --console`` (an API key, so the
console has someone to log in) and drives single-row KServe v2 REST infers with JSON bodies
(``bench/http.py``'s client: one keep-alive connection per caller, the key on every request)
at the highest ``--concurrency``. Each round measures, in a rotating order, three states:

- console closed: nobody has the console open;
- console open, stats poller: what an open models page asks of the server, done by a small
  client in the load's own process: one page load (the page and every asset it names), then
  ``GET /console/api/stats`` every 2 s, as the page polls;
- console open, Chromium: a real headless Chromium, logged in, with the models page open
  and polling by itself. Between its rounds it shows about:blank, so the browser's idle cost
  is in every state alike. The browser runs on the server's machine here (on the benchmark
  VM there is no other), so its drawing competes with the server for the same CPUs, which a
  risk officer's own laptop would not: the harder case.

Each row reports its median round; the ratio of each open state to closed is the median of
the per-round ratios, so a shared machine's drift between rounds falls on both sides alike.
After the rounds, 200 statistics calls one after another on the idle server give their own
cost in the server's CPU time (from /proc): a figure the machine's noise moves far less, and
with one call per 2 s, the share of a core an open models page takes.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from rich.console import Console
from rich.table import Table

from gatewise_lab.bench.clients import run_client
from gatewise_lab.bench.http import Payloads, http_closed_loop, start_both
from gatewise_lab.bench.perf_analyzer import process_cpu_seconds
from gatewise_lab.bench.plan import BenchPlan
from gatewise_lab.bench.rows import Row, median_round

POLL_S = 2.0
"""How often an open models page asks for the statistics."""
COOKIE = "gatewise_console"
CLOSED = "console closed"
POLLER = "console open: stats poller"
CHROMIUM = "console open: Chromium"
STATS_CALLS = 200
"""Statistics calls timed one after another on the idle server, for their CPU cost."""
ASSET = re.compile(r"""(?:src|href)="(/console/[^"]+)\"""")


def write_key(folder: Path) -> tuple[Path, str]:
    """A fresh API key (every model) in an owner-only key file; returns the file and the token."""
    from gatewise.gateway.security import hash_key, new_token
    from gatewise.gateway.security.keys import entry_toml

    token = new_token()
    path = folder / "keys.toml"
    path.write_text(entry_toml("console-bench", hash_key(token), ["*"], admin=False))
    path.chmod(0o600)
    return path, token


async def console_session(session: aiohttp.ClientSession, base: str, key: str) -> str:
    """Log in through the console's form; returns the session cookie's value (kept by hand: aiohttp's jar
    ignores cookies for IP addresses)."""
    async with session.post(f"{base}/console/login", data={"credential": key}, allow_redirects=False) as answer:
        await answer.read()
        cookie = answer.cookies.get(COOKIE)
        if answer.status >= 400 or cookie is None:
            raise RuntimeError(f"console login answered {answer.status} without a {COOKIE} cookie")
        return cookie.value


async def page_load(session: aiohttp.ClientSession, base: str, headers: dict[str, str]) -> int:
    """The models page and every local asset it names, as a browser's first load; returns the bytes read."""
    async with session.get(f"{base}/console/", headers=headers) as answer:
        page = await answer.text()
        if answer.status != 200:
            raise RuntimeError(f"GET /console/ answered {answer.status}")
    size = len(page)
    for path in sorted(set(ASSET.findall(page))):
        async with session.get(base + path, headers=headers) as answer:
            size += len(await answer.read())
    return size


async def poll_stats(base: str, key: str, stop: asyncio.Event, latencies: list[float]) -> None:
    """An open models page without the browser: one page load, then the statistics every ``POLL_S`` until ``stop``."""
    async with aiohttp.ClientSession() as session:
        headers = {"Cookie": f"{COOKIE}={await console_session(session, base, key)}"}
        await page_load(session, base, headers)
        while not stop.is_set():
            sent = time.perf_counter()
            async with session.get(f"{base}/console/api/stats", headers=headers) as answer:
                await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"GET /console/api/stats answered {answer.status}")
            latencies.append(time.perf_counter() - sent)
            try:
                await asyncio.wait_for(stop.wait(), POLL_S)
            except TimeoutError:
                pass


async def load_with_poller(
    base: str, payloads: Payloads, concurrency: int, seconds: float, key: str, polls: list[float]
) -> Row:
    """The ordinary load while ``poll_stats`` keeps a models page's traffic going beside it."""
    stop = asyncio.Event()
    poller = asyncio.create_task(poll_stats(base, key, stop, polls))
    try:
        return await http_closed_loop(base, payloads, False, concurrency, seconds, {"authorization": f"Bearer {key}"})
    finally:
        stop.set()
        await poller


async def stats_cost(base: str, key: str, pid: int, calls: int) -> tuple[float, float]:
    """The server's CPU milliseconds and the wall milliseconds per statistics call, over ``calls`` calls one after
    another on an otherwise idle server: what an open models page costs, whatever else loads the machine."""
    async with aiohttp.ClientSession() as session:
        headers = {"Cookie": f"{COOKIE}={await console_session(session, base, key)}"}
        async with session.get(f"{base}/console/api/stats", headers=headers) as answer:
            await answer.read()
        cpu, wall = process_cpu_seconds(pid, children=True), time.perf_counter()
        for _ in range(calls):
            async with session.get(f"{base}/console/api/stats", headers=headers) as answer:
                await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"GET /console/api/stats answered {answer.status}")
        cpu_s, wall_s = process_cpu_seconds(pid, children=True) - cpu, time.perf_counter() - wall
        return cpu_s / calls * 1000, wall_s / calls * 1000


class Browser:
    """Headless Chromium logged in to the console; ``open`` shows the models page, ``close`` about:blank."""

    def __init__(self, base: str, key: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ready
        from selenium.webdriver.support.ui import WebDriverWait

        if not (Path("/usr/bin/chromium").is_file() and Path("/usr/bin/chromedriver").is_file()):
            raise RuntimeError("no /usr/bin/chromium and chromedriver (scripts/bootstrap.sh); or pass --no-browser")
        self.base = base
        self.profile = tempfile.mkdtemp(prefix="gatewise-console-bench-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--window-size=1280,900", f"--user-data-dir={self.profile}",
                     "--disable-dev-shm-usage"):  # fmt: skip
            options.add_argument(flag)
        if os.geteuid() == 0:
            options.add_argument("--no-sandbox")  # NOTE: Chromium will not start as root with its sandbox
        self.driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        self._wait = lambda: WebDriverWait(self.driver, 60).until(
            ready.presence_of_element_located((By.CSS_SELECTOR, '[data-testid="models-table"]'))
        )
        self.driver.get(f"{base}/console/login")
        self.driver.find_element(By.CSS_SELECTOR, '[data-testid="login-credential"]').send_keys(key)
        self.driver.find_element(By.CSS_SELECTOR, '[data-testid="login-submit"]').click()
        self._wait()
        self.close()

    def open(self) -> None:
        self.driver.get(f"{self.base}/console/")
        self._wait()  # a new document: its resource timings start empty

    def polls(self) -> int:
        """Statistics requests the open page has made since ``open`` loaded it."""
        return int(
            self.driver.execute_script(
                "return performance.getEntriesByType('resource')"
                ".filter(e => e.name.includes('/console/api/stats')).length"
            )
        )

    def close(self) -> None:
        self.driver.get("about:blank")

    def quit(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)


@dataclass
class ConsoleBench:
    """What one run measured: each state's median round, the statistics calls of each open round, their latencies
    (the poller's, in seconds), and each open state's throughput over closed (the median of per-round ratios)."""

    rows: dict[str, Row]
    polls: dict[str, list[int]]
    poll_latencies: list[float]
    stats_cpu_ms: float
    """The server's CPU per statistics call, measured alone after the rounds."""
    stats_wall_ms: float
    ratios: dict[str, float] = field(default_factory=dict)


def run_console_bench(plan: BenchPlan, console: Console, browser: bool = True) -> ConsoleBench:
    """Interleaved rounds of console closed / open (poller, and Chromium when ``browser``); prints the table,
    each open state's throughput and p99 over closed, and how many statistics calls each open round made; at the
    plan's highest concurrency, one server worker."""
    concurrency = plan.top
    work = Path(tempfile.mkdtemp(prefix="gatewise-console-bench-"))
    states = [CLOSED, POLLER] + ([CHROMIUM] if browser else [])
    measured: dict[str, list[Row]] = {state: [] for state in states}
    polls: dict[str, list[int]] = {POLLER: [], CHROMIUM: []}
    poll_latencies: list[float] = []
    chromium = process = None
    try:
        keys, key = write_key(work)
        process, _, base = start_both(plan.repository, 1, "--console", "--auth-keys-file", str(keys))
        auth = {"authorization": f"Bearer {key}"}
        payloads = Payloads(base, plan.model, auth)
        if browser:
            chromium = Browser(base, key)
        run_client(http_closed_loop(base, payloads, False, concurrency, 1.0, auth))  # warm-up, not counted
        console.print(
            f"[bold]{plan.model}[/]: REST JSON at concurrency {concurrency}, console closed vs open, {plan.rounds} "
            f"interleaved rounds, {plan.seconds:g} s per state per round"
        )
        for round_index in range(plan.rounds):
            console.print(f"round {round_index + 1}/{plan.rounds} ...")
            shift = round_index % len(states)
            for state in states[shift:] + states[:shift]:
                if state == CLOSED:
                    row = run_client(http_closed_loop(base, payloads, False, concurrency, plan.seconds, auth))
                elif state == POLLER:
                    before = len(poll_latencies)
                    row = run_client(load_with_poller(base, payloads, concurrency, plan.seconds, key, poll_latencies))
                    polls[POLLER].append(len(poll_latencies) - before)
                else:
                    chromium.open()
                    row = run_client(http_closed_loop(base, payloads, False, concurrency, plan.seconds, auth))
                    polls[CHROMIUM].append(chromium.polls())
                    chromium.close()
                row.name = state
                measured[state].append(row)
        cpu_ms, wall_ms = run_client(stats_cost(base, key, process.pid, STATS_CALLS))
    finally:
        if chromium is not None:
            chromium.quit()
        if process is not None:
            process.terminate()
            process.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    rows = {state: median_round(found) for state, found in measured.items()}
    result = ConsoleBench(rows, polls, poll_latencies, cpu_ms, wall_ms)
    title = f"gatewise bench --console: {plan.model}, REST JSON, concurrency {concurrency}, {os.cpu_count()} CPUs"
    table = Table(title=title)
    for column in ("state", "rows/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column == "state" else "right")
    for row in result.rows.values():
        table.add_row(row.name, f"{row.rows_per_s:.1f}", f"{row.p50_ms:.2f}", f"{row.p99_ms:.2f}", str(row.errors))
    console.print(table)
    closed = measured[CLOSED]
    for state in states[1:]:
        ratios = [o.rows_per_s / c.rows_per_s for o, c in zip(measured[state], closed, strict=True)]
        p99 = [o.p99_ms / c.p99_ms for o, c in zip(measured[state], closed, strict=True)]
        result.ratios[state] = ratio = statistics.median(ratios)
        console.print(
            f"{state}: {ratio:.3f}x the rows/s of console closed (median of the per-round ratios "
            f"{', '.join(f'{r:.3f}' for r in ratios)}), p99 {statistics.median(p99):.3f}x; "
            f"within 3%: {'yes' if ratio >= 0.97 else 'no'}; statistics calls per round: {polls[state]}"
        )
    if poll_latencies:
        console.print(
            f"GET /console/api/stats under load: median {statistics.median(poll_latencies) * 1000:.1f} ms, "
            f"{len(poll_latencies)} calls"
        )
    console.print(
        f"one GET /console/api/stats on the idle server ({STATS_CALLS} calls after the rounds): "
        f"{cpu_ms:.2f} ms of the server's CPU, {wall_ms:.2f} ms wall; an open models page (one call per "
        f"{POLL_S:g} s) takes {cpu_ms / (POLL_S * 1000) * 100:.3f}% of one core"
    )
    errors = sum(row.errors for found in measured.values() for row in found)
    console.print(f"errors in every state, every round: {errors}")
    return result
