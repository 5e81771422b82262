"""The command line, run for real: ``python -m durable ...`` in a scratch folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

APP = "durable.examples.orders:engine"

START_SUSPENDED = """
import asyncio, sys
import durable
from durable.examples.orders import register

async def main():
    engine = durable.Engine(sys.argv[1])
    register(engine)
    async with engine:
        run = await engine.create_run("approve-order", resource_id="customer-7")
        await run.start({"sku": "A-1", "qty": 2})
        print(run.run_id)

asyncio.run(main())
"""


def durable_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m durable ARGS`` in ``cwd`` on the default store of that folder."""
    env = {k: v for k, v in os.environ.items() if k not in ("DURABLE_DATABASE_URL", "DURABLE_APP")}
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [sys.executable, "-m", "durable", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )


def start_suspended(cwd: Path, url: str = "sqlite:///durable.db") -> str:
    """Start an approve-order run that stops at its approval; return its id."""
    done = subprocess.run([sys.executable, "-c", START_SUSPENDED, url], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A folder where ``durable demo`` ran once: the folder and the demo's output."""
    cwd = tmp_path_factory.mktemp("demo")
    done = durable_cli(cwd, "demo")
    assert done.returncode == 0, done.stderr
    return cwd, done.stdout


def demo_run_id(cwd: Path) -> str:
    listing = json.loads(durable_cli(cwd, "runs", "list", "--json").stdout)
    return str(listing["runs"][-1]["run_id"])  # the oldest: the fixture's demo run


def test_demo_tells_the_story(demo_dir: tuple[Path, str]) -> None:
    cwd, out = demo_dir
    assert (cwd / "durable.db").exists()
    assert "suspended" in out and "approval" in out
    assert "succeeded" in out
    assert "a manager approves" in out.lower()
    assert "durable runs list" in out and "durable runs history" in out
    assert "\x1b[" not in out  # no colour codes when stdout is not a terminal


def test_demo_twice_makes_a_fresh_run(tmp_path: Path) -> None:
    for _ in range(2):
        assert durable_cli(tmp_path, "demo").returncode == 0
    listing = json.loads(durable_cli(tmp_path, "runs", "list", "--json").stdout)
    assert listing["total"] == 2
    assert len({r["run_id"] for r in listing["runs"]}) == 2
    assert {r["status"] for r in listing["runs"]} == {"succeeded"}


def test_runs_list_json_after_demo(demo_dir: tuple[Path, str]) -> None:
    cwd, _ = demo_dir
    done = durable_cli(cwd, "runs", "list", "--json")
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert listing["total"] >= 1
    run = listing["runs"][-1]
    assert run["workflow"] == "approve-order" and run["status"] == "succeeded"
    filtered = json.loads(durable_cli(cwd, "runs", "list", "--status", "failed", "--json").stdout)
    assert filtered == {"runs": [], "total": 0}
    day = run["created_at"][:10]  # --to a date keeps that whole day (UTC)
    that_day = json.loads(durable_cli(cwd, "runs", "list", "--to", day, "--json").stdout)
    assert run["run_id"] in [r["run_id"] for r in that_day["runs"]]
    odd = durable_cli(cwd, "runs", "list", "--from", "yesterday")
    assert odd.returncode == 2 and "not a date" in odd.stderr and "Traceback" not in odd.stderr


def test_runs_list_table(demo_dir: tuple[Path, str]) -> None:
    cwd, _ = demo_dir
    done = durable_cli(cwd, "runs", "list", "--workflow", "approve-order")
    assert done.returncode == 0
    assert demo_run_id(cwd) in done.stdout and "succeeded" in done.stdout


def test_runs_history_json(demo_dir: tuple[Path, str]) -> None:
    cwd, _ = demo_dir
    run_id = demo_run_id(cwd)
    done = durable_cli(cwd, "runs", "history", run_id, "--json")
    assert done.returncode == 0, done.stderr
    events = json.loads(done.stdout)
    assert events[0]["type"] == "started"
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    assert {"suspended", "resumed", "succeeded"} <= {e["type"] for e in events}
    assert events[0]["timestamp"].endswith("Z")


def test_runs_show_and_state(demo_dir: tuple[Path, str]) -> None:
    cwd, _ = demo_dir
    run_id = demo_run_id(cwd)
    shown = json.loads(durable_cli(cwd, "runs", "show", run_id, "--json").stdout)
    assert shown["status"] == "succeeded" and shown["output"]["status"] == "shipped"
    then = json.loads(durable_cli(cwd, "runs", "state", run_id, "--at", "3", "--json").stdout)
    assert then["status"] == "suspended" and then["suspended"] == [["approval"]]
    outside = durable_cli(cwd, "runs", "state", run_id, "--at", "999")
    assert "outside" in one_error_line(outside)


def test_runs_verify(demo_dir: tuple[Path, str]) -> None:
    cwd, _ = demo_dir
    done = durable_cli(cwd, "runs", "verify", demo_run_id(cwd))
    assert done.returncode == 0, done.stderr
    assert "intact" in done.stdout
    every = durable_cli(cwd, "runs", "verify", "--all", "--json")
    assert every.returncode == 0
    assert all(r["ok"] and r["first_bad"] is None for r in json.loads(every.stdout))


def test_unknown_run_is_one_line_on_stderr(demo_dir: tuple[Path, str]) -> None:
    cwd, _ = demo_dir
    line = one_error_line(durable_cli(cwd, "runs", "show", "nope"))
    assert "nope" in line


def test_resume_of_a_finished_run_fails_clearly(demo_dir: tuple[Path, str]) -> None:
    cwd, _ = demo_dir
    done = durable_cli(cwd, "runs", "resume", demo_run_id(cwd), "--data", '{"approved": true}',
                       "--app", APP)
    line = one_error_line(done)
    assert "not waiting" in line and "succeeded" in line


def test_resume_answers_a_waiting_run(tmp_path: Path) -> None:
    run_id = start_suspended(tmp_path)
    waiting = json.loads(durable_cli(tmp_path, "runs", "suspended", "--json").stdout)
    assert [r["run_id"] for r in waiting["runs"]] == [run_id]
    assert waiting["runs"][0]["suspend_payloads"] == {"approval": {"price": 20, "sku": "A-1"}}
    no_app = durable_cli(tmp_path, "runs", "resume", run_id, "--data", '{"approved": true}')
    assert "--app" in one_error_line(no_app)
    bad = durable_cli(tmp_path, "runs", "resume", run_id, "--data", '{"approved": "maybe"}',
                      "--app", APP)
    assert "invalid" in one_error_line(bad)
    done = durable_cli(tmp_path, "runs", "resume", run_id, "--data",
                       '{"approved": false, "reason": "too dear"}', "--app", APP, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "succeeded"
    assert result["output"]["status"] == "rejected" and result["output"]["reason"] == "too dear"


def test_resume_with_db_runs_the_app_on_that_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    run_id = start_suspended(tmp_path, url)
    done = durable_cli(tmp_path, "--db", url, "runs", "resume", run_id,
                       "--data", '{"approved": true}', "--app", APP, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["output"]["status"] == "shipped"
    assert not (tmp_path / "durable.db").exists()


def test_cancel(tmp_path: Path) -> None:
    run_id = start_suspended(tmp_path)
    done = durable_cli(tmp_path, "runs", "cancel", run_id, "--reason", "changed mind", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "cancelled" and result["error"] == "changed mind"
    again = durable_cli(tmp_path, "runs", "resume", run_id, "--app", APP)
    assert "cancelled" in one_error_line(again)


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    assert "--status" not in one_error_line(durable_cli(tmp_path, "runs", "verify"))
    one_error_line(durable_cli(tmp_path, "runs", "list", "--status", "bogus"))
    one_error_line(durable_cli(tmp_path, "runs", "resume", "x", "--data", "{not json"))
    one_error_line(durable_cli(tmp_path, "--db", "bogus://", "runs", "list"))


CHANGED_APP = """
import durable
from durable.examples import orders

engine = durable.Engine()

@engine.workflow("approve-order", version="2")
async def approve_order(ctx, order):
    # today's code asks for a step the stored runs never recorded at this point
    await ctx.step("fraud-check", lambda: "ok")
    price = await ctx.step("price", orders.compute_price, order)
    return {"price": price}
"""


def test_replay_check_passes_on_todays_code_and_fails_on_changed_code(tmp_path: Path) -> None:
    assert durable_cli(tmp_path, "demo").returncode == 0
    ok = durable_cli(tmp_path, "runs", "replay", "--all", "--app", APP)
    assert ok.returncode == 0, ok.stderr
    assert "1 of 1 run(s) replay cleanly" in ok.stdout

    (tmp_path / "changed_app.py").write_text(CHANGED_APP)
    bad = durable_cli(tmp_path, "runs", "replay", "--workflow", "approve-order", "--json",
                      "--app", "changed_app:engine")
    assert bad.returncode == 1
    verdicts = json.loads(bad.stdout)
    assert len(verdicts) == 1 and verdicts[0]["ok"] is False
    assert "price" in verdicts[0]["error"] and "fraud-check" in verdicts[0]["error"]


def test_reading_commands_never_create_a_database(tmp_path: Path) -> None:
    """Issue 7, defect 11: 'runs show' in an empty folder made a durable.db there."""
    for args in (("runs", "show", "x"), ("runs", "list"), ("runs", "suspended"),
                 ("runs", "history", "x"), ("runs", "verify", "--all"),
                 ("projections", "status"), ("runs", "cancel", "x")):
        line = one_error_line(durable_cli(tmp_path, *args))
        assert "no database at" in line and "durable demo" in line
    assert list(tmp_path.iterdir()) == []


def test_a_store_that_cannot_open_is_said_once(tmp_path: Path) -> None:
    """Issue 7, defect 11: the message was doubled ('cannot open the store ...: cannot ...')."""
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'x.db'}"
    done = durable_cli(tmp_path, "--db", url, "demo")
    line = one_error_line(done)
    assert line.count("cannot open the store") == 1


@pytest.mark.postgres
def test_a_nul_in_an_error_does_not_break_the_cli_on_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    """Issue 7, defect 4: one NUL made every later 'runs list' fail, with a traceback."""
    script = """
import asyncio, sys
import durable

async def main():
    engine = durable.Engine(sys.argv[1])

    @engine.workflow("nul")
    async def nul(ctx, _):
        def boom():
            raise ValueError("bad\\x00byte")
        await ctx.step("boom", boom)

    async with engine:
        await (await engine.create_run("nul")).start()

asyncio.run(main())
"""
    subprocess.run([sys.executable, "-c", script, postgres_url], cwd=tmp_path, check=True,
                   capture_output=True, timeout=60)
    for args in (("runs", "list", "--json"), ("runs", "verify", "--all"),
                 ("projections", "rebuild")):
        done = durable_cli(tmp_path, "--db", postgres_url, *args)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    listed = json.loads(durable_cli(tmp_path, "--db", postgres_url, "runs", "list",
                                    "--json").stdout)
    assert "ValueError: bad\\x00byte" in listed["runs"][0]["error"]  # escaped, not lost


def test_runs_watch_follows_a_run_live_until_it_ends(tmp_path: Path) -> None:
    """``durable runs watch ID --json`` (the installed entry point) prints each event as
    it is appended, one JSON line each, and exits 0 once the run succeeded."""
    import json
    import shutil

    url = f"sqlite:///{tmp_path / 'watch.db'}"
    run_id = start_suspended(tmp_path, url)
    entry = shutil.which("durable", path=str(Path(sys.executable).parent))
    assert entry is not None
    watch = subprocess.Popen([entry, "runs", "watch", run_id, "--json", "--db", url],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert watch.stdout is not None
        seen = [json.loads(watch.stdout.readline()) for _ in range(3)]  # up to the wait
        assert [e["type"] for e in seen] == ["started", "step_completed", "suspended"]
        assert watch.poll() is None  # still watching the suspended run
        resumed = durable_cli(tmp_path, "runs", "resume", run_id, "--data",
                              '{"approved": true}', "--app", APP, "--db", url)
        assert resumed.returncode == 0, resumed.stderr
        rest, err = watch.communicate(timeout=30)
    finally:
        if watch.poll() is None:
            watch.kill()
    events = seen + [json.loads(line) for line in rest.splitlines()]
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "succeeded" and watch.returncode == 0, err
    gone = durable_cli(tmp_path, "runs", "watch", "no-such-run", "--db", url)
    assert gone.returncode != 0 and one_error_line(gone).startswith("error: no run")
    missing = durable_cli(tmp_path, "runs", "watch", "x", "--db",
                          f"sqlite:///{tmp_path / 'nothing.db'}")
    assert missing.returncode != 0 and not (tmp_path / "nothing.db").exists()
