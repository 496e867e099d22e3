"""The auth callout service: the bus asks it about each connection and it answers with a
user JWT carrying that connection's permissions (NATS auth callout, server config mode)."""

from __future__ import annotations

import time
from typing import Any

import nkeys  # type: ignore[import-untyped]
import structlog
from nats.aio.msg import Msg

from runtime import Registry

from ._jwt import JwtError, decode, encode, verify_nonce_signature
from ._policy import Policy, grant_for

__all__ = ["AUTH_SUBJECT", "CalloutService"]

log = structlog.get_logger("intentcast.bus_auth")
AUTH_SUBJECT = "$SYS.REQ.USER.AUTH"


class CalloutService:
    def __init__(
        self,
        policy: Policy,
        issuer: nkeys.KeyPair,
        *,
        metrics: Registry | None = None,
        ttl_seconds: int = 24 * 3600,
    ) -> None:
        self.policy, self.issuer, self.ttl = policy, issuer, ttl_seconds
        m = metrics or Registry()
        self.granted = m.counter(
            "bus_auth_granted_total", "Connections granted, by role", ("role",)
        )
        self.denied = m.counter(
            "bus_auth_denied_total", "Connections refused, by reason", ("reason",)
        )

    def answer(self, request: bytes) -> bytes:
        """The signed authorization response for one authorization request."""
        try:
            claims = decode(request.decode())
        except (JwtError, UnicodeDecodeError) as exc:
            self.denied.inc(reason="bad_request")
            log.warning("bus_auth.bad_request", error=str(exc))
            return b""
        nats: dict[str, Any] = claims.get("nats", {})
        user_nkey = str(nats.get("user_nkey", ""))
        server = str(nats.get("server_id", {}).get("id", ""))
        opts = nats.get("connect_opts", {})
        nonce = str(nats.get("client_info", {}).get("nonce", ""))
        nkey, sig = str(opts.get("nkey", "")), str(opts.get("sig", ""))
        if not nkey or not sig or not nonce or not verify_nonce_signature(nkey, nonce, sig):
            return self._deny(user_nkey, server, "expected a connection signed with an nkey")
        grant = grant_for(self.policy, nkey, str(opts.get("auth_token", "")), nonce)
        if isinstance(grant, str):
            return self._deny(user_nkey, server, grant)
        name, perms = grant
        p = self.policy
        role = next(
            r
            for r, members in (("vendor", p.vendors), ("person", p.persons),
                               ("registrar", p.registrars), ("ops", p.ops))
            if nkey in members
        )  # fmt: skip
        user_jwt = encode(
            {
                "sub": user_nkey, "aud": self.policy.account, "name": name,
                "exp": int(time.time()) + self.ttl,
                "nats": {**perms, "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2},
            },
            self.issuer,
        )  # fmt: skip
        self.granted.inc(role=role)
        log.info("bus_auth.granted", role=role, name=name)
        return self._respond(user_nkey, server, {"jwt": user_jwt})

    def _deny(self, user_nkey: str, server: str, reason: str) -> bytes:
        self.denied.inc(reason=reason.split(":")[0][:40])
        log.warning("bus_auth.denied", reason=reason)
        return self._respond(user_nkey, server, {"error": reason})

    def _respond(self, user_nkey: str, server: str, body: dict[str, Any]) -> bytes:
        nats = {**body, "type": "authorization_response", "version": 2}
        return encode({"sub": user_nkey, "aud": server, "nats": nats}, self.issuer).encode()

    async def on_request(self, msg: Msg) -> None:
        reply = self.answer(msg.data)
        if reply:
            await msg.respond(reply)
