"""Benchmarks for the durable engine (not shipped): ``python -m benchmarks``.

- B1, per-step overhead: a workflow of ten trivial steps run N times in a row.
- B2, suspend -> resume latency, hot (the run parked in memory) and cold (a new
  engine replays the run from its log).
- Floors: a raw ``sqlite3`` / ``psycopg`` loop of one small INSERT + COMMIT,
  the cheapest durable write the same database can do; B1 is reported as a
  ratio to it.

- Listing waiting runs at scale (``python -m benchmarks.listing``, or
  ``python -m benchmarks --listing``): ``list_suspended_runs`` / ``list_runs``
  latency among 10,000 and 1,000,000 runs.

``core`` holds the scenarios, ``breakdown`` the optional ``--profile`` pass,
``listing`` the listing scenario, ``report`` the machine description, the
tables, the JSON and the Markdown.
"""
