"""Building the inspector's HTML: every value escaped, payloads as folded JSON."""

from __future__ import annotations

import html
import json
import shlex
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from durable.paths import addressable

FOLD_AT = 240  # characters of JSON past which a payload is folded


class Html(str):
    """Markup that is already safe (built here from escaped parts)."""


def esc(value: Any) -> Html:
    if isinstance(value, Html):
        return value
    return Html(html.escape("" if value is None else str(value), quote=True))


def join(parts: list[Html] | list[str]) -> Html:
    return Html("".join(p if isinstance(p, Html) else esc(p) for p in parts))


def tag(element: str, /, *children: Any, **attrs: Any) -> Html:
    """``<name attrs>children</name>``; attribute names ``class_`` -> ``class``."""
    rendered = "".join(
        f' {k.rstrip("_").replace("_", "-")}="{esc(v)}"' if v is not True
        else f' {k.rstrip("_").replace("_", "-")}'
        for k, v in attrs.items() if v is not None and v is not False)
    inner = "".join(c if isinstance(c, Html) else esc(c) for c in children)
    return Html(f"<{element}{rendered}>{inner}</{element}>")


def void(element: str, /, **attrs: Any) -> Html:
    rendered = "".join(f' {k.rstrip("_").replace("_", "-")}="{esc(v)}"'
                       for k, v in attrs.items() if v is not None)
    return Html(f"<{element}{rendered}>")


def to_json(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=False, default=str)


def payload(value: Any) -> Html:
    """A payload as escaped JSON; folded (``<details>``) when it is long."""
    if value is None:
        return tag("span", "—", class_="note")
    short = to_json(value)
    if len(short) <= FOLD_AT:
        return tag("code", short)
    return tag("details", tag("summary", f"{short[:80]}… ({len(short):,} characters)"),
               tag("pre", to_json(value, indent=2)))


def status(value: str, *, ident: str | None = None) -> Html:
    return tag("span", value, class_=f"status s-{value}", id=ident)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "—"


def link(base: str, path: str, text: Any, **query: Any) -> Html:
    q = {k: v for k, v in query.items() if v not in (None, "", False)}
    href = base + path + (f"?{urlencode(q)}" if q else "")
    return tag("a", text, href=href)


def run_path(run_id: str) -> str:
    return "/runs/" + quote(run_id, safe="")


def run_link(base: str, run_id: str, text: Any) -> Html:
    """A link to the run's page; plain text for a run whose id no URL can address (a
    ``/``, which servers decode before routing, or a dot segment): the CLI reaches it."""
    if not addressable(run_id):
        return tag("span", text, title="no page: no URL can hold this id; use "
                   f"durable runs show {shlex.quote(run_id)}", class_="unreachable")
    return link(base, run_path(run_id), text)


def page(title: str, body: Html, *, base: str, signed_in: bool, csrf: str,
         data: dict[str, Any] | None = None) -> str:
    """A whole page: the top bar, ``body``, the stylesheet and the script."""
    nav = join([link(base, "/", "Runs"), link(base, "/inbox", "Inbox")])
    out = tag("form", void("input", type="hidden", name="csrf", value=csrf),
              tag("button", "Sign out", class_="secondary"),
              method="post", action=base + "/sign-out", class_="inline") if signed_in else ""
    attrs = {"data_base": base, **{f"data_{k}": v for k, v in (data or {}).items()}}
    return "<!doctype html>" + tag(
        "html",
        tag("head", void("meta", charset="utf-8"),
            void("meta", name="viewport", content="width=device-width, initial-scale=1"),
            tag("title", f"{title} · durable"),
            void("link", rel="stylesheet", href=base + "/static/inspector.css")),
        tag("body",
            tag("header", tag("span", "durable", class_="brand"), tag("nav", nav), out,
                class_="top"),
            tag("main", body),
            tag("script", src=base + "/static/inspector.js", defer=True),
            **attrs),
        lang="en")
