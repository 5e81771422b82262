"""``python -m durable.reference``: the Python API's reference page
(``docs/reference/python.md``), written from the public names' own signatures and
docstrings, so the page and the code cannot disagree (a test checks the committed page)."""

from __future__ import annotations

import inspect
from typing import Any

import durable


def _doc(obj: Any) -> str:
    text = inspect.getdoc(obj) or ""
    return text.strip()


def _signature(obj: Any) -> str:
    try:
        return str(inspect.signature(obj)).replace("'", "")
    except (TypeError, ValueError):
        return "(...)"


def _members(cls: type) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    # The class's own members, then those of its durable bases (Engine's read calls).
    own = [c for c in cls.__mro__ if c.__module__.startswith("durable")]
    for name, member in [item for c in own for item in vars(c).items()]:
        if name.startswith("_") and not (name == "__init__" and cls is durable.Engine):
            continue  # (other classes are made by the engine, not by you)
        if isinstance(member, property | classmethod | staticmethod) or inspect.isfunction(
                member):
            out.append((name, member))
    return out


def page() -> str:
    lines = ["# Python API reference", "",
             "Every public name of `durable` (`durable.__all__`), from its own signature "
             "and docstring (regenerate with `python -m durable.reference > "
             "docs/reference/python.md`). The concepts behind them are in "
             "[concepts.md](../concepts.md) and [composition.md](../composition.md).", ""]
    for name in sorted(durable.__all__):
        obj = getattr(durable, name)
        if inspect.isclass(obj):
            kind = "exception" if issubclass(obj, BaseException) else "class"
            fields = getattr(obj, "__struct_fields__", None)
            head = f"## `{name}` ({kind})"
            lines += [head, ""]
            if fields:
                lines += [f"Fields: {', '.join(f'`{f}`' for f in fields)}.", ""]
            if _doc(obj):
                lines += [_doc(obj), ""]
            if kind == "exception":
                continue
            for member_name, member in _members(obj):
                if isinstance(member, property):
                    lines += [f"### `{name}.{member_name}` (property)", ""]
                    doc = _doc(member.fget)
                else:
                    fn = member.__func__ if isinstance(member, classmethod | staticmethod) \
                        else member
                    prefix = "async " if inspect.iscoroutinefunction(fn) else ""
                    lines += [f"### `{prefix}{name}.{member_name}{_signature(fn)}`", ""]
                    doc = _doc(fn)
                if doc:
                    lines += [doc, ""]
        else:
            prefix = "async " if inspect.iscoroutinefunction(obj) else ""
            lines += [f"## `{prefix}{name}{_signature(obj)}`", "", _doc(obj), ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(page(), end="")
