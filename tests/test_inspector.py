"""The inspector in a real Chromium (Playwright), against a real ``durable serve``:
sign in, answer from the inbox, follow a run live, travel to an event, fork from the
timeline, a wrong answer shown inline, a ``<script>`` payload shown as text."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import IN_CI
from tests.test_http import TOKEN, Server

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "images"


def _browser_reason() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed: pip install -e '.[dev]'"
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return "Chromium is missing: apt-get install -y chromium (.ci/run does it)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _browser_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM)
                               else shutil.which("chromium"), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(autouse=True)
def _close_pages(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "browser" in request.fixturenames:
        for context in request.getfixturevalue("browser").contexts:
            context.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(f"sqlite:///{tmp_path}/inspector.db", app="tests.inspector_app:register")
    s.wait_ready()
    yield s
    s.stop()
    assert "Traceback" not in s.output(), s.output()


def start(server: Server, workflow: str, value: Any) -> dict[str, Any]:
    r = httpx.post(f"{server.base}/v1/workflows/{workflow}/runs", json={"input": value},
                   headers=server.headers, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def signed_in(browser: Any, server: Server) -> Any:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(server.base + "/inbox")
    assert page.url.endswith("/sign-in")  # no cookie: the sign-in page first
    page.fill("input[name=token]", "wrong")
    page.click("button:has-text('Sign in')")
    assert "not this server's" in page.inner_text("main")
    page.fill("input[name=token]", TOKEN)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(server.base + "/")
    return page


def shoot(page: Any, name: str) -> None:
    if os.environ.get("DURABLE_SCREENSHOTS"):  # (DURABLE_SCREENSHOTS=1 refreshes docs/)
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / name), full_page=True)


def test_approving_in_the_inbox_is_seen_live_on_the_run_page(browser: Any, server: Server
                                                             ) -> None:
    run = start(server, "expense", {"amount": 40})
    start(server, "approve-order", {"sku": "B-2", "qty": 1})
    page = signed_in(browser, server)
    inbox = page
    inbox.goto(server.base + "/inbox")
    item = inbox.locator(f".inbox-item[data-run='{run['run_id']}']")
    assert "approval" in item.inner_text() and '"amount": 40' in item.inner_text()
    shoot(inbox, "inspector-inbox.png")

    watching = page.context.new_page()  # the run page, open before the approval
    watching.goto(f"{server.base}/runs/{run['run_id']}")
    assert watching.inner_text("#status") == "suspended"
    item.locator("button:has-text('Approve')").click()
    inbox.wait_for_url(f"**/runs/{run['run_id']}")
    # The page opened before the approval follows the run's stream: no reload.
    watching.wait_for_function(
        "() => document.getElementById('status').textContent === 'succeeded'",
        timeout=15_000)
    end = httpx.get(f"{server.base}/v1/runs/{run['run_id']}", headers=server.headers
                    ).json()["position"]
    watching.wait_for_function(  # every new event appended to the timeline, none twice
        f"() => document.querySelectorAll('#timeline-body tr').length === {end}",
        timeout=15_000)
    shoot(watching, "inspector-run.png")
    assert httpx.get(f"{server.base}/v1/runs/{run['run_id']}", headers=server.headers
                     ).json()["output"] == {"status": "paid", "paid": 40}


def test_a_wrong_answer_is_shown_inline_and_writes_nothing(browser: Any, server: Server
                                                            ) -> None:
    run = start(server, "approve-order", {"sku": "A-1", "qty": 2})
    page = signed_in(browser, server)
    page.goto(server.base + "/inbox")
    item = page.locator(f".inbox-item[data-run='{run['run_id']}']")
    item.locator("textarea").fill('{"approved": "maybe"}')
    item.locator("button:has-text('Resume')").click()
    error = page.locator(f".inbox-item[data-run='{run['run_id']}'] .error")
    assert "approved" in error.inner_text() and "bool" in error.inner_text()
    after = httpx.get(f"{server.base}/v1/runs/{run['run_id']}", headers=server.headers).json()
    assert (after["status"], after["position"]) == ("suspended", run["position"])
    item = page.locator(f".inbox-item[data-run='{run['run_id']}']")
    assert item.locator("textarea").input_value() == '{"approved": "maybe"}'  # kept to fix


def test_travel_to_an_event_and_fork_from_the_timeline(browser: Any, server: Server) -> None:
    run = start(server, "expense", {"amount": 7})
    page = signed_in(browser, server)
    page.goto(f"{server.base}/runs/{run['run_id']}")
    # the audit is made after the page is shown (it reads the whole chain)
    page.wait_for_function("() => document.getElementById('audit').textContent === 'intact'",
                           timeout=15_000)
    page.click("#event-3 td a")  # the state_set event
    panel = page.locator("#state-panel")
    assert "State after event 3" in panel.inner_text()
    assert '"stage": "checked"' in page.inner_text("#state-at")
    page.fill("#state-panel textarea", '{"check": {"amount": 7, "ok": false}}')
    page.click("button:has-text('Fork here')")  # "check" completed before event 3
    assert "would never be used" in page.inner_text(".error")
    page.fill("#state-panel textarea", '{"pay": {"paid": 0}}')
    page.click("button:has-text('Fork here')")
    page.wait_for_url(lambda url: "/runs/" in url and run["run_id"] not in url)
    assert run["run_id"] not in page.url.rsplit("/", 1)[-1]
    text = page.inner_text("main")
    assert f"fork of {run['run_id'][:8]} at event 3" in text
    assert page.inner_text("#status") == "paused"
    assert page.locator(f"a[href$='/runs/{run['run_id']}']").count() >= 1  # lineage link
    fork_id = page.url.rsplit("/", 1)[-1]
    page.goto(f"{server.base}/runs/{run['run_id']}")  # and the original links its fork
    assert page.locator(f"a[href$='/runs/{fork_id}']").count() == 1


def test_a_script_in_a_payload_is_shown_as_text(browser: Any, server: Server) -> None:
    evil = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
    run = start(server, "note", evil)
    page = signed_in(browser, server)
    for path in ("/inbox", f"/runs/{run['run_id']}", f"/runs/{run['run_id']}?at=2"):
        page.goto(server.base + path)
        time.sleep(0.2)
        assert page.title() != "pwned"
        assert "<script>document.title='pwned'</script>" in page.inner_text("main")
    big = start(server, "note", "x" * 5000)
    page.goto(f"{server.base}/runs/{big['run_id']}")
    assert page.locator("details").count() >= 1  # a large payload is folded


def test_the_page_speed_benchmark_runs(browser: Any) -> None:
    """The short variant of ``python -m benchmarks.inspector`` (figures not asserted)."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "benchmarks.inspector", "--events", "400",
                           "--loads", "2", "--no-write"], cwd=SHOTS.parent.parent,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["events"] == 400 and figures["loads"] == 2 and figures["load_p50_ms"] > 0
