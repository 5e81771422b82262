"""durable: an event-sourced durable execution engine for Python.

A workflow is a plain ``async`` function; every run of it is an append-only
event log, replayed deterministically::

    engine = durable.Engine("sqlite:///orders.db")

    @engine.workflow("approve-order", version="1")
    async def approve_order(ctx: durable.Context, order: dict) -> dict:
        price = await ctx.step("price", compute_price, order)
        decision = await ctx.suspend("approval", {"price": price})
        ...
"""

from typing import TYPE_CHECKING, Any

from durable.errors import (
    AmbiguousResume,
    DurableError,
    EngineClosed,
    InvalidResumeData,
    NonDeterminismError,
    NotSuspended,
    RunAlreadyStarted,
    RunEnded,
    RunNotFound,
    StepFailed,
    StoreUnavailable,
    WaitsOnTimer,
    WaitTimeout,
    WorkflowNotFound,
)
from durable.results import (
    Approval,
    Audit,
    EngineStats,
    Event,
    Page,
    ReplayCheck,
    RunInfo,
    RunResult,
    Suspension,
    WorkflowInfo,
)
from durable.seal import Seal

if TYPE_CHECKING:
    from durable.context import Context
    from durable.engine import Engine
    from durable.queues import Queue
    from durable.run import Run

__version__ = "0.1.0"

# The engine (and through it the stores and the read models in ``projections``)
# loads on first use: importing ``durable`` stays fast, and ``projections`` can
# import durable's pure core (codec, events, paths) without a cycle.
_LAZY = {"Context": "durable.context", "Engine": "durable.engine", "Queue": "durable.queues",
         "Run": "durable.run"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'durable' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = [
    "AmbiguousResume",
    "Approval",
    "Audit",
    "Context",
    "DurableError",
    "Engine",
    "EngineClosed",
    "EngineStats",
    "Event",
    "InvalidResumeData",
    "NonDeterminismError",
    "NotSuspended",
    "Page",
    "Queue",
    "ReplayCheck",
    "Run",
    "RunAlreadyStarted",
    "RunEnded",
    "RunInfo",
    "RunNotFound",
    "RunResult",
    "Seal",
    "StepFailed",
    "StoreUnavailable",
    "Suspension",
    "WaitTimeout",
    "WaitsOnTimer",
    "WorkflowInfo",
    "WorkflowNotFound",
]
