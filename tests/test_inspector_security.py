"""The inspector's defences, in-process: framing, the cookie, cross-site writes, odd
input. (The browser tests are in tests/test_inspector.py.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

import durable
from durable.http.app import create_app
from tests.inspector_app import register

TOKEN = "s3cret-token"


@pytest.fixture
def client() -> Iterator[Any]:
    engine = durable.Engine("memory://")
    register(engine)
    with TestClient(create_app(engine, token=TOKEN, work=False)) as c:
        yield c


def sign_in(client: Any) -> None:
    r = client.post("/sign-in", data={"token": TOKEN}, follow_redirects=False)
    assert r.status_code == 303


def test_pages_cannot_be_framed_and_the_cookie_is_not_the_token(client: Any) -> None:
    r = client.post("/sign-in", data={"token": TOKEN}, follow_redirects=False)
    cookie = r.headers["set-cookie"]
    assert TOKEN not in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = client.get("/inbox")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    value = cookie.split(";", 1)[0].split("=", 1)[1]
    api = client.post("/v1/runs/nope/cancel", headers={"Authorization": f"Bearer {value}"})
    assert api.status_code == 401  # the cookie's value is no credential for the API


def test_another_apps_odd_cookie_does_not_lock_anyone_out(client: Any) -> None:
    sign_in(client)
    session = client.cookies.get("durable_token")
    client.cookies.clear()
    r = client.get("/inbox", headers={"Cookie": f'prefs={{"a":1}}; theme=dark mode; '
                                                 f"durable_token={session}"},
                   follow_redirects=False)
    assert r.status_code == 200


def test_writes_from_another_site_are_refused(client: Any) -> None:
    run = client.post("/v1/workflows/expense/runs", json={"input": {"amount": 3}},
                      headers={"Authorization": f"Bearer {TOKEN}"}).json()
    evil = {"Origin": "http://evil.example", "Authorization": f"Bearer {TOKEN}"}
    r = client.post(f"/v1/runs/{run['run_id']}/cancel", headers=evil)
    assert r.status_code == 403
    sign_in(client)
    out = client.post("/sign-out", data={"csrf": "guess"}, follow_redirects=False)
    assert out.status_code == 403  # signing out needs the form's token too
    assert client.get("/inbox", follow_redirects=False).status_code == 200
    same = client.post(f"/v1/runs/{run['run_id']}/cancel", headers={
        "Origin": "http://testserver.local", "Authorization": f"Bearer {TOKEN}"})
    assert same.status_code == 200 and same.json()["status"] == "cancelled"


@pytest.mark.parametrize("path", ["/?page=abc", "/?page=%00", "/?page=-1",
                                  "/?from_date=garbage", "/runs/{id}?at=%C2%B2",
                                  "/runs/{id}?after=%C2%B2", "/runs/{id}?at=0",
                                  "/runs/{id}?after=99999999999999999999", "/runs/nope"])
def test_odd_query_values_never_answer_500(client: Any, path: str) -> None:
    run = client.post("/v1/workflows/note/runs", json={"input": "hi"},
                      headers={"Authorization": f"Bearer {TOKEN}"}).json()
    sign_in(client)
    r = client.get(path.replace("{id}", run["run_id"]))
    assert r.status_code in (200, 404, 422), r.text


def test_a_run_whose_id_holds_a_slash_is_listed_without_a_dead_link(client: Any) -> None:
    """No URL reaches such a run (decision 0015: the API refuses to create one; Python
    may): the pages name it without a link, and say how to reach it."""
    slashed = client.post("/v1/workflows/note/runs", json={"input": "x", "run_id": "a/b"},
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert slashed.status_code == 422 and slashed.json()["detail"][0]["loc"][:2] == [
        "body", "run_id"]
    engine = client.app.state.engine

    async def start() -> None:
        await (await engine.create_run("note", run_id="acme/7")).start("hello")

    client.blocking_portal.call(start)  # on the loop the app (and its engine) runs on
    sign_in(client)
    for page in ("/", "/inbox"):
        body = client.get(page).text
        assert "acme/7" in body and "durable runs show acme/7" in body, page
        assert "acme%2F7" not in body, page
    # Answered from the inbox, it is shown there again, not on a page no URL reaches.
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/inbox").text)
    assert csrf is not None
    answered = client.post("/inbox/answer", data={
        "csrf": csrf.group(1), "run_id": "acme/7", "step": "read", "action": "resume",
        "data": '"ok"'}, follow_redirects=False)
    assert (answered.status_code, answered.headers["location"]) == (303, "/inbox")
    # Nor does the API import such a run (it could not address it afterwards).
    exported = client.blocking_portal.call(engine.export_run, "acme/7")
    refused = client.post("/v1/runs/import", content=exported,
                          headers={"Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 422 and "no URL can" in refused.json()["detail"][0]["msg"]


def test_the_run_page_audits_on_request_not_on_every_load(client: Any) -> None:
    """The audit reads the whole chain: the page leaves it to its script (or a link),
    so the page's cost does not grow with the run."""
    run = client.post("/v1/workflows/note/runs", json={"input": "x"},
                      headers={"Authorization": f"Bearer {TOKEN}"}).json()
    sign_in(client)
    lazy = client.get(f"/runs/{run['run_id']}").text
    assert f'data-src="/v1/runs/{run["run_id"]}/audit"' in lazy
    assert "verify the chain" in lazy and "intact" not in lazy
    now = client.get(f"/runs/{run['run_id']}", params={"audit": "1"}).text
    assert '<span id="audit">intact</span>' in now
    day = run["created_at"][:10]  # the filter's date input: to that day keeps the day
    assert run["run_id"][:13] in client.get("/", params={"to_date": day}).text
    assert run["run_id"][:13] not in client.get("/", params={"to_date": "2000-01-01"}).text
    assert client.get(f"/v1/runs/{run['run_id']}/audit").json()["ok"] is True  # the cookie
