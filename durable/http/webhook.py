"""``POST /v1/runs/{run_id}/nodes/{node_id}/resume?secret=S``: resume a waiting node
from a third party's webhook.

The workflow's own ``webhook_secret`` (``engine.workflow(..., webhook_secret=)``)
must be given as ``secret`` (401 otherwise, compared in constant time; a workflow
without one accepts no webhook). ``stack`` locates the iteration of nested for-each
nodes, outermost first: ``[{"parent_node_id": "regions", "index": 1, "total": 2},
{"parent_node_id": "orders", "index": 0, "total": 3}]`` with node ``approve`` is the
suspension at path ``(..., "regions", 1, "orders", 0, "approve")`` (the path may
begin inside a child run or another scope). The answer is the resume route's:
``resumed``, or ``skipped`` with the reason when that node is not waiting, so a
retried webhook is harmless.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

import msgspec
from litestar import post
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException
from litestar.params import FromPath, JSONBody, QueryParameter

from durable.engine import Engine
from durable.errors import NotSuspended, WaitsOnTimer
from durable.http.bodies import Resumed
from durable.http.errors import ERRORS, RequestInvalid
from durable.paths import Path


class Frame(msgspec.Struct, forbid_unknown_fields=True):
    """One for-each level: the for-each node, the iteration, how many there are."""

    parent_node_id: str
    index: Annotated[int, msgspec.Meta(ge=0)]
    total: Annotated[int, msgspec.Meta(ge=1)]


class NodeResume(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    data: Any = None
    stack: list[Frame] = msgspec.field(default_factory=list)


def node_path(node_id: str, stack: list[Frame]) -> list[str | int]:
    """The path's tail the node's suspension has: each for-each level, then the node."""
    tail: list[str | int] = []
    for i, frame in enumerate(stack):
        if frame.index >= frame.total:
            raise RequestInvalid(["body", "stack", i, "index"],
                                 f"index {frame.index} is past total {frame.total}")
        tail += [frame.parent_node_id, frame.index]
    return [*tail, node_id]


def _ends_with(path: Path, tail: list[str | int]) -> bool:
    return len(path) >= len(tail) and list(path[len(path) - len(tail):]) == tail


@post("/runs/{run_id:str}/nodes/{node_id:str}/resume", responses=ERRORS, status_code=200,
      summary="Resume a waiting node from a webhook")
async def resume_node(
    state: State, run_id: FromPath[str], node_id: FromPath[str], data: JSONBody[NodeResume],
    secret: Annotated[str | None, QueryParameter(
        description="the workflow's webhook secret")] = None,
) -> Resumed:
    engine: Engine = state.engine
    run = await engine.get_run(run_id)  # 404 for an unknown run, before the secret
    wanted = next((wf.webhook_secret for wf in engine.definitions()
                   if wf.name == run.workflow), None)
    if wanted is None or secret is None or not hmac.compare_digest(
            secret.encode(), wanted.encode()):
        raise NotAuthorizedException(
            "this route needs ?secret= equal to the workflow's webhook secret"
            if wanted is not None else
            f"workflow {run.workflow!r} accepts no webhook: register it with webhook_secret=")
    tail = node_path(node_id, data.stack)
    matches = [s.path for s in run.suspensions if _ends_with(s.path, tail)]
    if not matches:
        return Resumed(action="skipped", run=run, reason=(
            f"node {'.'.join(map(str, tail))} of run {run_id!r} is not waiting "
            f"(run status {str(run.status)!r})"))
    if len(matches) > 1:
        raise RequestInvalid(["body", "stack"], "several waiting nodes match: "
                             + ", ".join(".".join(map(str, p)) for p in matches)
                             + "; give the stack of for-each levels that tells them apart")
    try:
        done = await engine.resume_run(run_id, data.data, list(matches[0]))
    except WaitsOnTimer as e:  # a timer node: the engine fires it, no webhook answers it
        raise RequestInvalid(["path", "node_id"], str(e)) from None
    except NotSuspended as e:  # answered meanwhile (a retry racing the first delivery)
        return Resumed(action="skipped", reason=str(e), run=await engine.get_run(run_id))
    return Resumed(action="resumed", run=done)
