"""The history routes against a real ``durable serve`` (SQLite and PostgreSQL): fork with
a what-if result, audit, export and import, redact."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.test_http import api, serving  # noqa: F401 - the fixtures

pytestmark = pytest.mark.slow


async def test_fork_audit_export_import_and_redact_over_http(api: httpx.AsyncClient  # noqa: F811
                                                             ) -> None:
    run = (await api.post("/workflows/approve-order/runs",
                          json={"input": {"sku": "B-2", "qty": 2}})).json()
    run_id = run["run_id"]
    assert run["status"] == "suspended"
    audit = (await api.get(f"/runs/{run_id}/audit")).json()
    assert audit["ok"] is True and audit["length"] == run["position"]

    r = await api.post(f"/runs/{run_id}/fork", json={"at": 1, "results": {"price": 7}})
    assert r.status_code == 201
    fork = r.json()
    assert (fork["status"], fork["forked_from"], fork["fork_position"]) == (
        "paused", run_id, 1)
    resumed = (await api.post(f"/runs/{fork['run_id']}/resume", json={})).json()
    assert resumed["run"]["suspend_payloads"]["approval"]["price"] == 7  # what if
    assert (await api.get(f"/runs/{run_id}")).json()["position"] == run["position"]
    at_step = (await api.post(f"/runs/{run_id}/fork", json={"at": "approval"})).json()
    assert at_step["fork_position"] == run["position"] - 1

    for body, loc in (({"at": 0}, "at"), ({"at": 99}, "at"), ({"at": "nope"}, "at"),
                      ({"at": 1, "extra": 1}, "extra")):
        bad = await api.post(f"/runs/{run_id}/fork", json=body)
        assert bad.status_code == 422, (body, bad.text)
        assert loc in bad.json()["detail"][0]["loc"] or loc in bad.json()["detail"][0]["msg"]
    assert (await api.post("/runs/nope/fork", json={"at": 1})).status_code == 404

    exported = await api.get(f"/runs/{run_id}/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/x-ndjson")
    assert (await api.post("/runs/import", content=exported.content)).status_code == 422
    tampered = exported.content.replace(b'"qty":2', b'"qty":3')
    refused = await api.post("/runs/import", content=tampered)
    assert refused.status_code == 422 and "line" in refused.json()["detail"][0]["msg"]

    done = (await api.post(f"/runs/{run_id}/resume", json={"data": {"approved": True}})).json()
    assert done["run"]["status"] == "succeeded"
    blocked = await api.post(f"/runs/{run_id}/redact", json={"reason": "request 9"})
    assert blocked.status_code == 422 and "forks" in blocked.json()["detail"][0]["msg"]
    for waiting in (fork, at_step):  # its forks read their first events from it
        await api.post(f"/runs/{waiting['run_id']}/cancel")
    redacted = await api.post(f"/runs/{run_id}/redact", json={"reason": "request 9"})
    assert redacted.status_code == 200
    assert redacted.json()["output"] == {"redacted": "request 9"}
    assert (await api.get(f"/runs/{run_id}/audit")).json()["ok"] is True
    other = (await api.post("/workflows/approve-order/runs", json={"input": {"sku": "A"}})
             ).json()
    early = await api.post(f"/runs/{other['run_id']}/redact", json={"reason": "x"})
    assert early.status_code == 422  # still waiting: nothing erased


async def test_the_stream_sends_keep_alive_comments_while_a_run_waits(
        tmp_path: Any, open_engine: Any) -> None:
    from durable.examples.orders import register as orders
    from durable.http.stream import messages

    engine = await open_engine(f"sqlite:///{tmp_path}/k.db", orders)
    run = await engine.create_run("approve-order")
    waiting = await run.start({"sku": "A-1"})
    stream = messages(engine, run.run_id, after=waiting.position, keep_alive=0.1)
    first = await asyncio.wait_for(stream.__anext__(), 10)
    assert first.comment == "keep-alive" and not first.data and first.id is None
    await run.resume({"approved": True})
    rest = [m async for m in stream]
    ids = [int(m.id) for m in rest if m.comment is None and m.id is not None]
    end = (await engine.get_run(run.run_id)).position
    assert ids == list(range(waiting.position + 1, end + 1))  # then the stream ends


async def test_a_stream_cancelled_mid_wait_leaves_no_read_behind(
        tmp_path: Any, open_engine: Any) -> None:
    """A client that goes away cancels the response while it waits for the next event;
    the read in flight goes with it, or it would poll an engine about to close."""
    from durable.examples.orders import register as orders
    from durable.http.stream import messages

    engine = await open_engine(f"sqlite:///{tmp_path}/c.db", orders)
    run = await engine.create_run("approve-order")
    waiting = await run.start({"sku": "A-1"})
    before = asyncio.all_tasks()

    async def consume() -> None:
        async for _ in messages(engine, run.run_id, after=waiting.position, keep_alive=60):
            pass

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.3)  # the stream is waiting: nothing new, no keep-alive yet
    assert len(asyncio.all_tasks() - before) > 1  # the consumer and its read
    consumer.cancel()
    await asyncio.gather(consumer, return_exceptions=True)
    assert asyncio.all_tasks() - before == set()
