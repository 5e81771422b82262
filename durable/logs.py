"""Logging: structlog loggers with ``run_id``/``step_id`` bound, emitted through
the standard library's ``logging`` under the ``durable`` name.

A library never configures logging for its host: whatever the application set
up for ``logging`` (levels, handlers, JSON) applies; unconfigured, Python shows
warnings and errors on stderr and nothing else.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog


def get_logger(name: str = "durable") -> Any:
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.processors.format_exc_info,
            structlog.processors.KeyValueRenderer(key_order=["event", "run_id", "step_id"]),
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    )
