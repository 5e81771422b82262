"""``durable runs fork|export|import|verify --against|redact`` and ``durable audit seal``
through the command line, on the demo's SQLite store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.test_cli import APP, durable_cli, one_error_line, start_suspended


def test_fork_with_a_what_if_result_then_resume_it(tmp_path: Path) -> None:
    run_id = start_suspended(tmp_path)
    done = durable_cli(tmp_path, "runs", "fork", run_id, "--at", "price", "--result",
                       "price=3", "--json")
    assert done.returncode == 0, done.stderr
    fork = json.loads(done.stdout)
    assert (fork["status"], fork["forked_from"], fork["fork_position"]) == ("paused", run_id, 1)
    resumed = durable_cli(tmp_path, "runs", "resume", fork["run_id"], "--app", APP, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["suspend_payloads"]["approval"]["price"] == 3
    table = durable_cli(tmp_path, "runs", "fork", run_id, "--at", "1")
    assert table.returncode == 0 and "Fork of" in table.stdout
    assert "STEP=JSON" in one_error_line(durable_cli(tmp_path, "runs", "fork", run_id,
                                                     "--at", "1", "--result", "oops"))
    assert "holds no step" in one_error_line(durable_cli(tmp_path, "runs", "fork", run_id,
                                                         "--at", "nosuch"))


def test_export_then_import_into_another_store(tmp_path: Path) -> None:
    run_id = start_suspended(tmp_path)
    exported = durable_cli(tmp_path, "runs", "export", run_id)
    assert exported.returncode == 0, exported.stderr
    as_json = durable_cli(tmp_path, "runs", "export", run_id, "--json")  # every runs command
    assert (as_json.returncode, as_json.stdout) == (0, exported.stdout)
    (tmp_path / "run.jsonl").write_text(exported.stdout)
    other = "sqlite:///other.db"
    done = durable_cli(tmp_path, "--db", other, "runs", "import", "run.jsonl", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["run_id"] == run_id
    again = durable_cli(tmp_path, "--db", other, "runs", "import", "run.jsonl")
    assert "exists" in one_error_line(again)
    (tmp_path / "bad.jsonl").write_text(exported.stdout.replace('"qty":2', '"qty":9'))
    bad = durable_cli(tmp_path, "--db", "sqlite:///third.db", "runs", "import", "bad.jsonl")
    assert "edited" in one_error_line(bad)
    listed = durable_cli(tmp_path, "--db", "sqlite:///third.db", "runs", "list", "--json")
    assert json.loads(listed.stdout)["total"] == 0  # nothing written


def test_a_seal_file_catches_a_cut_the_chain_cannot_see(tmp_path: Path) -> None:
    run_id = start_suspended(tmp_path)
    sealed = durable_cli(tmp_path, "audit", "seal")
    assert sealed.returncode == 0, sealed.stderr
    (tmp_path / "seal.json").write_text(sealed.stdout)
    assert run_id in json.loads(sealed.stdout)["runs"]
    ok = durable_cli(tmp_path, "runs", "verify", "--all", "--against", "seal.json")
    assert ok.returncode == 0 and "intact" in ok.stdout, ok.stderr

    with sqlite3.connect(tmp_path / "durable.db") as conn:  # cut the tail and its head
        last = conn.execute("SELECT MAX(originator_version) FROM stored_events WHERE "
                            "originator_id = ?", (run_id,)).fetchone()[0]
        conn.execute("DELETE FROM stored_events WHERE originator_id = ? AND "
                     "originator_version = ?", (run_id, last))
        conn.execute("UPDATE durable_runs SET position = ? WHERE run_id = ?", (last - 1, run_id))
    alone = durable_cli(tmp_path, "runs", "verify", run_id, "--json")
    assert alone.returncode == 0 and json.loads(alone.stdout)[0]["ok"] is True
    caught = durable_cli(tmp_path, "runs", "verify", "--all", "--against", "seal.json",
                         "--json")
    assert caught.returncode == 1
    report = json.loads(caught.stdout)[0]
    assert (report["ok"], report["first_bad"]) == (False, last)
    assert "failed the audit" in caught.stderr
    (tmp_path / "forged.json").write_text(sealed.stdout.replace(f'[{last},', f'[{last - 1},'))
    forged = durable_cli(tmp_path, "runs", "verify", "--all", "--against", "forged.json")
    assert "altered" in one_error_line(forged)


def test_redact_a_finished_run(tmp_path: Path) -> None:
    run_id = start_suspended(tmp_path)
    early = durable_cli(tmp_path, "runs", "redact", run_id, "--reason", "gdpr")
    assert "only a finished run" in one_error_line(early)
    durable_cli(tmp_path, "runs", "cancel", run_id)
    done = durable_cli(tmp_path, "runs", "redact", run_id, "--reason", "gdpr", "--json")
    assert done.returncode == 0, done.stderr
    history = json.loads(durable_cli(tmp_path, "runs", "history", run_id, "--json").stdout)
    assert history[0]["data"]["input"] == {"redacted": "gdpr"}
    assert durable_cli(tmp_path, "runs", "verify", run_id).returncode == 0
