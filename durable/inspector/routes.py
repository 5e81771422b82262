"""The inspector's routes: ``/`` (runs), ``/inbox``, ``/runs/{id}``, signing in, and the
forms that act on runs. Every form carries a CSRF token; with an API token set, the
pages need the sign-in cookie (see :func:`durable.inspector.auth.guard`)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.params import FromPath
from litestar.response import Redirect

from durable.engine import Engine
from durable.errors import DurableError, RunNotFound
from durable.inspector import assets, pages
from durable.inspector.auth import (
    COOKIE,
    csrf_of,
    prefix_of,
    session_of,
    signed_in,
    token_matches,
)
from durable.inspector.html import Html, page, tag
from durable.paths import addressable
from durable.reads import when_from_text
from durable.run import Run

PER_PAGE = 200  # timeline events per page: a long run's page stays light



def _base(request: Request[Any, Any, Any]) -> str:
    return prefix_of(request.scope)


def _page(request: Request[Any, Any, Any], title: str, body: str, *, status: int = 200,
          data: dict[str, Any] | None = None) -> Response[str]:
    state = request.app.state
    text = page(title, Html(body), base=_base(request),
                signed_in=state.token is not None and signed_in(request, state.token),
                csrf=csrf_of(state), data=data)
    return Response(text, media_type=MediaType.HTML, status_code=status,
                    headers={"Content-Security-Policy": "default-src 'self'; "
                             "style-src 'self'; script-src 'self'; object-src 'none'; "
                             "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
                             "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"})


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    values = {k: str(v) for k, v in form.items()}
    if not token_matches(values.get("csrf", ""), csrf_of(request.app.state)):
        raise _Refused("this form is stale or came from another site: reload the page "
                       "and try again")
    return values


class _Refused(Exception):
    pass


def number(text: str | None) -> int | None:
    """A whole number written in ASCII digits (``"²".isdigit()`` is True), else None."""
    return int(text) if text and text.isascii() and text.isdigit() else None


def engine_of(state: State) -> Engine:
    return state.engine  # type: ignore[no-any-return]


def _date(text: str | None) -> date | datetime | None:
    """A filter's value (the form's date-time; a date typed in the URL: its whole day);
    an odd one filters nothing."""
    try:
        return when_from_text(text) if text else None
    except ValueError:
        return None


@get("/", media_type=MediaType.HTML, include_in_schema=False)
async def runs_page(request: Request[Any, Any, Any], state: State) -> Response[str]:
    q = {k: v for k, v in request.query_params.items() if v}
    q["page"] = str(number(q.get("page")) or 0)
    blocked = {"true": True, "false": False}.get(q.get("blocked", ""))
    engine = engine_of(state)
    try:
        result = await engine.list_runs(
            status=q.get("status"), workflow=q.get("workflow"), resource_id=q.get("resource_id"),
            thread_id=q.get("thread_id"), from_date=_date(q.get("from_date")),
            to_date=_date(q.get("to_date")), blocked=blocked,
            page=int(q["page"]))
    except ValueError as e:
        return _page(request, "Runs", tag("div", str(e), class_="error"), status=422)
    workflows = sorted(w.name for w in engine.workflows())
    return _page(request, "Runs", pages.runs(_base(request), result, q, workflows))


async def _inbox(request: Request[Any, Any, Any], errors: dict[tuple[str, str], str],
                 sent: dict[tuple[str, str], str], status: int = 200) -> Response[str]:
    result = await engine_of(request.app.state).list_suspended_runs(per_page=100)
    body = pages.inbox(_base(request), result, csrf_of(request.app.state), errors, sent)
    return _page(request, "Inbox", body, status=status)


@get("/inbox", media_type=MediaType.HTML, include_in_schema=False)
async def inbox_page(request: Request[Any, Any, Any]) -> Response[str]:
    return await _inbox(request, {}, {})


@post("/inbox/answer", media_type=MediaType.HTML, include_in_schema=False, status_code=303)
async def answer(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """Approve, decline or resume one suspension; an error is shown in its card."""
    try:
        form = await _form(request)
    except _Refused as e:
        return _page(request, "Inbox", tag("div", str(e), class_="error"), status=403)
    run_id, step, action = form.get("run_id", ""), form.get("step", ""), form.get("action")
    engine = engine_of(state)
    try:
        if action == "approve":
            await engine.approve(run_id, step=step)
        elif action == "decline":
            await engine.decline(run_id, step=step, reason=form.get("reason") or None)
        else:
            try:
                data = json.loads(form.get("data") or "null")
            except json.JSONDecodeError as e:
                raise ValueError(f"the resume data is not valid JSON: {e}") from None
            await engine.resume_run(run_id, data, step)
    except (DurableError, ValueError) as e:
        return await _inbox(request, {(run_id, step): str(e)},
                            {(run_id, step): form.get("data", "")}, status=422)
    if not addressable(run_id):  # no page to show it on (decision 0015)
        return Redirect(_base(request) + "/inbox", status_code=303)
    return Redirect(_base(request) + "/runs/" + quote(run_id, safe=""), status_code=303)


@get("/runs/{run_id:str}", media_type=MediaType.HTML, include_in_schema=False)
async def run_page(request: Request[Any, Any, Any], state: State, run_id: FromPath[str]
                   ) -> Response[str]:
    q = request.query_params
    return await _run_view(request, state, run_id, q.get("at", ""), q.get("after", ""), None,
                           audit_now=q.get("audit") == "1")


async def _run_view(request: Request[Any, Any, Any], state: State, run_id: str,
                    at_text: str, after_text: str, error: str | None, *,
                    audit_now: bool = False) -> Response[str]:
    engine = engine_of(state)
    try:
        info = await engine.get_run(run_id)
    except RunNotFound as e:
        return _page(request, "Not found", tag("div", str(e), class_="error"),
                     status=404)
    at = number(at_text)
    at = at if at is not None and 1 <= at <= info.position else None
    after_given = number(after_text)
    if after_given is not None:
        after = min(after_given, max(0, info.position - 1))
    elif at is not None:  # the page that holds the event asked for
        after = (at - 1) // PER_PAGE * PER_PAGE
    else:  # the latest events
        after = max(0, (info.position - 1) // PER_PAGE * PER_PAGE)
    events = await engine.history(run_id, after=after, limit=PER_PAGE)
    state_at = await engine.state_at(run_id, at) if at is not None else None
    audit = await engine.audit(run_id) if audit_now else None  # else the script asks
    related = await engine.related_runs(run_id)
    body = pages.run(_base(request), info, events, after, PER_PAGE, state_at, audit,
                     csrf_of(state), error, related)
    status = 422 if error else 200
    tail = after + len(events) >= info.position
    return _page(request, f"Run {run_id}", body, status=status, data={
        "run": run_id, "last": info.position, "tail": "1" if tail else "0",
        "live": "0" if info.status in pages.TERMINAL else "1"})


@post("/runs/{run_id:str}/act", media_type=MediaType.HTML, include_in_schema=False, status_code=303)
async def act(request: Request[Any, Any, Any], state: State, run_id: FromPath[str]
              ) -> Response[Any]:
    """Pause, continue, cancel, or fork the run (then open the fork)."""
    engine = engine_of(state)
    form: dict[str, str] = {}
    try:
        form = await _form(request)
        info = await engine.get_run(run_id)
        target = run_id
        action = form.get("action")
        handle = Run(engine, run_id, info.workflow, info.resource_id, info.thread_id)
        if action == "pause":
            await engine.pause_run(run_id)
        elif action == "continue":
            await handle.resume()
        elif action == "cancel":
            await handle.cancel("cancelled in the inspector")
        elif action == "fork":
            text = (form.get("results") or "").strip()
            try:
                results = json.loads(text) if text else None
            except json.JSONDecodeError as e:
                raise ValueError(f"the what-if results are not valid JSON: {e}") from None
            fork = await engine.fork(run_id, at=number(form.get("at")) or 0, results=results)
            target = fork.run_id
        else:
            raise ValueError(f"unknown action {action!r}")
    except (_Refused, DurableError, ValueError) as e:
        return await _run_view(request, state, run_id, form.get("at", ""), "", str(e))
    return Redirect(_base(request) + "/runs/" + quote(target, safe=""), status_code=303)


@get("/sign-in", media_type=MediaType.HTML, include_in_schema=False)
async def sign_in_page(request: Request[Any, Any, Any]) -> Response[str]:
    return _page(request, "Sign in", pages.sign_in(_base(request), None))


@post("/sign-in", media_type=MediaType.HTML, include_in_schema=False, status_code=303)
async def sign_in(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    form = await request.form()
    given = str(form.get("token", ""))
    if state.token is None or not token_matches(given, state.token):
        return _page(request, "Sign in", pages.sign_in(_base(request), "That token is not "
                     "this server's: try again."), status=401)
    response: Response[Any] = Redirect(_base(request) + "/", status_code=303)
    response.set_cookie(COOKIE, session_of(given), path=_base(request) or "/", httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


@post("/sign-out", media_type=MediaType.HTML, include_in_schema=False, status_code=303)
async def sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
    try:
        await _form(request)
    except _Refused as e:
        return _page(request, "Sign out", tag("div", str(e), class_="error"), status=403)
    response: Response[Any] = Redirect(_base(request) + "/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path=_base(request) or "/")
    return response


@get("/static/inspector.css", media_type="text/css", include_in_schema=False)
async def css() -> str:
    return assets.CSS


@get("/static/inspector.js", media_type="text/javascript", include_in_schema=False)
async def js() -> str:
    return assets.JS


inspector = Router("/", route_handlers=[runs_page, inbox_page, answer, run_page, act,
                                        sign_in_page, sign_in, sign_out, css, js])
