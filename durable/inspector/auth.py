"""Who may use the server: a bearer token on the API, a sign-in cookie on the pages.

With ``DURABLE_API_TOKEN`` set, ``/v1`` and ``/schema`` need ``Authorization:
Bearer <token>``; the inspector's pages need the cookie its sign-in form sets
(HttpOnly, SameSite=Strict), whose value is derived from the token, never the
token itself (cookies ignore ports: another app on the same host receives it,
and must not receive a credential for the API). The cookie is also accepted on
the API's reads (GET), so the pages' scripts can follow a run's stream; writes
through the API always need the header. The pages' forms carry a CSRF token
(derived from the token, so every server sharing it accepts it); whatever the
token, a write whose ``Origin`` is another site is refused, and no page may be
framed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from litestar._parsers import parse_cookie_string

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


def _derived(token: str, purpose: bytes) -> str:
    return hmac.new(token.encode(), purpose, hashlib.sha256).hexdigest()


def session_of(token: str) -> str:
    """The sign-in cookie's value: proves the token was given, cannot be used as it."""
    return _derived(token, b"durable-inspector-session")


def csrf_of(state: Any) -> str:
    """The token the pages' forms carry (a page from another site cannot read it):
    derived from the API token, else from a secret of this server process."""
    return _derived(state.csrf_secret, b"durable-inspector-forms")


def csrf_secret(token: str | None) -> str:
    return token if token is not None else secrets.token_hex(32)


def _cookie(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"cookie")
    if not raw:
        return None
    return parse_cookie_string(raw.decode("latin-1")).get(COOKIE)


def signed_in(request: Any, token: str) -> bool:
    value = request.cookies.get(COOKIE)
    return value is not None and token_matches(value, session_of(token))


def same_origin() -> Any:
    """Middleware: a request that changes something (not GET, HEAD or OPTIONS) whose
    ``Origin`` names another site than the one it was sent to is refused (403). Browsers
    send ``Origin`` with such requests; other clients send none and are not affected."""
    body = json.dumps({"detail": "a request from another site may not change anything "
                                 "here"}).encode()

    def factory(app: Any) -> Any:
        async def checked(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
                headers = dict(scope["headers"])
                origin = headers.get(b"origin")
                hosts = {headers.get(b"host", b""), headers.get(b"x-forwarded-host", b"")}
                if origin is not None and origin.split(b"://", 1)[-1] not in hosts:
                    await send({"type": "http.response.start", "status": 403, "headers": [
                        (b"content-type", b"application/json")]})
                    await send({"type": "http.response.body", "body": body})
                    return
            await app(scope, receive, send)
        return checked
    return factory


def guard(token: str) -> Any:
    """Middleware: the API answers 401 without the bearer token (or, for a read, the
    sign-in cookie); a page without the cookie sends the browser to the sign-in page."""
    expected = f"Bearer {token}".encode()
    session = session_of(token)
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
            cookie_ok = cookie is not None and token_matches(cookie, session)
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
