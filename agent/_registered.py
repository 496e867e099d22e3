"""Which vendors a registrar the person trusts has registered, and by what name.

A profile's name is the vendor's own claim; a registry entry is a registrar's word. When the
person trusts a registrar (``registrars`` in the config, or the local one serving this
machine's bus), the ranker asks :class:`RegisteredTrust` about each vendor: on a shared bus
an unregistered or revoked vendor is dropped (``unregistered``); a registered one is shown
by its registered name; and a name that looks like the name of a *different* vendor the
person bought from before is flagged. The registry rides in on the trust scorer, so the
conversation code that builds the ranker needs no change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from nats.aio.client import Client

import schemas
from runtime import RegistryView, read_local_registrar

from ._home import AgentConfig
from ._store import AgentStore
from ._trust import TrustScore, TrustScorer

__all__ = ["RegisteredTrust", "Standing", "trusted_registrars", "with_registry"]


@dataclass(frozen=True)
class Standing:
    """A vendor's standing with the person's registrars, as the ranker uses it."""

    registered_name: str | None = None  # what a trusted registrar calls the vendor
    drop: str | None = None  # why the offer must not be shown
    notes: list[str] = field(default_factory=list)  # reasons shown beside the offer


class RegisteredTrust:
    """A :class:`TrustScorer` that also knows the registry (scores come from ``inner``)."""

    def __init__(
        self,
        inner: TrustScorer,
        view: RegistryView,
        *,
        required: bool,
        history: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.inner, self.view, self.required = inner, view, required
        self._history: dict[str, tuple[str, str]] = {}  # skeleton -> (vendor id, name)
        for vendor_id, name in history:
            self._history.setdefault(schemas.name_skeleton(name), (vendor_id, name))

    def score(self, vendor_id: str, now: datetime) -> TrustScore:
        return self.inner.score(vendor_id, now)

    def standing(self, vendor_id: str, claimed: str, now: datetime) -> Standing:
        reg = self.view.lookup(vendor_id, now)
        name = reg.name
        if name is not None and reg.entry is not None:
            notes = [f"registered as {name} since {reg.entry.msg.registered}"]
        elif self.required:
            why = "" if reg.unknown else f"{reg.problem}; "
            return Standing(drop=f"{why}the name {claimed!r} is only its own claim")
        else:
            notes = [f"not registered ({reg.problem}): its name is its own claim"]
        alike = self._history.get(schemas.name_skeleton(name or claimed))
        if alike is not None and alike[0] != vendor_id:
            notes.append(f"name looks like {alike[1]} you bought from before: not the same vendor")
        return Standing(name, None, notes)


def trusted_registrars(cfg: AgentConfig, url: str) -> tuple[list[str], str]:
    """(registrar keys, bucket): the config's, else the local registrar serving this very bus
    (the embedded default: no set-up on one machine), else none."""
    if cfg.registrars:
        return list(cfg.registrars), cfg.registry_bucket
    local = read_local_registrar()
    if local is not None and local.bus == url:
        return [local.key], local.bucket
    return [], cfg.registry_bucket


async def with_registry(
    trust: TrustScorer, cfg: AgentConfig, nc: Client, url: str, store: AgentStore
) -> TrustScorer:
    """``trust``, aware of the registry when the person trusts a registrar; the registry is
    read once here (a snapshot), before the intent is cast."""
    keys, bucket = trusted_registrars(cfg, url)
    if not keys:
        return trust
    view = RegistryView(keys, bucket)
    await view.load(nc)
    history = [(r["vendor_id"], r["vendor_name"]) for r in store.rows("receipts", "created")]
    return RegisteredTrust(trust, view, required=cfg.shared_bus is not False, history=history)
