"""The replay check (``engine.check_replays``, ``durable runs replay``): today's code
against stored histories, before a deploy. It names the first event where the code
and the log part and both step ids, checks suspended and paused runs too, and
passes code that only changed in ways replay allows."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import durable
from tests.test_http import Server

ROOT = Path(__file__).resolve().parent.parent


def shipping(steps: list[str], *, wait: bool = True, gathered: bool = False
             ) -> Callable[[durable.Engine], None]:
    """A workflow doing ``steps`` in order (or all at once), then waiting for approval."""

    def register(engine: durable.Engine) -> None:
        @engine.workflow("ship", version="+".join(steps))
        async def ship(ctx: durable.Context, _: Any) -> Any:
            if gathered:
                done = list(await asyncio.gather(*(ctx.step(s, lambda s=s: s) for s in steps)))
            else:
                done = [await ctx.step(s, lambda s=s: s) for s in steps]
            if wait:
                done.append(await ctx.suspend("approval"))
            return done

    return register


async def stored(url: str, open_engine: Any, register: Callable[[durable.Engine], None],
                 **start: Any) -> durable.Engine:
    engine = await open_engine(url, register)
    run = await engine.create_run("ship", run_id="r1")
    await run.start()
    return engine  # type: ignore[no-any-return]


@pytest.mark.parametrize(("today", "position", "logged", "requested"), [
    (["price", "tax", "ship"], None, None, None),  # unchanged: passes
    (["price", "duty", "ship"], 3, "tax", "duty"),  # renamed
    (["price", "ship", "tax"], 3, "tax", "ship"),  # reordered
    (["price", "ship"], 3, "tax", "ship"),  # removed
    (["fraud", "price", "tax", "ship"], 2, "price", "fraud"),  # inserted before
])
async def test_the_check_names_the_first_diverging_event_and_both_step_ids(
    shared_url: str, open_engine: Any, today: list[str], position: int | None,
    logged: str | None, requested: str | None,
) -> None:
    old = await stored(shared_url, open_engine, shipping(["price", "tax", "ship"]))
    before = await old.history("r1")
    new = await open_engine(shared_url, shipping(today))
    [check] = await new.check_replays()
    assert (check.run_id, check.status) == ("r1", "suspended")
    assert (check.ok, check.position, check.logged, check.requested) == (
        position is None, position, logged, requested)
    if position is not None:
        assert logged in (check.error or "") and f"at event {position}" in (check.error or "")
        assert (await old.history("r1"))[position - 1].data["path"] == [logged]
    assert await new.history("r1") == before  # nothing written, no step called
    assert await new.check_replay("r1") == check


async def test_code_that_no_longer_reaches_an_open_suspension_fails(
    shared_url: str, open_engine: Any
) -> None:
    old = await stored(shared_url, open_engine, shipping(["price"]))
    returns = await open_engine(shared_url, shipping(["price"], wait=False))
    waits_elsewhere = await open_engine(shared_url, shipping(["price", "extra"]))
    check = await returns.check_replay("r1")
    assert (check.ok, check.position, check.logged, check.requested) == (
        False, 3, "approval", None)
    assert "no longer waits there" in (check.error or "")
    check = await waits_elsewhere.check_replay("r1")
    assert (check.ok, check.position, check.logged, check.requested) == (
        False, 3, "approval", "extra")
    assert (await old.check_replay("r1")).ok


async def test_paused_and_finished_runs_are_checked_too(
    shared_url: str, open_engine: Any
) -> None:
    entered, gate = asyncio.Event(), asyncio.Event()

    async def hold() -> int:
        entered.set()
        await gate.wait()
        return 1

    def register(engine: durable.Engine) -> None:
        @engine.workflow("pausing")
        async def pausing(ctx: durable.Context, stop: bool) -> Any:
            await ctx.step("a", lambda: 1)
            if stop:
                await ctx.step("hold", hold)
            return await ctx.step("b", lambda: 2)

        @engine.workflow("other")
        async def other(ctx: durable.Context, _: Any) -> None:
            return None

    engine = await open_engine(shared_url, register)
    done = await (await engine.create_run("pausing", run_id="done")).start(False)
    assert done.status == "succeeded"
    await (await engine.create_run("other")).start()
    paused = await engine.create_run("pausing", run_id="paused")
    task = asyncio.ensure_future(paused.start(True))
    await entered.wait()
    pausing = asyncio.ensure_future(paused.pause())
    await asyncio.sleep(0.02)  # (the pause request reaches the driver in one loop turn)
    gate.set()
    assert (await pausing).status == "paused" and (await task).status == "paused"
    verdicts = await engine.check_replays(workflow="pausing")
    assert [(v.run_id, v.status, v.ok) for v in verdicts] == [
        ("done", "succeeded", True), ("paused", "paused", True)]

    def renamed(engine: durable.Engine) -> None:
        @engine.workflow("pausing")
        async def pausing(ctx: durable.Context, stop: bool) -> Any:
            await ctx.step("A", lambda: 1)
            if stop:
                await ctx.step("hold", hold)
            return await ctx.step("b", lambda: 2)

    changed = await open_engine(shared_url, renamed)
    verdicts = await changed.check_replays(["paused", "done"])
    assert [(v.run_id, v.ok, v.position, v.logged, v.requested) for v in verdicts] == [
        ("paused", False, 2, "a", "A"), ("done", False, 2, "a", "A")]
    with pytest.raises(durable.RunNotFound):
        await changed.check_replays(["nope"])


async def test_steps_racing_under_gather_replay_in_any_order_without_a_false_alarm(
    shared_url: str, open_engine: Any
) -> None:
    await stored(shared_url, open_engine, shipping(["a", "b", "c"], gathered=True))
    swapped = await open_engine(shared_url, shipping(["c", "a", "b"], gathered=True))
    assert (await swapped.check_replay("r1")).ok
    renamed = await open_engine(shared_url, shipping(["c", "a", "B"], gathered=True))
    check = await renamed.check_replay("r1")
    assert not check.ok and check.requested == "B" and check.logged in ("a", "b", "c")


async def test_an_ending_the_code_no_longer_reaches_fails(shared_url: str, open_engine: Any
                                                          ) -> None:
    old = await stored(shared_url, open_engine, shipping(["a"], wait=False))
    assert (await old.get_run("r1")).status == "succeeded"

    def other_output(engine: durable.Engine) -> None:
        @engine.workflow("ship")
        async def ship(ctx: durable.Context, _: Any) -> Any:
            await ctx.step("a", lambda: "a")
            return "something else"

    check = await (await open_engine(shared_url, other_output)).check_replay("r1")
    assert (check.ok, check.position) == (False, 3) and "another output" in (check.error or "")


# -- the command line ----------------------------------------------------------------------
APP = """
import durable

engine = durable.Engine()

@engine.workflow("ship")
async def ship(ctx, _):
    done = [await ctx.step(s, lambda s=s: s) for s in {steps!r}]
    done.append(await ctx.suspend("approval"))
    return done
"""


def env(cwd: Path) -> dict[str, str]:
    """This checkout's durable, and the apps written in ``cwd``."""
    kept = {k: v for k, v in os.environ.items() if k not in ("DURABLE_DATABASE_URL", "DURABLE_APP")}
    return {**kept, "PYTHONPATH": os.pathsep.join([str(ROOT), str(cwd)])}


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "durable", "--db", "sqlite:///runs.db", *args],
                          cwd=cwd, env=env(cwd), capture_output=True, text=True, timeout=120)


def test_runs_replay_reports_each_failure_and_exits_non_zero(tmp_path: Path) -> None:
    (tmp_path / "old_app.py").write_text(APP.format(steps=["price", "tax"]))
    (tmp_path / "new_app.py").write_text(APP.format(steps=["price", "duty"]))
    script = ("import asyncio, old_app\n"
              "async def main():\n"
              "    async with old_app.engine as engine:\n"
              "        for i in range(3):\n"
              "            await (await engine.create_run('ship', run_id=f'r{i}')).start()\n"
              "asyncio.run(main())\n")
    made = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120,
                          env={**env(tmp_path), "DURABLE_DATABASE_URL": "sqlite:///runs.db"})
    assert made.returncode == 0, made.stderr
    ok = cli(tmp_path, "runs", "replay", "--all", "--app", "old_app:engine")
    assert ok.returncode == 0, ok.stderr
    assert "3 of 3 run(s) replay cleanly" in ok.stdout
    one = cli(tmp_path, "runs", "replay", "r1", "--app", "old_app:engine")
    assert one.returncode == 0 and "ok r1 (suspended)" in one.stdout

    bad = cli(tmp_path, "runs", "replay", "--workflow", "ship", "--app", "new_app:engine")
    assert bad.returncode == 1
    for i in range(3):
        assert f"FAIL r{i} (suspended) at event 3: logged 'tax', requested 'duty'" in bad.stdout
    assert "0 of 3 run(s) replay cleanly" in bad.stdout
    assert "3 run(s) no longer replay" in bad.stderr
    as_json = cli(tmp_path, "runs", "replay", "--all", "--json", "--app", "new_app:engine")
    assert as_json.returncode == 1
    verdicts = json.loads(as_json.stdout)
    assert [(v["run_id"], v["ok"], v["position"], v["logged"], v["requested"])
            for v in verdicts] == [(f"r{i}", False, 3, "tax", "duty") for i in range(3)]
    every = cli(tmp_path, "runs", "replay", "--app", "new_app:engine")  # no target: all
    assert every.returncode == 1 and "0 of 3 run(s) replay cleanly" in every.stdout
    both = cli(tmp_path, "runs", "replay", "r1", "--all", "--app", "new_app:engine")
    assert both.returncode == 2 and "give one of" in both.stderr

    # The same divergence met by a resume over HTTP: 409 saying why, nothing written;
    # the same resume succeeds against the code the run was started with.
    for app, answer in (("new_app:engine", 409), ("old_app:engine", 200)):
        server = Server(f"sqlite:///{tmp_path}/runs.db", app=app, path=tmp_path, token=None)
        try:
            server.wait_ready()
            before = httpx.get(f"{server.base}/v1/runs/r0").json()["position"]
            r = httpx.post(f"{server.base}/v1/runs/r0/resume", json={"data": "yes"}, timeout=30)
            assert r.status_code == answer, r.text
            if answer == 409:
                assert "no longer replays" in r.json()["detail"]
                assert "logged: 'tax'; requested now: 'duty'" in r.json()["detail"]
                after = httpx.get(f"{server.base}/v1/runs/r0").json()
                assert (after["status"], after["position"]) == ("suspended", before)
            else:
                assert r.json()["run"]["output"] == ["price", "tax", "yes"]
        finally:
            server.stop()
        assert "Traceback" not in server.output(), server.output()


def test_an_app_engine_without_db_uses_its_own_store(tmp_path: Path) -> None:
    """'--app M:engine' without --db: the engine's own store, not ./durable.db (which
    need not exist, and is not created)."""
    (tmp_path / "own_app.py").write_text(
        APP.format(steps=["price"]).replace("durable.Engine()", 'durable.Engine("sqlite:///own.db")'))
    made = subprocess.run(
        [sys.executable, "-c", "import asyncio, own_app\n"
         "async def main():\n"
         "    async with own_app.engine as engine:\n"
         "        await (await engine.create_run('ship', run_id='o1')).start()\n"
         "asyncio.run(main())\n"], cwd=tmp_path, env=env(tmp_path), capture_output=True,
        text=True, timeout=120)
    assert made.returncode == 0, made.stderr

    def durable_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "durable", *args], cwd=tmp_path,
                              env=env(tmp_path), capture_output=True, text=True, timeout=120)

    checked = durable_cli("runs", "replay", "--app", "own_app:engine")
    assert checked.returncode == 0 and "1 of 1 run(s) replay cleanly" in checked.stdout, (
        checked.stderr)
    resumed = durable_cli("runs", "resume", "o1", "--app", "own_app:engine", "--data", '"yes"',
                          "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["output"] == ["price", "yes"]
    assert not (tmp_path / "durable.db").exists()
    elsewhere = durable_cli("runs", "replay", "--app", "own_app:engine", "--db",
                            "sqlite:///missing.db")
    assert elsewhere.returncode == 1 and "no database at" in elsewhere.stderr
    assert not (tmp_path / "missing.db").exists()
