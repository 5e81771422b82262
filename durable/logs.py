"""Logging: structlog loggers handing event dicts to the standard library's ``logging``.

A library never configures logging for its host. Each record goes to the
``durable`` logger with the event name as its message and every field
(``run_id``, ``workflow``, ``step_id``, ``attempt``, ...) as an attribute of
the ``LogRecord`` (structlog's ``render_to_log_kwargs``), so whatever the host
set up decides the output: a JSON formatter sees the fields as fields.
Fields bound with :func:`structlog.contextvars.bind_contextvars` (the engine
binds ``run_id`` and ``workflow`` while it executes a run, and ``step_id`` and
``attempt`` in a step's body) are merged into every record, including the
host's own records logged through structlog from inside a step.

Unconfigured, Python shows warnings and errors on stderr and nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import structlog

# Field names a LogRecord reserves: passed as `extra`, they would make logging raise.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


def _rename_reserved(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in [k for k in event_dict if k in _RESERVED and k not in ("exc_info",
                                                                      "stack_info")]:
        event_dict[f"{key}_"] = event_dict.pop(key)
    return event_dict


def get_logger(name: str = "durable") -> Any:
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.contextvars.merge_contextvars,
            _rename_reserved,
            structlog.stdlib.render_to_log_kwargs,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,  # else the lazy proxy binds anew on every call
    )
