"""The person's app: a Starlette application the running agent serves on 127.0.0.1.

Security, in the order a request meets it:

1. **Host** (DNS rebinding): only ``127.0.0.1:<port>`` and ``localhost:<port>`` are
   answered; anything else is 421 and a ``app.refused`` log line. No CORS: no
   ``Access-Control-*`` header is ever sent, a preflight (OPTIONS) is 405, and a
   state-changing request whose ``Origin`` is not the app's own is 403.
2. **Who**: a browser's session (an HttpOnly, SameSite=Strict cookie made when the page is
   loaded, unlocked by the passphrase if the home has one), or the CLI's bearer token
   (``agent.token``, owner-only in the home).
3. **CSRF**: every POST from a session carries the session's own token in
   ``X-CSRF-Token`` (the page reads it from its ``<meta>``); the bearer token stands for it
   for the CLI, since no other site can make a browser send it.

The API (JSON in and out; errors are ``{"error": ...}`` with 400, 403, 404 or 409):
``GET /api/state``, ``GET /api/events`` (server-sent events: ``notice``),
``POST /api/intents``, ``/api/accept``, ``/api/rate``, ``/api/cancel``, ``/api/terms``,
``GET /api/export`` (no keys), ``POST /unlock``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

import schemas

from ._accepting import AcceptResult
from ._admission import NotAcceptable
from ._app_state import app_state
from ._daemon import AgentDaemon
from ._render import render_accept
from ._session import AcceptError
from ._store import UnknownReceipt
from ._terms_file import set_standing_terms

__all__ = ["LOCK_FILE", "build_app", "set_lock"]

log = structlog.get_logger("intentcast.app")
LOCK_FILE = "app.lock"  # the passphrase's Argon2id hash (libsodium's str format)
COOKIE = "ic_session"
SSE_KEEPALIVE = 15.0


def set_lock(home_path: Path, passphrase: str | None) -> None:
    """Lock the app behind ``passphrase`` (None: unlock it for good)."""
    f = home_path / LOCK_FILE
    if passphrase is None:
        f.unlink(missing_ok=True)
        return
    f.write_bytes(nacl.pwhash.argon2id.str(passphrase.encode()))
    f.chmod(0o600)


@dataclass
class _Session:
    csrf: str
    unlocked: bool


@dataclass
class _Sessions:
    by_id: dict[str, _Session] = field(default_factory=dict)

    def new(self, unlocked: bool) -> tuple[str, _Session]:
        sid = secrets.token_urlsafe(32)
        s = self.by_id[sid] = _Session(secrets.token_urlsafe(32), unlocked)
        if len(self.by_id) > 1000:  # a bound; the oldest go first
            del self.by_id[next(iter(self.by_id))]
        return sid, s


class _HostGuard:
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


class _Fail(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def build_app(daemon: AgentDaemon, token: str, port: Callable[[], int]) -> ASGIApp:
    """The app over a running ``daemon``; ``token`` is the CLI's bearer token."""
    sessions = _Sessions()
    home = daemon.home
    agent = daemon.agent

    def locked() -> bool:
        return (home.path / LOCK_FILE).exists()

    def session_of(request: Request) -> _Session | None:
        sid = request.cookies.get(COOKIE, "")
        return sessions.by_id.get(sid)

    def bearer_ok(request: Request) -> bool:
        got = request.headers.get("authorization", "")
        return hmac.compare_digest(got.encode(), f"Bearer {token}".encode())

    def check(request: Request, *, changes: bool) -> None:
        if bearer_ok(request):
            return
        s = session_of(request)
        if s is None:
            raise _Fail(403, "no session: open the app's page first")
        if not s.unlocked:
            raise _Fail(403, "locked: unlock the app with your passphrase")
        if changes and not hmac.compare_digest(
            request.headers.get("x-csrf-token", "").encode(), s.csrf.encode()
        ):
            raise _Fail(403, "missing or wrong CSRF token")

    Handler = Callable[[Request], Awaitable[Any]]

    def api(changes: bool) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
        def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                try:
                    check(request, changes=changes)
                    got = await fn(request)
                except _Fail as exc:
                    log.warning(
                        "app.refused", status=exc.status, path=request.url.path, error=str(exc)
                    )
                    return JSONResponse({"error": str(exc)}, status_code=exc.status)
                except (NotAcceptable, AcceptError, UnknownReceipt, ValueError) as exc:
                    log.info("app.request_failed", path=request.url.path, error=str(exc))
                    return JSONResponse({"error": str(exc)}, status_code=409)
                return got if isinstance(got, Response) else JSONResponse(got)

            return endpoint

        return wrap

    async def body(request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise _Fail(400, "expected a JSON object, got something else") from None
        if not isinstance(data, dict):
            raise _Fail(400, f"expected a JSON object, got {type(data).__name__}")
        return data

    def field_of(data: dict[str, Any], key: str, kind: type = str) -> Any:
        v = data.get(key)
        if not isinstance(v, kind) or (isinstance(v, bool) and kind is not bool):
            raise _Fail(400, f"{key}: expected {kind.__name__}, got {type(v).__name__}")
        return v

    async def index(request: Request) -> Response:
        page = resources.files("agent").joinpath("_app_static/index.html").read_text()
        s = session_of(request)
        sid = request.cookies.get(COOKIE, "")
        if s is None:
            sid, s = sessions.new(unlocked=not locked())
        page = page.replace("{{csrf}}", s.csrf).replace(
            "{{locked}}", "1" if not s.unlocked else "0"
        )
        resp = HTMLResponse(page, headers=_SECURITY_HEADERS)
        resp.set_cookie(COOKIE, sid, httponly=True, samesite="strict", path="/")
        return resp

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("app.js", "app.css"):
            return Response(status_code=404)
        text = resources.files("agent").joinpath(f"_app_static/{name}").read_text()
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return Response(text, media_type=kind, headers=_SECURITY_HEADERS)

    async def unlock(request: Request) -> Response:
        s = session_of(request)
        data = await body(request) if s is not None else {}
        if s is None or not hmac.compare_digest(
            request.headers.get("x-csrf-token", "").encode(), s.csrf.encode()
        ):
            return JSONResponse({"error": "no session or wrong CSRF token"}, status_code=403)
        try:
            nacl.pwhash.verify(
                (home.path / LOCK_FILE).read_bytes(), str(data.get("passphrase", "")).encode()
            )
        except (nacl.exceptions.InvalidkeyError, OSError):
            log.warning("app.unlock_failed")
            return JSONResponse({"error": "wrong passphrase"}, status_code=403)
        s.unlocked = True
        return JSONResponse({"unlocked": True})

    @api(changes=False)
    async def state(request: Request) -> dict[str, Any]:
        return app_state(agent, daemon.book, daemon.clock())

    @api(changes=False)
    async def events(request: Request) -> Response:
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=100)
        daemon.listeners.add(queue)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b": connected\n\n"
                while True:
                    try:
                        n = await asyncio.wait_for(queue.get(), SSE_KEEPALIVE)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    data = {"id": n.id, "kind": n.kind, "intent": n.intent_id, "body": n.body}
                    yield f"event: notice\nid: {n.id}\ndata: {json.dumps(data)}\n\n".encode()
            finally:
                daemon.listeners.discard(queue)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    @api(changes=True)
    async def cast(request: Request) -> dict[str, Any]:
        from ._app_cast import cast_from_form

        c = cast_from_form(agent, await body(request), daemon.clock())
        await daemon.watch(c)
        return {
            "intent": c.intent.id,
            "expires": c.expires.isoformat(),
            "reply_subject": c.intent.reply_subject,
        }

    @api(changes=True)
    async def accept(request: Request) -> dict[str, Any]:
        data = await body(request)
        pay = data.get("pay")
        res: AcceptResult = await agent.accept(
            field_of(data, "offer"), pay=pay if isinstance(pay, str) else None,
            another=bool(data.get("another")),
        )  # fmt: skip
        await daemon.tick()  # an intent with a receipt now is fulfilled: stop watching it
        return {
            "status": str(res.status),
            "text": render_accept(res, as_json=False),
            "json": render_accept(res, as_json=True),
        }

    @api(changes=True)
    async def rate(request: Request) -> dict[str, Any]:
        data = await body(request)
        r = agent.rate(
            field_of(data, "receipt"),
            field_of(data, "score", int),
            str(data.get("outcome", "delivered")),
        )
        return {"vendor_id": r.receipt.vendor_id, "trust": r.trust.describe()}

    @api(changes=True)
    async def cancel(request: Request) -> dict[str, Any]:
        data = await body(request)
        got = await agent.cancel(
            field_of(data, "receipt"), reason=str(data.get("reason", ""))[:200]
        )
        return {"cancelled": got.done, "status": got.status, "reason": got.reason}

    @api(changes=True)
    async def terms(request: Request) -> dict[str, Any]:
        data = await body(request)
        agreement = data.get("agreement")
        if agreement not in schemas.ROSTER:
            raise _Fail(
                400, f"agreement: expected one of {sorted(schemas.ROSTER)}, got {agreement!r}"
            )
        disclose = data.get("disclose")
        allowed = ("name", "address", "postcode", "country", "email", "phone")
        if not isinstance(disclose, list) or any(d not in allowed for d in disclose):
            raise _Fail(400, f"disclose: expected a list of {allowed}, got {disclose!r}")
        agent.config = set_standing_terms(home, agreement, list(disclose))
        return {"agreement": agent.config.agreement, "disclose": agent.config.disclose}

    @api(changes=False)
    async def export(request: Request) -> Response:
        data = agent.export(keys="none")
        return Response(
            data, media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="intentcast-export.json"'},
        )  # fmt: skip

    async def healthz(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/static/{name}", static),
            Route("/healthz", healthz),
            Route("/unlock", unlock, methods=["POST"]),
            Route("/api/state", state),
            Route("/api/events", events),
            Route("/api/intents", cast, methods=["POST"]),
            Route("/api/accept", accept, methods=["POST"]),
            Route("/api/rate", rate, methods=["POST"]),
            Route("/api/cancel", cancel, methods=["POST"]),
            Route("/api/terms", terms, methods=["POST"]),
            Route("/api/export", export),
        ]
    )
    return _HostGuard(app, port)


_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
