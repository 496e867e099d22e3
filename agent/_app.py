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
``POST /api/intents``, ``/api/stop`` (stop watching), ``/api/accept``, ``/api/rate``, ``/api/cancel``, ``/api/terms``,
``/api/profile``, ``/api/forget``, ``/api/delivered`` (``_app_aftercare``),
``GET /api/export`` (no keys), ``POST /unlock``; ``GET /plain`` is the history and receipts
as a page with no script (``_web``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any

import structlog
from nats.errors import Error as NatsError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

import schemas

from ._accepting import AcceptResult
from ._admission import NotAcceptable
from ._app_aftercare import aftercare_endpoints
from ._app_guard import COOKIE, Gate, GuardError, HostGuard
from ._app_state import app_state
from ._daemon import AgentDaemon
from ._home import HomeError
from ._render import render_accept
from ._screen import shown
from ._session import AcceptError
from ._store import UnknownReceipt
from ._terms_file import set_standing_terms
from ._web import page as web_page

__all__ = ["build_app"]

log = structlog.get_logger("intentcast.app")
SSE_KEEPALIVE = 15.0


def build_app(daemon: AgentDaemon, token: str, port: Callable[[], int]) -> ASGIApp:
    """The app over a running ``daemon``; ``token`` is the CLI's bearer token."""
    gate = Gate(daemon.home.path, token)
    agent = daemon.agent

    Handler = Callable[[Request], Awaitable[Any]]

    def api(changes: bool) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
        def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                try:
                    gate.check(request, changes=changes)
                    got = await fn(request)
                except GuardError as exc:
                    log.warning(
                        "app.refused", status=exc.status, path=request.url.path, error=str(exc)
                    )
                    return JSONResponse({"error": str(exc)}, status_code=exc.status)
                except (NotAcceptable, AcceptError, UnknownReceipt, ValueError, HomeError) as exc:
                    log.info("app.request_failed", path=request.url.path, error=str(exc))
                    return JSONResponse({"error": str(exc)}, status_code=409)
                except (NatsError, TimeoutError) as exc:  # the bus, not the request
                    log.warning("app.bus_failed", path=request.url.path, error=repr(exc))
                    why = f"the bus did not do it ({type(exc).__name__}); watched intents need JetStream"
                    return JSONResponse({"error": why}, status_code=503)
                return got if isinstance(got, Response) else JSONResponse(got)

            return endpoint

        return wrap

    async def body(request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body())
        except ValueError:
            raise GuardError(400, "expected a JSON object, got something else") from None
        if not isinstance(data, dict):
            raise GuardError(400, f"expected a JSON object, got {type(data).__name__}")
        return data

    def field_of(data: dict[str, Any], key: str, kind: type = str) -> Any:
        v = data.get(key)
        if not isinstance(v, kind) or (isinstance(v, bool) and kind is not bool):
            raise GuardError(400, f"{key}: expected {kind.__name__}, got {type(v).__name__}")
        return v

    async def index(request: Request) -> Response:
        page = resources.files("agent").joinpath("_app_static/index.html").read_text()
        s, sid = gate.session_of(request), request.cookies.get(COOKIE, "")
        if s is None:
            sid, s = gate.sessions.new(unlocked=not gate.locked())
        page = page.replace("{{csrf}}", s.csrf).replace("{{locked}}", "0" if s.unlocked else "1")
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
        try:
            data = await body(request)
            gate.unlock(request, str(data.get("passphrase", "")))
        except GuardError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
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
    async def stop_watching(request: Request) -> dict[str, Any]:
        intent_id = field_of(await body(request), "intent")
        w = daemon.watches().watch(intent_id)
        if w is None or w.state not in ("casting", "open"):
            raise GuardError(404, f"expected an open watched intent, got {shown(intent_id, 40)!r}")
        await daemon.close_watch(intent_id, "cancelled")
        return {"intent": intent_id, "state": "cancelled"}

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
            raise GuardError(
                400, f"agreement: expected one of {sorted(schemas.ROSTER)}, got {agreement!r}"
            )
        disclose = data.get("disclose")
        allowed = ("name", "address", "postcode", "country", "email", "phone")
        if not isinstance(disclose, list) or any(d not in allowed for d in disclose):
            raise GuardError(400, f"disclose: expected a list of {allowed}, got {disclose!r}")
        agent.config = set_standing_terms(daemon.home, agreement, list(disclose))
        return {"agreement": agent.config.agreement, "disclose": agent.config.disclose}

    @api(changes=False)
    async def export(request: Request) -> Response:
        data = agent.export(keys="none")
        return Response(
            data, media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="intentcast-export.json"'},
        )  # fmt: skip

    @api(changes=False)
    async def plain(request: Request) -> Response:
        """The same history and receipts as a page without script (``_web``)."""
        return HTMLResponse(web_page(agent), headers=_SECURITY_HEADERS)

    async def healthz(request: Request) -> Response:
        # One-shot probes: closed after the answer rather than kept alive for another.
        return Response("ok\n", media_type="text/plain", headers={"Connection": "close"})

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/static/{name}", static),
            Route("/healthz", healthz),
            Route("/plain", plain),
            Route("/unlock", unlock, methods=["POST"]),
            Route("/api/state", state),
            Route("/api/events", events),
            Route("/api/intents", cast, methods=["POST"]),
            Route("/api/accept", accept, methods=["POST"]),
            Route("/api/stop", stop_watching, methods=["POST"]),
            Route("/api/rate", rate, methods=["POST"]),
            Route("/api/cancel", cancel, methods=["POST"]),
            Route("/api/terms", terms, methods=["POST"]),
            Route("/api/export", export),
        ]
        + [
            Route(path, api(changes=True)(fn), methods=["POST"])
            for path, fn in aftercare_endpoints(daemon, body, field_of).items()
        ]
    )
    return HostGuard(app, port)


_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
