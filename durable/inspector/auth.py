"""Who may use the server: a bearer token on the API, a sign-in cookie on the pages.

With ``DURABLE_API_TOKEN`` set, ``/v1`` and ``/schema`` need ``Authorization:
Bearer <token>``; the inspector's pages need the cookie its sign-in form sets
(HttpOnly, SameSite=Strict: never sent with another site's request), and the
cookie is also accepted on the API's reads (GET), so the pages' scripts can
follow a run's stream. Writes through the API always need the header; the
pages' own forms carry a CSRF token whether or not a token is set.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from http.cookies import SimpleCookie
from typing import Any

COOKIE = "durable_token"
OPEN = ("/sign-in", "/static/")  # what the sign-in page itself needs


def prefix_of(scope: Any) -> str:
    """Where the app is mounted in a host's application ("" at the root): the ASGI
    ``root_path``, else what the raw path has before the path the app was given."""
    root = str(scope.get("root_path") or "").rstrip("/")
    if root:
        return root
    raw = scope.get("raw_path")
    path = str(scope.get("path", ""))
    if isinstance(raw, bytes):
        full = raw.decode("latin-1").split("?", 1)[0]
        if path and full.endswith(path) and len(full) > len(path):
            return full[:-len(path)].rstrip("/")
    return ""


def token_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def csrf_of(state: Any) -> str:
    """The token the pages' forms carry: derived from a secret of this server process
    (a page from another site cannot read it)."""
    secret: bytes = state.csrf_secret
    return hmac.new(secret, b"durable-inspector-forms", hashlib.sha256).hexdigest()


def new_secret() -> bytes:
    return secrets.token_bytes(32)


def _cookie(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except Exception:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


def signed_in(request: Any, token: str) -> bool:
    value = request.cookies.get(COOKIE)
    return value is not None and token_matches(value, token)


def guard(token: str) -> Any:
    """Middleware: the API answers 401 without the bearer token (or, for a read, the
    sign-in cookie); a page without the cookie sends the browser to the sign-in page."""
    expected = f"Bearer {token}".encode()
    body = json.dumps({"detail": "this server needs Authorization: Bearer <token> "
                                 "(the value of its DURABLE_API_TOKEN)"}).encode()

    def factory(app: Any) -> Any:
        async def guarded(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            root = prefix_of(scope)
            path = str(scope["path"])
            if root and path.startswith(root + "/"):
                path = path[len(root):] or "/"
            headers = dict(scope["headers"])
            api = path.startswith(("/v1/", "/schema")) or path == "/v1"
            if hmac.compare_digest(headers.get(b"authorization", b""), expected):
                await app(scope, receive, send)
                return
            cookie = _cookie(headers)
            cookie_ok = cookie is not None and token_matches(cookie, token)
            if (not api and (cookie_ok or path.startswith(OPEN))) or (
                    api and cookie_ok and scope["method"] in ("GET", "HEAD")):
                await app(scope, receive, send)
                return
            if api:
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
            await send({"type": "http.response.start", "status": 303, "headers": [
                (b"location", (root + "/sign-in").encode()),
                (b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"sign in first"})
        return guarded
    return factory
