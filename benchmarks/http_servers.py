"""Which HTTP server library the front door runs on: a KServe-style add-one infer over JSON.

    .venv/bin/python benchmarks/http_servers.py [ROUNDS]

Each candidate serves ``POST /v2/models/{m}/infer`` on uvloop in its own process (parse the
JSON with orjson, numpy add-one, write JSON): aiohttp; uvicorn (httptools) with Starlette;
uvicorn with a bare ASGI function (no framework: the lower bound of what uvicorn costs).
An aiohttp client at concurrency 64 drives each for 4 s after a 1 s warm-up, the servers
interleaved in every round. Needs ``pip install uvicorn starlette httptools`` beside the
serving dependencies (aiohttp, orjson). Figures: docs/architecture.md ("Two front doors").
"""

import asyncio
import multiprocessing
import socket
import sys
import time

import numpy as np
import orjson

BODY = orjson.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]})


def answer(raw: bytes) -> bytes:
    req = orjson.loads(raw)
    t = req["inputs"][0]
    x = np.asarray(t["data"], dtype=np.float32).reshape(t["shape"]) + 1
    return orjson.dumps(
        {
            "model_name": "add-one",
            "outputs": [{"name": "y", "datatype": "FP32", "shape": list(x.shape), "data": x.reshape(-1)}],
        },
        option=orjson.OPT_SERIALIZE_NUMPY,
    )


def serve_aiohttp(port):
    import uvloop
    from aiohttp import web

    async def infer(request):
        return web.Response(body=answer(await request.read()), content_type="application/json")

    app = web.Application()
    app.router.add_post("/v2/models/{m}/infer", infer)

    async def main():
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    uvloop.run(main())


def serve_starlette(port):
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def infer(request):
        return Response(answer(await request.body()), media_type="application/json")

    app = Starlette(routes=[Route("/v2/models/{m}/infer", infer, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="error", access_log=False)


def serve_uvicorn_raw(port):
    import uvicorn

    async def app(scope, receive, send):
        body = b""
        while True:
            m = await receive()
            body += m.get("body", b"")
            if not m.get("more_body"):
                break
        out = answer(body)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": out})

    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="error", access_log=False)


async def load(port, seconds, concurrency=64):
    import aiohttp

    done = 0
    stop = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def worker():
            nonlocal done
            while time.monotonic() < stop:
                async with s.post(f"http://127.0.0.1:{port}/v2/models/add-one/infer", data=BODY) as r:
                    await r.read()
                    assert r.status == 200
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / seconds


def free():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


if __name__ == "__main__":
    import uvloop

    servers = {"aiohttp": serve_aiohttp, "uvicorn+starlette": serve_starlette, "uvicorn (bare ASGI)": serve_uvicorn_raw}
    results = {k: [] for k in servers}
    for rnd in range(int(sys.argv[1]) if len(sys.argv) > 1 else 3):
        for name, fn in servers.items():
            port = free()
            p = multiprocessing.get_context("spawn").Process(target=fn, args=(port,), daemon=True)
            p.start()
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            uvloop.run(load(port, 1))  # warm
            rps = uvloop.run(load(port, 4))
            results[name].append(rps)
            p.terminate()
            p.join()
            print(rnd, name, round(rps), flush=True)
    for name, r in results.items():
        print(f"{name}: median {sorted(r)[len(r) // 2]:.0f} req/s  rounds {[round(x) for x in r]}")
