"""Logs as a host application expects them: fields, not pre-rendered strings."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

import durable


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[Capture]:
    handler = Capture()
    logger = logging.getLogger("durable")
    before = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)


async def test_records_carry_fields_and_each_lifecycle_event_once(
    store_url: str, open_engine: Any, captured: Capture
) -> None:
    seen_in_step: dict[str, Any] = {}
    tries = {"n": 0}

    def register(engine: durable.Engine) -> None:
        @engine.workflow("logged")
        async def logged(ctx: durable.Context, _: Any) -> Any:
            def flaky() -> str:
                tries["n"] += 1
                seen_in_step.update(structlog.contextvars.get_contextvars())
                if tries["n"] == 1:
                    raise ConnectionError("try again")
                return "ok"

            await ctx.step("flaky", flaky, retries=1, backoff=0.01)
            return await ctx.suspend("approval")

    engine = await open_engine(store_url, register)
    run = await engine.create_run("logged")
    await run.start()
    await run.resume("yes")
    mine = [r for r in captured.records if getattr(r, "run_id", None) == run.run_id]
    lifecycle = [r.getMessage() for r in mine if r.levelno == logging.INFO
                 and r.getMessage().startswith("run_")]
    assert lifecycle == ["run_started", "run_suspended", "run_resumed", "run_succeeded"]
    suspended = next(r for r in mine if r.getMessage() == "run_suspended")
    assert (suspended.workflow, suspended.step_id) == ("logged", "approval")  # type: ignore[attr-defined]
    failed = next(r for r in mine if r.getMessage() == "step_failed")
    assert failed.levelno == logging.WARNING
    assert (failed.step_id, failed.attempt, failed.final) == ("flaky", 0, False)  # type: ignore[attr-defined]
    assert "ConnectionError: try again" in failed.error  # type: ignore[attr-defined]
    # everything a run does is bound: a host's own structlog call in a step sees it
    assert seen_in_step["run_id"] == run.run_id and seen_in_step["workflow"] == "logged"
    assert seen_in_step["step_id"] == "flaky" and seen_in_step["attempt"] == 1


async def test_the_hosts_logging_configuration_is_never_touched(tmp_path: Any) -> None:
    root = logging.getLogger()
    before = (root.level, list(root.handlers), logging.getLogger("durable").handlers[:])
    engine = durable.Engine(f"sqlite:///{tmp_path / 'quiet.db'}")

    @engine.workflow("quiet")
    async def quiet(ctx: durable.Context, _: Any) -> int:
        return await ctx.step("one", lambda: 1)

    async with engine:
        await (await engine.create_run("quiet")).start()
    after = (root.level, list(root.handlers), logging.getLogger("durable").handlers[:])
    assert after == before
