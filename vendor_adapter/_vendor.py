"""The vendor as one object: ``async with Vendor(config, transport) as vendor`` loads the
config and catalog (as ``intentcast-vendor check`` does), opens the order store and the keys,
serves on the transport until the block ends, then stops serving and closes the store.

    async with Vendor(Path("vendor.toml"), NatsTransport(bus)) as vendor:
        await stop.wait()

The CLI, the demo, the benchmarks and the simulator all run vendors this way."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType

import schemas
from runtime import Registry, Transport

from ._catalog import Catalog
from ._config import VendorConfig
from ._intents import Choice
from ._keys import load_or_create_keys
from ._load import load_vendor
from ._order_store import OrderStore
from ._service import VendorAdapter
from ._shop import utcnow
from ._store_choice import open_order_store

__all__ = ["Vendor", "vendor_signer"]

READY_SECONDS = 10.0


def vendor_signer(cfg: VendorConfig, now: datetime | None = None) -> schemas.VendorSigner:
    """The vendor's keys from ``cfg.keys_dir`` (made on first use) and its signed profile."""
    identity, signing, seal = load_or_create_keys(cfg.keys_dir)
    return schemas.make_profile(
        identity=identity, signing=signing, seal_key=seal, name=cfg.name,
        categories=cfg.categories, terms=cfg.terms.to_wire(), now=now or utcnow(),
    )  # fmt: skip


class Vendor:
    """One vendor serving on ``transport``, from a config file's path (loaded and checked
    with :func:`load_vendor`) or a config already loaded, with its catalog.

    ``signer`` defaults to the keys in ``keys_dir``, ``store`` to the one the config names
    (``data_dir/vendor.sqlite`` unless ``store`` says otherwise; a store passed in is the
    caller's to close). Serving starts on entering the block,
    which returns once the vendor hears, and stops on leaving it."""

    def __init__(
        self,
        config: Path | VendorConfig,
        transport: Transport,
        *,
        catalog: Catalog | None = None,
        signer: schemas.VendorSigner | None = None,
        store: OrderStore | None = None,
        metrics: Registry | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if isinstance(config, Path):
            config, loaded = load_vendor(config)
            catalog = catalog or loaded
        if catalog is None:
            raise TypeError("expected a catalog beside a loaded config (or a config path)")
        self.cfg = config
        self.transport = transport
        signer = signer or vendor_signer(config)
        self._own_store = store is None
        self.store = store or open_order_store(config, signer.vendor_id)
        self.adapter = VendorAdapter(
            config, catalog=catalog, store=self.store, signer=signer, metrics=metrics,
            clock=clock,
        )  # fmt: skip
        self._stop = asyncio.Event()
        self._stack = contextlib.AsyncExitStack()

    @property
    def vendor_id(self) -> str:
        return self.adapter.vendor_id

    @property
    def signer(self) -> schemas.VendorSigner:
        return self.adapter.signer

    @property
    def delivers_to(self) -> list[schemas.Region]:
        """Where the vendor delivers, as its offers say (empty: not stated)."""
        return self.adapter.intents.areas

    @property
    def metrics(self) -> Registry:
        return self.adapter.metrics

    @property
    def connected(self) -> bool:
        return self.transport.connected

    async def choose(self, intent: schemas.Intent, now: datetime) -> Choice | str:
        """What the vendor would offer for ``intent`` (or why nothing), changing nothing."""
        return await self.adapter.choose(intent, now)

    async def __aenter__(self) -> Vendor:
        stack = self._stack
        if self._own_store:
            stack.callback(self.store.close)
        tg = await stack.enter_async_context(asyncio.TaskGroup())
        stack.callback(self._stop.set)  # runs first on the way out: serving ends
        ready = asyncio.Event()
        tg.create_task(self.adapter.run(self.transport, self._stop, on_ready=ready.set))
        try:
            async with asyncio.timeout(READY_SECONDS):
                await ready.wait()
        except BaseException as exc:
            try:  # leaving the task group raises what stopped the vendor from serving
                await stack.__aexit__(type(exc), exc, exc.__traceback__)
            except BaseExceptionGroup as group:
                if len(group.exceptions) == 1:
                    raise group.exceptions[0] from None
                raise
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._stack.__aexit__(exc_type, exc, tb)
