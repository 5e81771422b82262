"""``python -m benchmarks.peers SIDE SCENARIO PARAMS_JSON OUT``: run one scenario, write OUT.

Leaves with ``os._exit`` once OUT is written: DBOS keeps non-daemon executor
threads (and workflows waiting in ``recv``) that would otherwise hold the
process open, and nothing here needs a clean shutdown.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import os
import sys
import traceback


def main() -> None:
    side, scenario, params, out = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
    logging.basicConfig(level=logging.WARNING)
    module = importlib.import_module(f"benchmarks.peers.{side}_side")
    fn = getattr(module, scenario)
    try:
        result = asyncio.run(fn(**params)) if inspect.iscoroutinefunction(fn) else fn(**params)
    except BaseException:
        traceback.print_exc()
        sys.stdout.flush()
        os._exit(1)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, out)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
