"""``python -m benchmarks.inspector``: how fast the inspector's run page loads for a long run.

Starts ``durable serve`` (SQLite, a bearer token) with a run of ``--events`` events
(a workflow of that many steps, executed by the engine, that ends waiting), signs in
with Debian's Chromium (Playwright) and loads the run page ``--loads`` times, each a
fresh navigation: the time from navigation start to the load event (the page's
script included), and the HTML's size. The timeline is paged (200 events a page),
so neither grows with the run; the audit (which reads the whole chain) is asked for
by the page's script once it is shown, so its time is reported apart: when its
verdict appeared. Target (issue 13): under 1 s for 10,000 events.
Results go to ``benchmarks/results/inspector.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.pg_instance import free_port

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_name("results") / "inspector.json"
TOKEN = "bench-token"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=10)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DURABLE_API_TOKEN": TOKEN}
        log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "durable", "serve", "--app", "tests.inspector_app:register",
             "--db", f"sqlite:///{tmp}/bench.db", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            for _ in range(300):
                try:
                    httpx.get(f"{base}/v1/workflows", headers=headers, timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            t0 = time.perf_counter()
            run = httpx.post(f"{base}/v1/workflows/long/runs", json={"input": args.events - 2},
                             headers=headers, timeout=600).json()
            made = time.perf_counter() - t0
            assert run["position"] == args.events, run
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox"])
                page = browser.new_context().new_page()
                page.goto(f"{base}/sign-in")
                page.fill("input[name=token]", TOKEN)
                page.click("button:has-text('Sign in')")
                page.wait_for_url(f"{base}/")
                loads, sizes, audits = [], [], []
                for i in range(args.loads + 1):
                    response = page.goto(f"{base}/runs/{run['run_id']}", wait_until="load")
                    assert response is not None and response.ok
                    took = page.evaluate(
                        "() => { const n = performance.getEntriesByType('navigation')[0];"
                        " return n.loadEventEnd - n.startTime; }")
                    # The audit's verdict, filled in by the page's script once it has read
                    # the whole chain; waited for, so the next load does not share the
                    # server with it.
                    page.wait_for_function(
                        "() => document.getElementById('audit').textContent === 'intact'",
                        timeout=120_000)
                    verdict = page.evaluate("() => performance.now()")
                    if i:  # the first load warms the server's caches
                        loads.append(took / 1000)
                        audits.append(verdict / 1000)
                        sizes.append(len(response.body()))
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    figures = {"events": args.events, "made_s": round(made, 2),
               "load_p50_ms": round(statistics.median(loads) * 1000, 1),
               "load_max_ms": round(max(loads) * 1000, 1),
               "audit_shown_p50_ms": round(statistics.median(audits) * 1000, 1),
               "html_bytes": int(statistics.median(sizes)), "loads": len(loads)}
    print(f"run page of a {args.events:,}-event run: load p50 {figures['load_p50_ms']} ms, "
          f"max {figures['load_max_ms']} ms, HTML {figures['html_bytes']:,} bytes; the audit's "
          f"verdict shown after {figures['audit_shown_p50_ms']} ms (p50)")
    print(json.dumps(figures))
    if not args.no_write:
        RESULTS.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
