"""The API embedded in an existing service: mounted under a prefix of the host's own
Litestar application, sharing the host's engine, served by uvicorn on loopback."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvicorn
from litestar import Litestar, asgi, get

import durable
from benchmarks.pg_instance import free_port
from durable.http.app import create_app
from tests.http_app import register


async def test_the_api_mounted_in_a_host_service_shares_its_engine(tmp_path: Path) -> None:
    engine = durable.Engine(f"sqlite:///{tmp_path / 'host.db'}")
    register(engine)

    @contextlib.asynccontextmanager
    async def host_lifespan(_: Litestar) -> AsyncIterator[None]:
        async with engine:  # the host opens and closes its engine, and works its queue
            worker = asyncio.create_task(engine.work())
            yield
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    @get("/health")
    async def health() -> dict[str, object]:
        return {"ok": True, "executing": len(engine.executing())}

    api = create_app(engine, token="host-token", work=False)
    mounted = asgi("/durable", is_mount=True, copy_scope=True)(api)
    host = Litestar([health, mounted], lifespan=[host_lifespan])
    server = uvicorn.Server(uvicorn.Config(host, host="127.0.0.1", port=free_port(),
                                           log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not serving.done(), serving
            await asyncio.sleep(0.02)
        base = f"http://127.0.0.1:{server.config.port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            assert (await client.get("/health")).json()["ok"] is True  # the host's own route
            auth = {"Authorization": "Bearer host-token"}
            assert (await client.get("/durable/v1/workflows")).status_code == 401
            started = await client.post("/durable/v1/workflows/approve-order/runs",
                                        json={"input": {"sku": "A-1"}}, headers=auth)
            assert started.status_code == 201 and started.json()["status"] == "suspended"
            run_id = started.json()["run_id"]
            assert (await engine.get_run(run_id)).status == "suspended"  # the host's engine
            done = await client.post(f"/durable/v1/runs/{run_id}/resume", headers=auth,
                                     json={"data": {"approved": False, "reason": "stock"}})
            assert done.json()["run"]["output"]["status"] == "rejected"
            queued = await client.post("/durable/v1/workflows/echo/runs", headers=auth,
                                       json={"input": 7, "wait": False})
            info = await engine.wait(queued.json()["run_id"], timeout=20)  # the host works it
            assert info.output == {"input": 7, "state": {}}
            schema = await client.get("/durable/schema/openapi.json", headers=auth)
            assert schema.status_code == 200 and "/v1/runs/{run_id}/resume" in schema.json()[
                "paths"]
            # The inspector, under the host's prefix: sign in, then a page whose links and
            # assets stay under the prefix.
            page = await client.get("/durable/inbox")
            assert (page.status_code, page.headers["location"]) == (303, "/durable/sign-in")
            signed = await client.post("/durable/sign-in", data={"token": "host-token"})
            assert signed.status_code == 303 and signed.headers["location"] == "/durable/"
            run_page = await client.get(f"/durable/runs/{run_id}")
            assert run_page.status_code == 200 and "rejected" in run_page.text
            assert 'href="/durable/static/inspector.css"' in run_page.text
            assert (await client.get("/durable/static/inspector.js")).status_code == 200
    finally:
        server.should_exit = True
        await serving
    assert not engine.is_open
