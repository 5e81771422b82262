"""Check that the code in the docs still runs: ``python docs/examples/check_docs.py``.

- Every ``python`` block in docs/tutorial.md must be an excerpt, word for word,
  of docs/examples/tutorial_order.py (the tutorial's program).
- Every ``python`` block in README.md, docs/concepts.md and docs/deploys.md is a
  complete program: each is run in a fresh temporary directory and must exit 0.

Outputs are not compared: run ids, seeds and times differ on every run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def blocks(page: str) -> list[str]:
    return BLOCK.findall((DOCS / page).read_text())


def main() -> int:
    failures = 0
    program = (DOCS / "examples" / "tutorial_order.py").read_text()
    for i, code in enumerate(blocks("tutorial.md"), 1):
        if code not in program:
            print(f"tutorial.md block {i}: not an excerpt of tutorial_order.py")
            failures += 1
    for page in ("../README.md", "concepts.md", "deploys.md"):
        for i, code in enumerate(blocks(page), 1):
            with tempfile.TemporaryDirectory() as tmp:
                done = subprocess.run([sys.executable, "-c", code], cwd=tmp,
                                      capture_output=True, text=True, timeout=120)
            if done.returncode != 0:
                print(f"{page} block {i}: exit {done.returncode}\n{done.stderr[-2000:]}")
                failures += 1
    print("docs code: ok" if not failures else f"docs code: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
