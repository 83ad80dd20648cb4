"""The dashboard's security model: who may act, CSRF tokens, the host
check and the response headers.

* Reading pages needs nothing: keep the dashboard on a trusted interface
  (it binds 127.0.0.1 by default).
* Every action is a POST that needs the dashboard token: a signed-in
  session (the token typed once into the sign-in form), a ``token`` form
  field, or an ``Authorization: Bearer <token>`` header; tokens are compared
  in constant time. Without a configured token, or in read-only mode, every
  action is refused.
* Every POST from a browser carries a CSRF token bound to the browser's
  session cookie (an HMAC under a per-process secret), and is refused when
  its ``Origin`` (or ``Sec-Fetch-Site``) says it came from another site.
* Requests whose ``Host`` is not allowed are refused (DNS rebinding).
* Responses carry a Content-Security-Policy without scripts, and
  ``X-Frame-Options: DENY``, ``Referrer-Policy: same-origin`` and
  ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__: list[str] = []

SESSION_COOKIE = "qtk_sid"
AUTH_COOKIE = "qtk_auth"
SESSION_TTL = 12 * 3600.0
_SID = re.compile(r"[A-Za-z0-9_\-]{32,64}")
_AUTH = re.compile(r"([0-9]{1,12})\.([0-9a-f]{64})")

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


class Guard:
    """Tokens, sessions and CSRF for one app (one random secret per app:
    sessions end when the process restarts)."""

    def __init__(self, token: str | None, *, read_only: bool) -> None:
        self._token = None if token is None else _digest(token)
        self._secret = secrets.token_bytes(32)
        self.read_only = read_only
        self.actions_enabled = token is not None and not read_only

    def _sign(self, *parts: str) -> str:
        message = "\x00".join(parts).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    # -- the token --------------------------------------------------------------

    def token_matches(self, candidate: str | None) -> bool:
        if self._token is None or not candidate:
            return False
        return hmac.compare_digest(_digest(candidate), self._token)

    def bearer(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None

    # -- sessions ----------------------------------------------------------------

    @staticmethod
    def session_id(request: Request) -> str | None:
        sid = request.cookies.get(SESSION_COOKIE)
        return sid if sid is not None and _SID.fullmatch(sid) else None

    @staticmethod
    def new_session_id() -> str:
        return secrets.token_urlsafe(32)

    def csrf_token(self, sid: str) -> str:
        return self._sign("csrf", sid)

    def csrf_ok(self, sid: str | None, value: str | None) -> bool:
        if sid is None or not value:
            return False
        return hmac.compare_digest(self.csrf_token(sid).encode(), value.encode("utf-8", "replace"))

    def auth_value(self, sid: str, now: float | None = None) -> str:
        issued = str(int(time.time() if now is None else now))
        return f"{issued}.{self._sign('auth', sid, issued)}"

    def signed_in(self, request: Request) -> bool:
        """The session was signed in with the token (and has not expired)."""
        if not self.actions_enabled:
            return False
        sid = self.session_id(request)
        match = _AUTH.fullmatch(request.cookies.get(AUTH_COOKIE, ""))
        if sid is None or match is None:
            return False
        issued, signature = match.groups()
        if time.time() - int(issued) > SESSION_TTL:
            return False
        return hmac.compare_digest(self._sign("auth", sid, issued), signature)

    @staticmethod
    def set_cookie(
        response: Response, request: Request, name: str, value: str, max_age: int | None
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    # -- where a POST comes from --------------------------------------------------

    @staticmethod
    def same_origin(request: Request) -> bool:
        """False when the browser says the request came from another site."""
        site = request.headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return False
        origin = request.headers.get("origin")
        if origin is None:
            return True  # not a browser, or an old one: the CSRF token decides
        host = request.headers.get("host", "")
        return origin in (f"http://{host}", f"https://{host}")


def _host_name(header: str) -> str:
    """The host of a Host header, without port (IPv6 brackets removed)."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header[1:end] if end > 0 else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class SecurityMiddleware:
    """Refuses requests for hosts not allowed; adds the security headers."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.allowed = {host.strip("[]").lower() for host in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.any_host:
            host = ""
            for name, value in scope.get("headers", []):
                if name == b"host":
                    host = value.decode("latin-1")
                    break
            if _host_name(host) not in self.allowed:
                response = Response(
                    "Host not allowed: start the dashboard with this host allowed.",
                    status_code=400,
                    media_type="text/plain",
                )
                await response(scope, receive, self._with_headers(send))
                return
        await self.app(scope, receive, self._with_headers(send))

    @staticmethod
    def _with_headers(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        return wrapped
