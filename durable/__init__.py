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

from durable.context import Context
from durable.engine import Engine, Run
from durable.errors import (
    AmbiguousResume,
    DurableError,
    InvalidResumeData,
    NonDeterminismError,
    NotSuspended,
    RunAlreadyStarted,
    RunNotFound,
    StepFailed,
    StoreUnavailable,
    WaitTimeout,
    WorkflowNotFound,
)
from durable.results import (
    Approval,
    Event,
    Page,
    ReplayCheck,
    RunInfo,
    RunResult,
    Suspension,
    WorkflowInfo,
)

__version__ = "0.1.0"

__all__ = [
    "AmbiguousResume",
    "Approval",
    "Context",
    "DurableError",
    "Engine",
    "Event",
    "InvalidResumeData",
    "NonDeterminismError",
    "NotSuspended",
    "Page",
    "ReplayCheck",
    "Run",
    "RunAlreadyStarted",
    "RunInfo",
    "RunNotFound",
    "RunResult",
    "StepFailed",
    "StoreUnavailable",
    "Suspension",
    "WaitTimeout",
    "WorkflowInfo",
    "WorkflowNotFound",
]
