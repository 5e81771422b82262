"""The options ``Engine(url, **options)`` takes, checked when the engine is made."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from typing import Any

_POSITIVE = ("lease_seconds", "project_every", "timer_poll")


@dataclass(frozen=True)
class Options:
    """Every option of an engine, with its default.

    ``lease_seconds``: how long another host waits before it recovers a run whose
    holder stopped answering. ``max_parked``: suspended runs kept in memory for a
    hot resume (0: always replay). ``max_cached_runs``: folded runs kept for reads.
    ``snapshot_every``: events between snapshots. ``blob_threshold``: bytes past
    which a step result is stored once by hash. ``synchronous``: SQLite's level,
    ``"FULL"`` (survives power loss) or ``"NORMAL"`` (survives a process crash).
    ``project_every``: seconds between background catch-ups of the runs index.
    ``pool_size``: PostgreSQL connections. ``timer_poll``: seconds between looks for
    due timers written by other engines (this engine's own are fired when they fall due).
    """

    lease_seconds: float = 30.0
    max_parked: int = 10_000
    max_cached_runs: int = 10_000
    snapshot_every: int = 100
    blob_threshold: int = 16 * 1024
    synchronous: str = "FULL"
    project_every: float = 1.0
    pool_size: int = 5
    timer_poll: float = 1.0

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> Options:
        """Check ``options`` by name and type; a typo is a ``TypeError`` naming the valid
        options, a value out of range a ``ValueError``."""
        known = {f.name: f for f in fields(cls)}
        for name in options:
            if name not in known:
                close = difflib.get_close_matches(name, list(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise TypeError(
                    f"Engine() got an unknown option {name!r}{hint}; the options are: "
                    + ", ".join(sorted(known))
                )
        values: dict[str, Any] = {}
        for name, value in options.items():
            kind = known[name].type
            if kind in ("float", "int"):
                if isinstance(value, bool) or not isinstance(value, int | float) or (
                        kind == "int" and not isinstance(value, int)):
                    raise TypeError(f"Engine option {name} must be a number ({kind}), "
                                    f"not {value!r}")
                if value < 0 or (name in _POSITIVE and value <= 0):
                    raise ValueError(f"Engine option {name} must be positive, not {value!r}")
            elif not isinstance(value, str):
                raise TypeError(f"Engine option {name} must be a string, not {value!r}")
            values[name] = value
        if "synchronous" in values:
            values["synchronous"] = values["synchronous"].upper()
            if values["synchronous"] not in ("FULL", "NORMAL", "EXTRA", "OFF"):
                raise ValueError(
                    f"synchronous={options['synchronous']!r} is not a SQLite level; use 'FULL' "
                    "(the default, survives power loss) or 'NORMAL' (survives a process crash)"
                )
        return cls(**values)
