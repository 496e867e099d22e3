"""Registering with a registrar at start-up, when the config names one (``[registry]``).

Only the registrar's own signed answer to this very request counts: anything else in the
inbox (a stranger's, a "no responders" status anyone can forge) is counted and ignored until
the timeout, as the person's agent does with vendors' answers (schemas/README.md, "Answers").

Refused (a name taken or confusable with a registered one, an unknown category, a revoked
vendor): the adapter stops with one line saying why, for an operator to fix. Pending (the
registrar waits for its operator) or unanswered (no registrar on the bus): it runs, logs a
warning, and agents that require registration drop its offers until it is registered.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import structlog
from nacl.signing import SigningKey
from nats.aio.client import Client
from nats.aio.msg import Msg

import schemas
from runtime import read_local_registrar

from ._config import VendorConfig

__all__ = ["RegistrationRefused", "register"]

log = structlog.get_logger("intentcast.vendor")


class RegistrationRefused(Exception):
    """The registrar said no, or cannot be found; the message says why, in one line."""


def _registrar_key(setting: str, url: str) -> str:
    if setting != "local":
        return setting
    local = read_local_registrar()
    if local is None or local.bus != url:
        raise RegistrationRefused(
            f'registry.registrar = "local", but no registrar serves {url} on this machine; '
            "start `intentcast-registry run --local` first, or name the registrar's key"
        )
    return local.key


async def register(
    nc: Client, identity: SigningKey, cfg: VendorConfig, url: str
) -> schemas.Verified[schemas.RegistryEntry] | None:
    """Ask the configured registrar to register this vendor; the entry if registered now."""
    if cfg.registry is None:
        return None
    registrar = _registrar_key(cfg.registry.registrar, url)
    now = datetime.now(UTC)
    request = schemas.make_registration(
        identity, registrar=registrar, name=cfg.name, categories=list(cfg.categories),
        regions=list(cfg.registry.regions), now=now,
    )  # fmt: skip
    opened = await _ask(nc, schemas.registry_subject(registrar), request, registrar)
    if opened is None:
        return None
    answer, entry = opened
    a = answer.msg
    if a.status == "refused":
        log.error("vendor.registration.refused", name=cfg.name, code=a.code, detail=a.detail)
        raise RegistrationRefused(
            f"the registrar refused the name {cfg.name!r}: {a.code}: {a.detail}"
        )
    if a.status == "pending" or entry is None:
        log.warning("vendor.registration.pending", name=cfg.name, detail=a.detail)
        return None
    log.info("vendor.registered", name=entry.msg.name, serial=entry.msg.serial, registrar=registrar)
    return entry


Opened = tuple[
    schemas.Verified[schemas.RegistrationAnswer], schemas.Verified[schemas.RegistryEntry] | None
]


async def _ask(nc: Client, subject: str, request: bytes, registrar: str) -> Opened | None:
    """The registrar's verified answer within 5 s, or None."""
    answer: asyncio.Future[Opened] = asyncio.get_running_loop().create_future()
    refused: Counter[str] = Counter()

    async def heard(msg: Msg) -> None:
        if answer.done() or not msg.data:  # an empty message is a status: a hint only
            return
        try:
            got = schemas.open_registration_answer(
                msg.data, registrar=registrar, request=request, now=datetime.now(UTC)
            )
        except schemas.ProtocolError as err:
            refused[err.code] += 1
            if refused[err.code] == 1:
                log.warning("vendor.registration.unverified", code=err.code, error=str(err))
            return
        if not answer.done():
            answer.set_result(got)

    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox, cb=heard)
    try:
        await nc.publish(subject, request, reply=inbox)
        async with asyncio.timeout(5):
            return await answer
    except TimeoutError:
        log.warning("vendor.registration.unanswered", registrar=registrar, refused=dict(refused))
        return None
    finally:
        await sub.unsubscribe()
