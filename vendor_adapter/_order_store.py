"""What the vendor's rooms need of an order store, whichever engine keeps it.

Two implementations: :class:`VendorStore` (SQLite, one host: the default) and
:class:`PostgresStore` (PostgreSQL, replicas on any number of hosts). Both commit before a
method returns, so a caller that replies after the call never acknowledges what is not on
disk, and both keep the exact signed bytes they are given.

The interface is synchronous because the rooms call it inside their handlers, as they always
called SQLite (whose commits also wait for the disk), and because one caller is a key resolver
that the contract's verification calls synchronously. A PostgreSQL round trip therefore holds
up that replica's other handlers for its duration, as an SQLite fsync does; other replicas are
not held up.

To add an operation: add it here, to ``VendorStore`` and to ``PostgresStore``, with a new
migration file for PostgreSQL (``migrations/postgresql/NNNN_name.sql``) when it needs a
column; ``tests/test_order_stores.py`` runs the same checks on both engines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from ._store import OrderRow, Released

__all__ = ["OrderStore", "StoredOrder"]


class StoredOrder(Protocol):
    """One row of the orders table, read by column name (``row["status"]``)."""

    def __getitem__(self, key: str, /) -> Any: ...


class OrderStore(Protocol):
    """The vendor's orders, reservations (holds on stock), countersignatures and purges."""

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
