"""The inspector's pages, rendered on the server from what the engine returns."""

from __future__ import annotations

import itertools
from typing import Any

from durable.inspector.html import (
    Html,
    join,
    link,
    payload,
    run_link,
    run_path,
    status,
    tag,
    void,
    when,
)
from durable.paths import path_key
from durable.results import Audit, Event, Page, RunInfo

STATUSES = ("pending", "running", "suspended", "paused", "succeeded", "failed", "cancelled")
TERMINAL = ("succeeded", "failed", "cancelled")


def hidden(csrf: str, **values: Any) -> Html:
    fields = [void("input", type="hidden", name="csrf", value=csrf)]
    fields += [void("input", type="hidden", name=k, value=v) for k, v in values.items()
               if v is not None]
    return join(fields)


def sign_in(base: str, error: str | None) -> Html:
    return join([
        tag("h1", "Sign in"),
        tag("p", "This server needs its API token (DURABLE_API_TOKEN).", class_="note"),
        tag("div", error, class_="error") if error else Html(""),
        tag("form", tag("label", "Token ", void("input", type="password", name="token",
                                                autofocus=True, required=True)),
            " ", tag("button", "Sign in"), method="post", action=base + "/sign-in",
            class_="card"),
    ])


def runs(base: str, result: Page, query: dict[str, Any], workflows: list[str]) -> Html:
    def field(label: str, name: str, control: Html | None = None) -> Html:
        return tag("label", label, control or void("input", name=name,
                                                    value=query.get(name) or None))

    options = [tag("option", "any", value="")] + [
        tag("option", s, value=s, selected=query.get("status") == s) for s in STATUSES]
    wf = [tag("option", "any", value="")] + [
        tag("option", w, value=w, selected=query.get("workflow") == w) for w in workflows]
    filters = tag(
        "form",
        field("Status", "status", tag("select", join(options), name="status")),
        field("Workflow", "workflow", tag("select", join(wf), name="workflow")),
        field("Resource", "resource_id"), field("Thread", "thread_id"),
        field("From (UTC)", "from_date", void("input", type="datetime-local", name="from_date",
                                              value=query.get("from_date") or None)),
        field("To (UTC)", "to_date", void("input", type="datetime-local", name="to_date",
                                          value=query.get("to_date") or None)),
        tag("label", "Blocked", tag("select", join([
            tag("option", "any", value=""),
            tag("option", "blocked only", value="true", selected=query.get("blocked") == "true"),
            tag("option", "not blocked", value="false",
                selected=query.get("blocked") == "false")]), name="blocked")),
        tag("button", "Filter"), method="get", action=base + "/", class_="filters")
    rows = [tag("tr", tag("td", run_link(base, r.run_id, r.run_id[:13] + "…")),
                tag("td", r.workflow), tag("td", status(r.status),
                                            " blocked" if r.blocked else ""),
                tag("td", r.resource_id or ""), tag("td", when(r.created_at)),
                tag("td", lineage(base, r)))
            for r in result.runs]
    page_no = int(query.get("page") or 0)
    pager = tag("p", *(link(base, "/", "← newer", **{**query, "page": page_no - 1})
                       for _ in [0] if page_no > 0),
                f" page {page_no + 1} of {max(1, -(-result.total // 50))} "
                f"({result.total:,} runs) ",
                *(link(base, "/", "older →", **{**query, "page": page_no + 1})
                  for _ in [0] if (page_no + 1) * 50 < result.total), class_="pager")
    table = tag("table", tag("thead", tag("tr", *(tag("th", h) for h in (
        "run", "workflow", "status", "resource", "created (UTC)", "from")))),
        tag("tbody", join(rows)), data_refresh="3")
    return join([tag("h1", "Runs"), filters, table, pager])


def lineage(base: str, r: RunInfo) -> Html:
    parts: list[Html] = []
    if r.forked_from:
        parts.append(join(["fork of ", run_link(base, r.forked_from, r.forked_from[:8]),
                           f" at event {r.fork_position}"]))
    if r.parent_run_id:
        parts.append(join(["child of ", run_link(base, r.parent_run_id,
                                             r.parent_run_id[:8])]))
    if r.continued_from:
        parts.append(join(["continues ", run_link(base, r.continued_from,
                                              r.continued_from[:8])]))
    return join(parts)


def inbox(base: str, result: Page, csrf: str, errors: dict[tuple[str, str], str],
          sent: dict[tuple[str, str], str]) -> Html:
    cards: list[Html] = []
    for r in result.runs:
        for s in r.suspensions:
            key = path_key(s.path)
            error = errors.get((r.run_id, key))
            if s.kind == "approval":
                action = join([
                    tag("form", hidden(csrf, run_id=r.run_id, step=key, action="approve"),
                        tag("button", "Approve"), method="post", action=base + "/inbox/answer",
                        class_="inline"), " ",
                    tag("form", hidden(csrf, run_id=r.run_id, step=key, action="decline"),
                        void("input", name="reason", placeholder="reason (optional)"), " ",
                        tag("button", "Decline", class_="danger"), method="post",
                        action=base + "/inbox/answer", class_="inline")])
            elif s.kind == "input":
                action = tag("form", hidden(csrf, run_id=r.run_id, step=key, action="resume"),
                             tag("textarea", sent.get((r.run_id, key), "{}"), name="data",
                                 aria_label=f"resume data for {key}"),
                             tag("button", "Resume"), method="post",
                             action=base + "/inbox/answer")
            else:
                action = tag("span", f"waits for {'an event' if s.kind == 'event' else 'a timer'}",
                             class_="note")
            cards.append(tag(
                "div",
                tag("div", run_link(base, r.run_id, r.run_id), " · ", r.workflow,
                    " · step ", tag("code", key), " · ", s.kind, " · since ",
                    when(s.suspended_at), " UTC"),
                tag("div", payload(s.payload), class_="payload"),
                tag("div", error, class_="error", role="alert") if error else Html(""),
                action, class_="card inbox-item", data_run=r.run_id, data_step=key))
    if not cards:
        cards.append(tag("p", "Nothing is waiting.", class_="note"))
    return join([tag("h1", f"Inbox ({result.total} waiting run{'s' if result.total != 1 else ''})"),
                 tag("div", join(cards), id="inbox")])


def audit_fact(base: str, run_id: str, audit: Audit | None, **where: Any) -> Html:
    """The audit's verdict; not yet made (it reads the whole chain, so it would make
    the page's cost grow with the run): a link that makes it, which the page's script
    follows by itself (the same words, from ``GET /v1/runs/{id}/audit``)."""
    if audit is None:
        return tag("span", link(base, run_path(run_id), "verify the chain", audit="1",
                                **where),
                   id="audit", data_src=base + "/v1" + run_path(run_id) + "/audit")
    return tag("span", ("intact" + (f" ({audit.redacted} payloads redacted)"
                                    if audit.redacted else "")) if audit.ok
               else "ALTERED" + (f" at event {audit.first_bad}" if audit.first_bad else "")
               + f": {audit.reason}", id="audit")


def run(base: str, info: RunInfo, events: list[Event], after: int, per_page: int,
        at: RunInfo | None, audit: Audit | None, csrf: str, error: str | None,
        related: dict[str, list[str]] | None = None) -> Html:
    facts = [("status", join([status(info.status, ident="status"),
                              f" blocked: {info.blocked}" if info.blocked else ""])),
             ("workflow", f"{info.workflow}" + (f" v{info.version}" if info.version else "")),
             ("events", tag("span", str(info.position), id="position")),
             ("created", when(info.created_at) + " UTC"),
             ("resource", info.resource_id or "—"), ("thread", info.thread_id or "—"),
             ("lineage", lineage(base, info) or "—"),
             ("audit", audit_fact(base, info.run_id, audit, after=after,
                                  at=at.position if at is not None else None))]
    for kind, ids in (related or {}).items():
        if ids:
            facts.append((kind, join([join([run_link(base, i, i[:8]), " "])
                                      for i in ids[:50]] + ([f"and {len(ids) - 50} more"]
                                                           if len(ids) > 50 else []))))
    if info.error:
        facts.append(("error", info.error))
    if info.status == "succeeded":
        facts.append(("output", payload(info.output)))
    for s in info.suspensions:
        facts.append((f"waiting at {path_key(s.path)}", join([s.kind, " ", payload(s.payload)])))
    grid = tag("div", join([join([tag("div", k, class_="note"), tag("div", v)])
                            for k, v in facts]), class_="grid card")
    buttons = tag("div", *[
        tag("form", hidden(csrf, action=a), tag("button", label, class_=cls),
            method="post", action=base + run_path(info.run_id) + "/act", class_="inline")
        for a, label, cls, show in (
            ("pause", "Pause", "secondary", info.status in ("running", "pending")),
            ("continue", "Resume", "secondary", info.status == "paused"),
            ("cancel", "Cancel", "danger", info.status not in TERMINAL))
        if show], " ", link(base, "/v1" + run_path(info.run_id) + "/export",
                            "Export (JSON lines)"), class_="actions")
    return join([
        tag("h1", "Run ", tag("code", info.run_id)),
        tag("div", error, class_="error", role="alert") if error else Html(""),
        grid, buttons, state_panel(base, info, at, csrf),
        timeline(base, info, events, after, per_page, at.position if at else None)])


def state_panel(base: str, info: RunInfo, at: RunInfo | None, csrf: str) -> Html:
    if info.position < 1:
        return Html("")
    position = at.position if at is not None else info.position
    slider = tag("form", tag("label", "Event ",
                             tag("strong", str(position), id="at-value"), " ",
                             void("input", type="range", id="at-slider", name="at", min="1",
                                  max=str(info.position), value=str(position))),
                 " ", tag("button", "Show", class_="secondary"), method="get",
                 action=base + run_path(info.run_id))
    if at is None:
        return tag("div", tag("h2", "State at an event"), slider,
                   tag("p", "Pick an event in the timeline (or move the slider) to see the "
                       "run as it stood then, and to fork it there.", class_="note"),
                   class_="card")
    shown = tag("div", join([
        tag("div", "status", class_="note"), tag("div", status(at.status)),
        tag("div", "state", class_="note"), tag("div", payload(at.state), id="state-at"),
        tag("div", "waiting at", class_="note"),
        tag("div", ", ".join(path_key(p) for p in at.suspended) or "—"),
        tag("div", "output", class_="note"), tag("div", payload(at.output))]), class_="grid")
    fork = "" if at.position >= info.position and info.status in TERMINAL else tag(
        "form", hidden(csrf, action="fork", at=str(at.position)),
        tag("label", "What-if results (JSON object: step path → result), optional",
            tag("textarea", "", name="results", placeholder='{"charge": {"approved": false}}')),
        tag("button", f"Fork here (after event {at.position})"), method="post",
        action=base + run_path(info.run_id) + "/act")
    return tag("div", tag("h2", f"State after event {at.position}"), slider, shown, fork,
               class_="card", id="state-panel")


def timeline(base: str, info: RunInfo, events: list[Event], after: int, per_page: int,
             selected: int | None) -> Html:
    gaps = [0.0] + [max(0.0, (b.timestamp - a.timestamp).total_seconds())
                    for a, b in itertools.pairwise(events)]
    widest = max(gaps) or 1.0
    rows = []
    for e, gap in zip(events, gaps, strict=True):
        step = e.data.get("path")
        what = path_key(step) if isinstance(step, list) else ""
        rows.append(tag(
            "tr",
            tag("td", link(base, run_path(info.run_id), str(e.position), at=e.position,
                           after=after or None)),
            tag("td", e.type, " ", tag("code", what) if what else ""),
            tag("td", e.timestamp.strftime("%H:%M:%S.%f")[:-3]),
            tag("td", tag("meter", f"{gap * 1000:.1f} ms", value=f"{gap:.6f}",
                          max=f"{widest:.6f}", class_="bar",
                          title=f"{gap * 1000:.1f} ms since the previous event"),
                f" {gap * 1000:.1f} ms", class_="note"),
            tag("td", payload({k: v for k, v in e.data.items() if k != "path"})),
            id=f"event-{e.position}", class_="selected" if e.position == selected else None))
    nav = tag("p", *(link(base, run_path(info.run_id), "← earlier",
                          after=max(0, after - per_page) or None) for _ in [0] if after > 0),
              f" events {after + 1} to {after + len(events)} of {info.position} ",
              *(link(base, run_path(info.run_id), "later →", after=after + per_page)
                for _ in [0] if after + len(events) < info.position), class_="pager")
    return join([tag("h2", "Timeline"), nav, tag("table", tag("thead", tag("tr", *(
        tag("th", h) for h in ("#", "event", "time (UTC)", "since previous", "data")))),
        tag("tbody", join(rows), id="timeline-body")), nav])
