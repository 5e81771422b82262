"""The HTTP API against a real ``durable serve`` process on loopback, through a real
client (httpx), on SQLite and PostgreSQL: the Mastra client's sequence, Telnyx's
pause, resume and cancel, auth, and every 4xx the API names."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.pg_instance import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
TOKEN = "t0ken-for-tests"


class Server:
    """``durable serve`` in a process of its own; its log goes to a file."""

    def __init__(self, url: str, *args: str, token: str | None = TOKEN,
                 app: str = "tests.http_app:register", path: Path | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="durable-serve-", suffix=".log")  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(  # path: where --app's module is
            [str(ROOT), *([str(path)] if path is not None else [])])}
        env.pop("DURABLE_API_TOKEN", None)
        if token is not None:
            env["DURABLE_API_TOKEN"] = token
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "durable", "serve", "--app", app,
             "--db", url, "--port", str(self.port), *args],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, Path(self.log.name).read_text()
            try:
                if httpx.get(f"{self.base}/v1/workflows", headers=self.headers,
                             timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not answer: {Path(self.log.name).read_text()}")

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def output(self) -> str:
        return Path(self.log.name).read_text()


@pytest.fixture
def serving(shared_url: str) -> Iterator[Any]:
    started: list[Server] = []

    def start(*args: str, token: str | None = TOKEN) -> Server:
        server = Server(shared_url, *args, token=token)
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.stop()
        assert "Traceback" not in server.output(), server.output()


@pytest.fixture
async def api(serving: Any) -> AsyncIterator[httpx.AsyncClient]:
    server = serving()
    async with httpx.AsyncClient(base_url=f"{server.base}/v1", headers=server.headers,
                                 timeout=30) as client:
        yield client


async def until(client: httpx.AsyncClient, run_id: str, *statuses: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        run = (await client.get(f"/runs/{run_id}")).json()
        if run["status"] in statuses:
            return run  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"run is {run['status']}, not {statuses}"
        await asyncio.sleep(0.05)


async def test_the_mastra_client_sequence(api: httpx.AsyncClient) -> None:
    """Create a run with a resource id, start it with initial state, read it by id with
    ``fields``, resume its step, list it; a retried resume is skipped, not an error."""
    assert sorted(w["name"] for w in (await api.get("/workflows")).json()) == [
        "approve-order", "batches", "echo", "reminder", "slow"]
    r = await api.post("/workflows/approve-order/runs", json={
        "input": {"sku": "B-2", "qty": 2}, "run_id": "order-1", "resource_id": "acme",
        "thread_id": "t-1", "initial_state": {"channel": "web"}})
    assert r.status_code == 201
    run = r.json()
    assert (run["run_id"], run["status"], run["suspended"]) == (
        "order-1", "suspended", [["approval"]])
    assert run["state"] == {"channel": "web"}
    r = await api.get("/runs/order-1", params={"fields": "status,suspend_payloads"})
    assert r.json() == {"status": "suspended",
                        "suspend_payloads": {"approval": {"price": 50, "sku": "B-2"}}}
    waiting = (await api.get("/runs/suspended", params={"resource_id": "acme"})).json()
    assert (waiting["total"], waiting["runs"][0]["run_id"]) == (1, "order-1")

    r = await api.post("/runs/order-1/resume", json={"step": "approval",
                                                      "data": {"approved": True}})
    assert r.status_code == 200
    body = r.json()
    assert (body["action"], body["run"]["status"]) == ("resumed", "succeeded")
    assert body["run"]["output"]["tracking"] == "SHIP-B-2-2"

    again = await api.post("/runs/order-1/resume", json={"step": "approval",
                                                          "data": {"approved": False}})
    assert again.status_code == 200
    assert again.json()["action"] == "skipped" and "succeeded" in again.json()["reason"]
    assert again.json()["run"]["output"] == body["run"]["output"]  # nothing changed
    listed = (await api.get("/runs", params={"resource_id": "acme"})).json()
    assert listed["total"] == 1 and listed["runs"][0]["status"] == "succeeded"
    assert (await api.get("/runs/suspended", params={"resource_id": "acme"})).json()[
        "total"] == 0


async def test_pause_resume_and_cancel_as_telnyx_runs_do(api: httpx.AsyncClient) -> None:
    started = (await api.post("/workflows/slow/runs", json={"input": 10, "wait": False}))
    assert started.status_code == 201 and started.json()["status"] in ("pending", "running")
    run_id = started.json()["run_id"]
    await until(api, run_id, "running")
    paused = await api.post(f"/runs/{run_id}/pause")
    assert paused.status_code == 200
    at = (await until(api, run_id, "paused"))["position"]
    await asyncio.sleep(0.5)
    assert (await api.get(f"/runs/{run_id}")).json()["position"] == at  # it stays put
    resumed = await api.post(f"/runs/{run_id}/resume", json={})  # answers once it settles
    assert resumed.status_code == 200
    assert (resumed.json()["action"], resumed.json()["run"]["status"],
            resumed.json()["run"]["output"]) == ("resumed", "succeeded", sum(range(10)))

    other = (await api.post("/workflows/slow/runs", json={"input": 50, "wait": False})).json()
    await until(api, other["run_id"], "running")
    cancelled = await api.post(f"/runs/{other['run_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    history = (await api.get(f"/runs/{other['run_id']}/events", params={"limit": 1000})
               ).json()
    assert history["events"][-1]["type"] == "cancelled" and history["next"] is None


async def test_wait_false_hands_the_run_to_the_servers_worker(api: httpx.AsyncClient) -> None:
    r = await api.post("/workflows/echo/runs", json={"input": [1, 2], "wait": False,
                                                       "initial_state": {"k": 1}})
    assert r.status_code == 201
    done = await until(api, r.json()["run_id"], "succeeded")
    assert done["output"] == {"input": [1, 2], "state": {"k": 1}}


async def test_events_are_paged_and_the_state_read_at_any_event(api: httpx.AsyncClient
                                                                ) -> None:
    run = (await api.post("/workflows/slow/runs", json={"input": 3})).json()
    assert run["status"] == "succeeded"
    seen: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        page = (await api.get(f"/runs/{run['run_id']}/events",
                              params={"after": after, "limit": 2})).json()
        seen += page["events"]
        after = page["next"]
    assert [e["position"] for e in seen] == list(range(1, run["position"] + 1))
    assert [e["type"] for e in seen] == ["started", "step_completed", "step_completed",
                                         "step_completed", "succeeded"]
    first = (await api.get(f"/runs/{run['run_id']}/state", params={"at": 1})).json()
    assert (first["status"], first["position"]) == ("running", 1)
    outside = await api.get(f"/runs/{run['run_id']}/state", params={"at": 99})
    assert outside.status_code == 422 and outside.json()["detail"][0]["loc"] == ["query", "at"]


async def test_bad_requests_get_a_4xx_that_says_what_to_do_and_write_nothing(
    api: httpx.AsyncClient,
) -> None:
    run = (await api.post("/workflows/approve-order/runs", json={"input": {"sku": "A-1"}})
           ).json()
    run_id, position = run["run_id"], run["position"]

    wrong = await api.post(f"/runs/{run_id}/resume", json={"data": {"approved": "maybe"}})
    assert wrong.status_code == 422
    item = wrong.json()["detail"][0]
    assert item["loc"][:2] == ["body", "data"] and "approved" in item["msg"]
    assert set(item) == {"loc", "msg", "type"}
    assert (await api.get(f"/runs/{run_id}")).json()["position"] == position  # nothing written

    unknown = await api.post(f"/runs/{run_id}/resume", json={"data": {}, "stepp": "x"})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body",
                                                                                  "stepp"]
    assert (await api.get("/runs", params={"per_page": 0})).status_code == 422
    assert (await api.get("/runs", params={"status": "sleeping"})).status_code == 422
    assert (await api.get("/runs", params={"from_date": "yesterday"})).status_code == 422
    day = run["created_at"][:10]  # a date filters on its whole day (UTC)
    listed = (await api.get("/runs", params={"from_date": day, "to_date": day,
                                             "per_page": 100})).json()
    assert run_id in [r["run_id"] for r in listed["runs"]]
    before = (await api.get("/runs", params={"to_date": "2000-01-01"})).json()
    assert before["total"] == 0
    assert (await api.get("/runs", params={"to_date": "9999-12-31"})).status_code == 200
    compact = await api.get("/runs/suspended", params={"to_date": "20261201"})
    assert compact.status_code == 422 and compact.json()["detail"][0]["loc"] == ["query",
                                                                                 "to_date"]
    for fields in ("nope", "", ","):
        assert (await api.get(f"/runs/{run_id}", params={"fields": fields})).status_code == 422
    for unreachable in ("acme/1", "acme/events", ".", ".."):  # decision 0015
        named = await api.post("/workflows/approve-order/runs", json={"run_id": unreachable})
        assert named.status_code == 422, unreachable
        assert named.json()["detail"][0]["loc"][:2] == ["body", "run_id"]
    for reachable in ("...", ".a", "a.b"):
        named = await api.post("/workflows/echo/runs", json={"run_id": reachable})
        assert named.status_code == 201, reachable
        assert (await api.get(f"/runs/{reachable}")).json()["run_id"] == reachable

    # A resume aimed at a timer is a mistake in the request, not a duplicate: 422.
    nudged = (await api.post("/workflows/reminder/runs", json={})).json()
    assert sorted(nudged["suspended"]) == [["answer"], ["nudge"]]
    timer = await api.post(f"/runs/{nudged['run_id']}/resume", json={"step": "nudge"})
    assert timer.status_code == 422 and timer.json()["detail"][0]["loc"] == ["body", "step"]
    assert "waits on a timer" in timer.json()["detail"][0]["msg"]
    hook = await api.post(f"/runs/{nudged['run_id']}/nodes/nudge/resume", json={},
                          params={"secret": "nudge-s3cret"})  # nor does a webhook
    assert hook.status_code == 422 and hook.json()["detail"][0]["loc"] == ["path", "node_id"]
    answered = await api.post(f"/runs/{nudged['run_id']}/resume", json={"data": "hi"})
    assert answered.json()["action"] == "resumed"  # the one step a resume can answer
    not_json = await api.post(f"/runs/{run_id}/resume", content=b"{approved",
                              headers={"content-type": "application/json"})
    assert not_json.status_code in (400, 422) and "detail" in not_json.json()

    for response in (await api.get("/runs/no-such-run"),
                     await api.post("/runs/no-such-run/resume", json={"data": 1}),
                     await api.post("/runs/no-such-run/cancel"),
                     await api.post("/workflows/no-such-flow/runs", json={"input": 1})):
        assert response.status_code == 404, response.text
        assert isinstance(response.json()["detail"], str)
    assert (await api.get(f"/runs/{run_id}")).json()["position"] == position


async def test_a_token_guards_every_route_and_a_body_past_the_limit_is_413(serving: Any
                                                                          ) -> None:
    server = serving("--max-body", "2000")
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as anon:
        for path in ("/v1/workflows", "/v1/runs", "/schema/openapi.json"):
            assert (await anon.get(path)).status_code == 401
            assert (await anon.get(path, headers={"Authorization": "Bearer wrong"})
                    ).status_code == 401
            assert (await anon.get(path, headers=server.headers)).status_code == 200
        big = {"input": "x" * 5000}
        r = await anon.post("/v1/workflows/echo/runs", json=big, headers=server.headers)
        assert r.status_code == 413 and "detail" in r.json()
        assert (await anon.get("/v1/runs", headers=server.headers)).json()["total"] == 0


def test_sigterm_stops_the_server_cleanly(serving: Any) -> None:
    server = serving()
    assert server.stop() == 0
    assert "Application shutdown complete" in server.output()


async def sse(response: httpx.Response) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """(id, data) for each message of a Server-Sent Events response; comments skipped."""
    import json

    ident, data = None, []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if line.startswith("id:"):
            ident = int(line[3:].strip())
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            assert ident is not None
            yield ident, json.loads("\n".join(data))
            ident, data = None, []


async def test_the_stream_follows_a_run_live_and_a_reconnect_misses_nothing(
    api: httpx.AsyncClient,
) -> None:
    run_id = (await api.post("/workflows/slow/runs", json={"input": 8, "wait": False})
              ).json()["run_id"]
    got: list[tuple[int, dict[str, Any]]] = []
    async with api.stream("GET", f"/runs/{run_id}/stream") as first:
        assert first.status_code == 200
        assert first.headers["content-type"].startswith("text/event-stream")
        async for message in sse(first):
            got.append(message)
            if len(got) == 3:
                break  # the client drops the connection mid-run
    assert (await api.get(f"/runs/{run_id}")).json()["status"] in ("running", "pending")
    async with api.stream("GET", f"/runs/{run_id}/stream",
                          headers={"Last-Event-ID": str(got[-1][0])}) as again:
        async for message in sse(again):
            got.append(message)
    # ...and the stream ended by itself with the run's last event
    final = (await api.get(f"/runs/{run_id}")).json()
    assert final["status"] == "succeeded"
    assert [ident for ident, _ in got] == list(range(1, final["position"] + 1))
    assert all(ident == data["position"] for ident, data in got)
    assert got[-1][1]["type"] == "succeeded" and got[0][1]["type"] == "started"
    assert (await api.get("/runs/nope/stream")).status_code == 404


async def test_a_webhook_resumes_a_node_in_a_two_level_for_each(api: httpx.AsyncClient
                                                                 ) -> None:
    run = (await api.post("/workflows/batches/runs", json={"input": [["a", "b"], ["c", "d"]]})
           ).json()
    assert run["status"] == "suspended" and len(run["suspended"]) == 4
    url = f"/runs/{run['run_id']}/nodes/approve/resume"
    stack = [{"parent_node_id": "regions", "index": 1, "total": 2},
             {"parent_node_id": "orders", "index": 0, "total": 2}]
    body = {"data": "ok-c", "stack": stack}

    assert (await api.post(url, json=body)).status_code == 401  # no secret
    assert (await api.post(url, json=body, params={"secret": "guess"})).status_code == 401
    past = [{**stack[0], "index": 2}, stack[1]]
    r = await api.post(url, json={"data": 1, "stack": past}, params={"secret": "hook-s3cret"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "stack", 0, "index"]

    first = await api.post(url, json=body, params={"secret": "hook-s3cret"})
    assert first.status_code == 200 and first.json()["action"] == "resumed"
    assert first.json()["run"]["status"] == "suspended"  # three more wait
    assert ["regions", 1, "orders", 0, "approve"] not in first.json()["run"]["suspended"]
    retried = await api.post(url, json=body, params={"secret": "hook-s3cret"})
    assert retried.status_code == 200 and retried.json()["action"] == "skipped"
    assert "not waiting" in retried.json()["reason"]

    for region, orders in ((0, "ab"), (1, "d")):
        for sku in orders:
            index = "abcd".index(sku) % 2
            r = await api.post(url, params={"secret": "hook-s3cret"}, json={
                "data": f"ok-{sku}", "stack": [
                    {"parent_node_id": "regions", "index": region, "total": 2},
                    {"parent_node_id": "orders", "index": index, "total": 2}]})
            assert r.json()["action"] == "resumed", r.text
    done = (await api.get(f"/runs/{run['run_id']}")).json()
    assert (done["status"], done["output"]) == ("succeeded", [["ok-a", "ok-b"],
                                                              ["ok-c", "ok-d"]])
    # the workflow without a secret accepts no webhook
    other = (await api.post("/workflows/approve-order/runs", json={"input": {}})).json()
    r = await api.post(f"/runs/{other['run_id']}/nodes/approval/resume",
                       params={"secret": "hook-s3cret"}, json={"data": {"approved": True}})
    assert r.status_code == 401 and "webhook_secret" in r.json()["detail"]
