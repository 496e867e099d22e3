"""The market's vendors: real vendor adapters behind a gate the market opens and shuts,
each with the behaviour its group names, and identities that can be shed (whitewashing).

A rejoin stops the adapter, and starts it again with fresh keys (from the market's seeded
generator), a fresh order store and no history: the same catalog and prices under an
identity nobody has seen. The simulator runs no registrar, so this costs the vendor
nothing; with one, it would cost a new registration and start the registered age at zero.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import SigningKey

import schemas
from runtime import (
    Handler,
    Message,
    NoRespondersHandler,
    Subscription,
    Transport,
    WrappedTransport,
)
from vendor_adapter import (
    CSV_HEADER,
    Catalog,
    FileCatalog,
    Vendor,
    VendorAdapter,
    VendorConfig,
    VendorStore,
)

from ._classic import PricedCatalog, carry_certified, price_factor_of
from ._clock import SimClock
from ._plugins import Identity, VendorBehaviour
from ._scenario import Scenario, VendorGroup

__all__ = ["Gate", "SimVendor", "make_vendor"]

FAIR_TERMS = schemas.example_vendor_terms()
GREEDY_TERMS = schemas.example_vendor_terms(
    data_retention_days=3650,
    no_tracking=False,
    no_sharing=False,
    contact_via_agent_only=False,
    return_days=14,
    warranty_months=12,
    agreements=[],
)
ADJECTIVES = ["Classic", "Light", "Pro", "Compact", "Family", "Trail", "Urban", "Eco"]

PROFILE_DAYS = 365  # a profile's lifetime (at most 400 days, schemas.MAX_LIFETIME)
RENEW_DAYS = 30  # re-signed this long before it ends


class Gate(WrappedTransport):
    """A vendor's transport that the market can take offline: then it hears no intents."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner)
        self.online = True

    async def subscribe(
        self,
        subject: str,
        handler: Handler,
        *,
        queue: str = "",
        pending_limit: int | None = None,
        on_no_responders: NoRespondersHandler | None = None,
    ) -> Subscription:
        if subject.startswith(schemas.INTENT_ROOT + "."):

            async def gated(msg: Message, handler: Handler = handler) -> None:
                if self.online:
                    await handler(msg)

            handler = gated
        return await super().subscribe(
            subject, handler, queue=queue, pending_limit=pending_limit,
            on_no_responders=on_no_responders,
        )  # fmt: skip


@dataclass
class SimVendor:
    """One simulated vendor, across the identities it takes."""

    group_index: int
    group: VendorGroup
    behaviour: VendorBehaviour
    cfg: VendorConfig
    terms: schemas.VendorTerms
    home: Path
    catalog: Path
    gate: Gate
    categories: list[str]
    clock: SimClock
    generation: int = -1
    vendor_id: str = ""  # of the identity in use (or last used, once the market closed)
    since_round: int = 0
    orders: int = 0
    bad_ratings: int = 0
    vendor: Vendor | None = None
    profile_until: datetime = datetime(1970, 1, 1, tzinfo=UTC)
    _keys: tuple[SigningKey, SigningKey, PrivateKey] | None = None
    stores: list[VendorStore] = field(default_factory=list)
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    def _catalog(self) -> Catalog:
        """The vendor's catalog file, priced by its behaviour's ``price_factor`` if it has one
        (``_classic.Reprices``)."""
        catalog = FileCatalog(self.catalog)
        hook = price_factor_of(self.behaviour)
        if hook is None:
            return catalog
        return PricedCatalog(catalog, lambda: hook(self.identity()))

    @property
    def kind(self) -> str:
        return self.group.kind

    @property
    def live(self) -> Vendor:
        if self.vendor is None:
            raise RuntimeError("expected a started vendor, got one not started")
        return self.vendor

    def identity(self) -> Identity:
        return Identity(
            vendor_id=self.vendor_id, group=self.group_index, kind=self.kind,
            generation=self.generation, since_round=self.since_round, orders=self.orders,
            bad_ratings=self.bad_ratings,
        )  # fmt: skip

    def _new_identity(self, rng: random.Random, round: int) -> None:
        self.generation += 1
        self.since_round, self.orders, self.bad_ratings = round, 0, 0
        self._keys = (
            SigningKey(rng.randbytes(32)),
            SigningKey(rng.randbytes(32)),
            PrivateKey(rng.randbytes(32)),
        )

    async def start(self, rng: random.Random, round: int = 0) -> str:
        """Serve under a new identity (keys drawn from ``rng``); returns its vendor id."""
        self._new_identity(rng, round)
        suffix = "" if self.generation == 0 else f"-g{self.generation}"
        store = VendorStore(self.home / f"orders{suffix}.sqlite")
        self.stores.append(store)
        await self._serve(store)
        return self.vendor_id

    def start_offline(self, rng: random.Random, round: int = 0) -> VendorAdapter:
        """Fast mode: a new identity drawn exactly as :meth:`start` draws it, as the vendor's
        offer logic (``VendorAdapter``) over an in-memory order store, serving nothing."""
        self._new_identity(rng, round)
        assert self._keys is not None
        identity, signing, seal = self._keys
        signer = schemas.make_profile(
            identity=identity, signing=signing, seal_key=seal, name=self.cfg.name,
            categories=self.categories, terms=self.terms, now=self.clock.now(),
            ttl=timedelta(days=PROFILE_DAYS),
        )  # fmt: skip
        self.close_stores()
        self.stores = [VendorStore(Path(":memory:"))]
        self.vendor_id = signer.vendor_id
        return VendorAdapter(
            self.cfg, catalog=self._catalog(), store=self.stores[0], signer=signer,
            clock=self.clock.now,
        )  # fmt: skip

    async def renew_if_due(self) -> None:
        """Sign the profile afresh, same keys and identity, before it expires (a profile
        lives at most 400 days; simulated runs may last longer)."""
        if self.clock.now() >= self.profile_until - timedelta(days=RENEW_DAYS):
            await self._serve(self.stores[-1])

    async def _serve(self, store: VendorStore) -> None:
        await self.stop()
        assert self._keys is not None, "start() draws the keys first"
        identity, signing, seal = self._keys
        now = self.clock.now()
        signer = schemas.make_profile(
            identity=identity, signing=signing, seal_key=seal, name=self.cfg.name,
            categories=self.categories, terms=self.terms, now=now,
            ttl=timedelta(days=PROFILE_DAYS),
        )  # fmt: skip
        vendor = Vendor(
            self.cfg, self.gate, catalog=self._catalog(), signer=signer, store=store,
            clock=self.clock.now,
        )  # fmt: skip
        self.vendor = await self._stack.enter_async_context(vendor)
        await carry_certified(self._stack, self.vendor, self.gate, self.behaviour)
        self.vendor_id, self.profile_until = signer.vendor_id, now + timedelta(days=PROFILE_DAYS)

    async def stop(self) -> None:
        await self._stack.aclose()
        self.vendor = None

    def close_stores(self) -> None:
        for s in self.stores:
            s.close()


def _want(category: str) -> str:
    return category.rsplit("/", 1)[-1].replace("-", " ")


def make_vendor(
    g: int,
    group: VendorGroup,
    n: int,
    scenario: Scenario,
    root: Path,
    rng: random.Random,
    *,
    gate: Gate,
    behaviour: VendorBehaviour,
    clock: SimClock,
) -> SimVendor:
    """Vendor number ``n`` of group ``g``: its catalog (three items per category, prices
    drawn from the group's ``price_factor``), its config and terms, not yet started."""
    categories = group.categories or sorted(scenario.categories)
    home = root / f"v{n:03d}-{group.kind}"
    home.mkdir(parents=True, exist_ok=True)
    catalog = home / "catalog.csv"
    rows = [CSV_HEADER]
    for c in categories:
        base = scenario.categories[c]
        for j in range(3):
            price = round(base * rng.uniform(*group.price_factor)) / 100
            title = f"{rng.choice(ADJECTIVES)} {_want(c)} {j + 1}"
            rows.append(f'{n}-{j}-{c.replace("/", "-")},{title},{c},{price:.2f},'
                        f'{scenario.currency},1000000,,"{_want(c)}"')  # fmt: skip
    catalog.write_text("\n".join(rows) + "\n")
    terms = GREEDY_TERMS if group.kind == "breach" else FAIR_TERMS
    cfg = VendorConfig.model_validate({
        "name": f"{group.kind.title()} Vendor {n}", "categories": categories,
        "keys_dir": str(home / "keys"), "data_dir": str(home / "data"), "health_port": -1,
        "delivery_days": rng.randint(*group.delivery_days),
        "limits": {"intents_per_key_per_minute": 1000, "intents_per_category_per_second": 100_000},
        "terms": {k: getattr(terms, k) for k in terms.__struct_fields__},
        "catalog": {"kind": "csv", "path": str(catalog)},
        "pricing": {"floor_percent": 90, "meet_budget": True},
    })  # fmt: skip
    return SimVendor(
        group_index=g, group=group, behaviour=behaviour, cfg=cfg, terms=terms, home=home,
        catalog=catalog, gate=gate, categories=categories, clock=clock,
    )  # fmt: skip
