"""docs/time-travel.md, run as written: its bash blocks, in order, in an empty folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "time-travel.md"


@pytest.mark.slow
def test_the_time_travel_guide_runs_as_written(tmp_path: Path) -> None:
    blocks = re.findall(r"^```bash\n(.*?)^```$", GUIDE.read_text(), re.S | re.M)
    assert len(blocks) >= 8
    script = "set -euo pipefail\n" + "\n".join(
        f"echo '### block {i}'\n{b}" for i, b in enumerate(blocks, 1))
    env = {k: v for k, v in os.environ.items() if k not in ("DURABLE_DATABASE_URL",
                                                            "DURABLE_APP")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(tmp_path)  # (--app invoices:engine: the copy in this folder)
    env["COLUMNS"] = "200"
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "KeyError: 'NO'" in out  # the failure, and where it happened
    assert '{"stage":"priced","net":240}' in out  # the state before it
    assert '{"status":"declined","gross":300}' in out  # the what-if fork
    assert "replay cleanly" in out and "FAIL" not in out  # the fix breaks no stored run
    assert '"status":"invoiced","gross":300' in out  # the retry under the fix
    assert "fork of" in out
    assert "Imported run" in out and "intact" in out
    assert '"NO": 25' in (tmp_path / "invoices.py").read_text()
