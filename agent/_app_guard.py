"""The app's guards (see ``_app``'s docstring for the order they apply in): the Host
check and the refusal of cross-origin requests, as ASGI middleware; the sessions with their
CSRF tokens and lock state; the CLI's bearer token; the passphrase lock."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nacl.exceptions
import nacl.pwhash
import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "COOKIE",
    "LOCK_FILE",
    "Gate",
    "GuardError",
    "HostGuard",
    "Session",
    "Sessions",
    "set_lock",
]

log = structlog.get_logger("intentcast.app")
LOCK_FILE = "app.lock"  # the passphrase's Argon2id hash (libsodium's str format)
COOKIE = "ic_session"


class GuardError(Exception):
    """A request refused: ``status`` and why, for the person (no secret in it)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def set_lock(home_path: Path, passphrase: str | None) -> None:
    """Lock the app behind ``passphrase`` (None: unlock it for good)."""
    f = home_path / LOCK_FILE
    if passphrase is None:
        f.unlink(missing_ok=True)
        return
    f.write_bytes(nacl.pwhash.argon2id.str(passphrase.encode()))
    f.chmod(0o600)


@dataclass
class Session:
    csrf: str
    unlocked: bool


@dataclass
class Sessions:
    by_id: dict[str, Session] = field(default_factory=dict)

    def new(self, unlocked: bool) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        s = self.by_id[sid] = Session(secrets.token_urlsafe(32), unlocked)
        if len(self.by_id) > 1000:  # a bound; the oldest go first
            del self.by_id[next(iter(self.by_id))]
        return sid, s


class HostGuard:
    """Refuse any request not addressed to this loopback address and port (see module)."""

    def __init__(self, app: ASGIApp, port: Callable[[], int]) -> None:
        self.app, self.port = app, port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        p = self.port()
        allowed = {f"127.0.0.1:{p}", f"localhost:{p}"}
        host = headers.get("host", "")
        refusal: tuple[int, str] | None = None
        if scope["path"] == "/healthz" and scope["method"] == "GET":
            refusal = None  # says "ok" and nothing else: for health checks, whatever their Host
        elif host not in allowed:
            refusal = (421, "this app answers only requests for its own address")
        elif scope["method"] == "OPTIONS":
            refusal = (405, "no cross-origin requests")
        elif scope["method"] not in ("GET", "HEAD"):
            origin = headers.get("origin")
            if origin is not None and origin not in {f"http://{a}" for a in allowed}:
                refusal = (403, "no cross-origin requests")
        if refusal is not None:
            log.warning("app.refused", status=refusal[0], host=host[:100], method=scope["method"])
            await JSONResponse({"error": refusal[1]}, status_code=refusal[0])(scope, receive, send)
            return
        await self.app(scope, receive, send)


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class Gate:
    """Who may do what: ``check`` raises :class:`GuardError` unless the request carries the
    CLI's bearer token, or an unlocked session (and, with ``changes``, its CSRF token)."""

    def __init__(self, home_path: Path, token: str) -> None:
        self.home_path, self.token = home_path, token
        self.sessions = Sessions()

    def locked(self) -> bool:
        return (self.home_path / LOCK_FILE).exists()

    def session_of(self, request: Request) -> Session | None:
        return self.sessions.by_id.get(request.cookies.get(COOKIE, ""))

    def check(self, request: Request, *, changes: bool) -> None:
        if same(request.headers.get("authorization", ""), f"Bearer {self.token}"):
            return
        s = self.session_of(request)
        if s is None:
            raise GuardError(403, "no session: open the app's page first")
        if not s.unlocked:
            raise GuardError(403, "locked: unlock the app with your passphrase")
        if changes and not same(request.headers.get("x-csrf-token", ""), s.csrf):
            raise GuardError(403, "missing or wrong CSRF token")

    def unlock(self, request: Request, passphrase: str) -> None:
        s = self.session_of(request)
        if s is None or not same(request.headers.get("x-csrf-token", ""), s.csrf):
            raise GuardError(403, "no session or wrong CSRF token")
        try:
            nacl.pwhash.verify((self.home_path / LOCK_FILE).read_bytes(), passphrase.encode())
        except (nacl.exceptions.InvalidkeyError, OSError):
            log.warning("app.unlock_failed")
            raise GuardError(403, "wrong passphrase") from None
        s.unlocked = True
