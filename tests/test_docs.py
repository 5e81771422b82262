"""The docs' examples run: every Python block in concepts.md and deploys.md, and the
tutorial's program."""

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


def test_the_python_reference_page_is_the_codes_own_signatures_and_docstrings() -> None:
    from durable.reference import page

    committed = (Path(__file__).resolve().parent.parent / "docs" / "reference" / "python.md")
    assert committed.read_text() == page(), (
        "docs/reference/python.md is stale: python -m durable.reference > "
        "docs/reference/python.md")


def test_the_cli_reference_page_is_the_commands_own_help() -> None:
    from durable.cli.reference import page

    committed = (Path(__file__).resolve().parent.parent / "docs" / "reference" / "cli.md")
    assert committed.read_text() == page(), (
        "docs/reference/cli.md is stale: python -m durable.cli.reference > "
        "docs/reference/cli.md")
