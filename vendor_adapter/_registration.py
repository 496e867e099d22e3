"""Registering with a registrar at start-up, when the config names one (``[registry]``).

Refused (a name taken or confusable with a registered one, an unknown category, a revoked
vendor): the adapter stops with one line saying why, for an operator to fix. Pending (the
registrar waits for its operator) or unanswered (no registrar on the bus): it runs, logs a
warning, and agents that require registration drop its offers until it is registered.
"""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from nacl.signing import SigningKey
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

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
    try:
        reply = await nc.request(schemas.registry_subject(registrar), request, timeout=5)
    except (NatsTimeout, NoRespondersError) as exc:
        log.warning("vendor.registration.unanswered", registrar=registrar, error=type(exc).__name__)
        return None
    try:
        answer, entry = schemas.open_registration_answer(
            reply.data, registrar=registrar, request=request, now=datetime.now(UTC)
        )
    except schemas.ProtocolError as err:
        log.warning("vendor.registration.unverified", code=err.code, error=str(err))
        raise RegistrationRefused(f"the registrar's answer did not verify: {err}") from None
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
