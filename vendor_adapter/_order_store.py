"""What the vendor's rooms need of an order store, whichever engine keeps it.

Two implementations: :class:`VendorStore` (SQLite, one host: the default) and
:class:`PostgresStore` (PostgreSQL, replicas on any number of hosts). Both commit before a
method returns, so a caller that replies after the call never acknowledges what is not on
disk, and both keep the exact signed bytes they are given.

Most of the interface is synchronous because the rooms call it inside their handlers, as
they always called SQLite (whose commits also wait for the disk), and because one caller is a
key resolver that the contract's verification calls synchronously. The acceptance path, where
a replica's throughput is decided, uses the asynchronous sibling instead (``store.aio``, an
:class:`AsyncOrderStore`): the order room keeps up to ``store.concurrency`` acceptances in
flight, so a PostgreSQL replica has that many transactions open on its pool at once (row locks
still take each item's stock one at a time). SQLite keeps its one writer: its ``aio`` runs the
same statements inline and its ``concurrency`` is 1, so acceptances commit one at a time, as
before, each with WAL and synchronous=FULL.

To add an operation: add it here (and to :class:`AsyncOrderStore` if a hot path awaits it),
to ``VendorStore`` and to ``PostgresStore``, with a new
migration file for PostgreSQL (``migrations/postgresql/NNNN_name.sql``) when it needs a
column; ``tests/test_order_stores.py`` runs the same checks on both engines."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, TypedDict

from ._counter import Decide, Transition
from ._store import OrderRow, Released, Unsent

__all__ = ["AsyncOrderStore", "OrderStore", "StoreHealth", "StoredOrder"]


class StoredOrder(Protocol):
    """One row of the orders table, read by column name (``row["status"]``)."""

    def __getitem__(self, key: str, /) -> Any: ...


class StoreHealth(TypedDict, total=False):
    """What the vendor's /healthz says of its store. ``reachable`` decides readiness."""

    engine: str  # "sqlite" or "postgresql"
    reachable: bool
    schema_version: int | None  # PostgreSQL: the newest migration applied
    pool_in_use: int  # PostgreSQL: connections lent out now
    pool_size: int  # PostgreSQL: at most this many connections (``store_pool_size``)
    error: str  # why it is not reachable


class AsyncOrderStore(Protocol):
    """The operations of an acceptance, awaited: as the same-named :class:`OrderStore`
    methods, committed before they return. Many may be in flight at once."""

    async def by_offer(self, offer_id: str) -> OrderRow | None: ...

    async def order(self, order_id: str) -> StoredOrder | None: ...

    async def held(self, sku: str) -> int: ...

    async def insert_order(
        self, row: dict[str, object], *, stock: int | None, held_cap: int | None = None
    ) -> str | None: ...

    async def health(self) -> StoreHealth:
        """Whether the store answers now (within about a second), and its state."""


class OrderStore(Protocol):
    """The vendor's orders, reservations (holds on stock), countersignatures and purges."""

    @property
    def aio(self) -> AsyncOrderStore:
        """The acceptance path's operations, awaited."""

    @property
    def concurrency(self) -> int:
        """How many acceptances a replica keeps in flight on this store."""

    def close(self) -> None:
        """Release the engine's connections; the store cannot be used afterwards."""

    def by_offer(self, offer_id: str) -> OrderRow | None: ...

    def reserved(self, sku: str) -> int:
        """Units of ``sku`` that confirmed orders hold (for good or until their hold ends)."""

    def held(self, sku: str) -> int:
        """Units of ``sku`` held by orders the person has not confirmed yet."""

    def held_total(self) -> int: ...

    def available(self, sku: str, stock: int) -> int:
        """Stock not yet promised, from a snapshot that may be a little old: good enough to
        decide whether to offer; acceptance re-checks inside its transaction."""

    def has_intent_key(self, kid: str) -> bool: ...

    def intent_wire_of_key(self, kid: str) -> bytes | None:
        """The signed intent of an order made with intent key ``kid`` (to seal answers to)."""

    def insert_order(
        self, row: dict[str, object], *, stock: int | None, held_cap: int | None = None
    ) -> str | None:
        """Check stock and insert in one transaction, committed before returning: the status
        stored, or None when an order for this offer exists already or stock ran out. Exactly
        once across every process sharing the store."""

    def release_expired(self, now: datetime) -> list[Released]: ...

    def next_hold_expiry(self) -> datetime | None: ...

    def by_receipt(self, receipt_id: str, receipt_hash: str) -> StoredOrder | None: ...

    def confirm(self, order_id: str, wire: bytes, *, stock: int) -> str:
        """Keep the person's countersignature; ``held``, ``taken``, ``out_of_stock``,
        ``already`` or the order's status (see :meth:`VendorStore.confirm`)."""

    def has_countersignature(self, wire: bytes) -> bool: ...

    def order(self, order_id: str) -> StoredOrder | None: ...

    def cancel(self, order_id: str, cancel_wire: bytes) -> bool: ...

    def purge(self, now: datetime) -> int:
        """Forget disclosures whose retention has passed, their signed acceptances and the
        person's signed updates of them."""

    def apply_details(
        self,
        order_id: str,
        update_hash: str,
        update_wire: bytes,
        changed: dict[str, object],
        now: datetime,
    ) -> bool:
        """Replace the ``changed`` fields of an order's disclosure and keep the person's
        signed update, committed; False when the order holds no details (erased, purged)."""

    def erase(
        self, order_id: str, request_wire: bytes, confirmation_wire: bytes, now: datetime
    ) -> None:
        """Drop what an order holds about the person (its disclosure, signed acceptance and
        the signed updates) and keep the request and our confirmation, committed."""

    def orders(self) -> Sequence[StoredOrder]: ...

    # --- the counter (``_counter``) and its outbox (``_feed``) ----------------------------

    def find_orders(self, prefix: str) -> list[str]:
        """Ids of the orders that start with ``prefix`` (people type the first 8)."""

    def statuses(self, order_id: str) -> Sequence[StoredOrder]:
        """The statuses the vendor signed for an order, by ``seq``, sent or not yet."""

    def transition(self, order_id: str, decide: Decide) -> Transition:
        """In one committed transaction, with the order locked against every other writer:
        ``decide(order row, last seq)`` and write what it returns (the order's new state and
        its status); the state change's feed event is written in the same transaction.
        :class:`~._counter.UnknownOrder` for no such order; ``decide`` raising writes
        nothing."""

    def unsent_statuses(self, limit: int) -> AbstractContextManager[Unsent]:
        """``with store.unsent_statuses(100) as u:`` the oldest statuses not yet in their
        mailboxes (at most the first unsent one of each order), taken from every other
        replica until the block ends; those passed to ``u.sent`` are marked sent, committed,
        when it ends. A replica that dies in the block leaves its rows to the others."""

    def unsent_events(self, limit: int) -> AbstractContextManager[Unsent]:
        """As :meth:`unsent_statuses`, for the order feed's events (by event number)."""

    def prune_events(self, before: datetime) -> int:
        """Forget feed events sent before ``before``; unsent ones stay."""
