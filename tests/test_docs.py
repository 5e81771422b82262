"""The docs' examples run: every Python block in concepts.md, and the tutorial's program."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_documented_code_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "examples" / "check_docs.py")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
