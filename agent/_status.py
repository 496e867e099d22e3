"""What vendors say became of the person's orders: signed statuses (shipped, delivered,
cancelled by the vendor) picked up from each order's mailbox, verified against the vendor's
key for that order, kept as the exact bytes, and applied once.

For each receipt whose order is still open to news (confirmed, shipped), the agent derives
the order's mailbox (``schemas.mailbox_token``: only the person and that vendor can) and reads
it from the stream sequence it last read. Each message, in one transaction: verified
(``schemas.open_status``, with ``seq`` above the last applied, else ``replayed``), stored,
the receipt's state moved on, the read position advanced; then acknowledged. A message that
fails is stored nowhere but as a refusal (reason, detail) and the position still advances, so
junk is read once. A vendor's cancellation counts against its trust (an outcome
``vendor_cancelled``) unless the person agrees (:func:`agree_to_cancel`)."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

import schemas
from runtime import Mailboxes

from ._records import OrderState, ReceiptRow, StatusRow
from ._rereading import check_receipt
from ._store import AgentStore, KeysNotHeld

__all__ = [
    "Inbox",
    "agree_to_cancel",
    "collect_statuses",
    "refusals",
    "settle_state",
    "statuses_of",
]

log = structlog.get_logger("intentcast.agent")

STATUS_TABLES = """
CREATE TABLE IF NOT EXISTS order_statuses (
    receipt_id TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL, carrier TEXT NOT NULL,
    tracking TEXT NOT NULL, reason TEXT NOT NULL, wire BLOB NOT NULL, received TEXT NOT NULL,
    PRIMARY KEY (receipt_id, seq)
);
CREATE TABLE IF NOT EXISTS mailbox_reads (receipt_id TEXT PRIMARY KEY, stream_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS status_refusals (
    id INTEGER PRIMARY KEY, receipt_id TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
    at TEXT NOT NULL
);
"""
_STATE = {
    "shipped": OrderState.SHIPPED,
    "delivered": OrderState.DELIVERED,
    "cancelled": OrderState.CANCELLED,
}
_OPEN = (OrderState.CONFIRMED, OrderState.SHIPPED, OrderState.CANCELLING)


@dataclass
class Inbox:
    """What one pick-up found: statuses applied, and refusals by reason code."""

    applied: list[StatusRow] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0  # receipts whose mailbox could not be derived (no keys held)


def _ensure(store: AgentStore) -> None:
    store.db.executescript(STATUS_TABLES)


def statuses_of(
    store: AgentStore, receipt_id: str | None = None, *, intent_id: str | None = None
) -> list[StatusRow]:
    """Statuses kept, by receipt and ``seq``: of one receipt, of one intent's orders, or all."""
    _ensure(store)
    q = (
        "SELECT s.receipt_id, seq, s.state, carrier, tracking, reason, received"
        " FROM order_statuses s JOIN receipts r ON r.receipt_id = s.receipt_id"
        " WHERE (? IS NULL OR s.receipt_id = ?) AND (? IS NULL OR r.intent_id = ?)"
        " ORDER BY s.receipt_id, seq"
    )
    rows = store.db.execute(q, (receipt_id, receipt_id, intent_id, intent_id))
    return [StatusRow(*r) for r in rows]


def refusals(store: AgentStore) -> Counter[str]:
    _ensure(store)
    rows = store.db.execute("SELECT reason, COUNT(*) FROM status_refusals GROUP BY reason")
    return Counter({r[0]: r[1] for r in rows})


async def collect_statuses(
    store: AgentStore, mailboxes: Mailboxes, clock: Callable[[], datetime]
) -> Inbox:
    """Pick up, verify, keep and apply what waits in the mailboxes of the person's orders."""
    _ensure(store)
    inbox = Inbox()
    for row in store.receipts():
        if row.status not in _OPEN:
            continue
        checked = check_receipt(store, row)
        if checked.order is None:
            continue  # a receipt that does not verify gets no news either
        try:
            secrets = store.intent_secrets(row.intent_id)
        except KeysNotHeld:
            inbox.unreadable += 1
            continue
        order = checked.order
        kept = order.offer.msg.terms.data_retention_days
        if order.intent.msg.terms.data_retention_days is not None:
            kept = min(kept, order.intent.msg.terms.data_retention_days.value)
        days = schemas.mailbox_days(kept)
        if days is None or datetime.fromisoformat(row.created) + timedelta(days=days) < clock():
            continue  # no mailbox, or whatever it held has expired
        seal = schemas.seal_key_for(order.profile.msg, order.receipt.kid)
        token = schemas.mailbox_token(secrets.seal, seal, order.receipt.digest)
        ring = schemas.KeyRing.from_profile(order.profile.msg)
        (after,) = store.db.execute(
            "SELECT COALESCE(MAX(stream_seq), 0) FROM mailbox_reads WHERE receipt_id = ?",
            (row.receipt_id,),
        ).fetchone()

        apply = functools.partial(_apply, store, row, secrets, order.receipt, ring, clock, inbox)
        await mailboxes.read(days, schemas.mailbox_subject(days, token), apply, after=after)
    return inbox


def _apply(
    store: AgentStore,
    row: ReceiptRow,
    secrets: schemas.IntentSecrets,
    receipt: schemas.Verified[schemas.Receipt],
    ring: schemas.KeyRing,
    clock: Callable[[], datetime],
    inbox: Inbox,
    stream_seq: int,
    data: bytes,
) -> None:
    """One mailbox message, in one committed transaction: applied, or refused and counted."""
    now = clock()
    with store.transaction():
        store.db.execute(
            "INSERT INTO mailbox_reads VALUES (?, ?) ON CONFLICT(receipt_id)"
            " DO UPDATE SET stream_seq = MAX(stream_seq, excluded.stream_seq)",
            (row.receipt_id, stream_seq),
        )
        try:
            got = schemas.open_status(
                data, secrets=secrets, receipt=receipt, vendor_key=ring, now=now
            )
            (last,) = store.db.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM order_statuses WHERE receipt_id = ?",
                (row.receipt_id,),
            ).fetchone()
            if got.msg.seq <= last:
                raise schemas.Replayed(
                    f"a status after seq {last} of this order", f"seq {got.msg.seq}", "$.msg.seq"
                )
        except schemas.ProtocolError as err:
            store.db.execute(
                "INSERT INTO status_refusals (receipt_id, reason, detail, at) VALUES (?,?,?,?)",
                (row.receipt_id, err.code, str(err)[:300], now.isoformat()),
            )
            inbox.refused[err.code] += 1
            log.warning("status.refused", receipt=row.receipt_id[:8], reason=err.code)
            return
        s = got.msg
        status = StatusRow(
            row.receipt_id, s.seq, s.state, s.carrier, s.tracking, s.reason, now.isoformat()
        )
        store.db.execute(
            "INSERT INTO order_statuses VALUES (?,?,?,?,?,?,?,?)",
            (row.receipt_id, s.seq, s.state, s.carrier, s.tracking, s.reason, got.wire,
             status.received),
        )  # fmt: skip
        store.db.execute(
            "UPDATE receipts SET status = ? WHERE receipt_id = ?",
            (str(_STATE[s.state]), row.receipt_id),
        )
        if s.state == "cancelled":
            store.add_outcome(
                vendor_id=row.vendor_id, kind="vendor_cancelled", positive=0.0, negative=1.0,
                at=now, ref=row.receipt_id,
            )  # fmt: skip
        store.outcomes_changed += 1
    inbox.applied.append(status)
    log.info("status.applied", receipt=row.receipt_id[:8], state=s.state, seq=s.seq)


def settle_state(store: AgentStore, receipt_id: str) -> None:
    """After the vendor refused a cancellation (its answer puts the receipt back to
    ``confirmed``), the state its last signed status gave stands: a shipped order stays
    shipped."""
    kept = statuses_of(store, receipt_id)
    if kept:
        store.db.execute(
            "UPDATE receipts SET status = ? WHERE receipt_id = ? AND status = ?",
            (str(_STATE[kept[-1].state]), receipt_id, str(OrderState.CONFIRMED)),
        )


def agree_to_cancel(store: AgentStore, receipt_id: str) -> bool:
    """The person agrees with the vendor's cancellation of this order: it no longer counts
    against the vendor. False when the vendor has not cancelled it."""
    _ensure(store)
    if not any(s.state == "cancelled" for s in statuses_of(store, receipt_id)):
        return False
    with store.transaction():
        store.db.execute(
            "DELETE FROM outcomes WHERE kind = 'vendor_cancelled' AND ref = ?", (receipt_id,)
        )
    store.outcomes_changed += 1
    log.info("status.cancel_agreed", receipt=receipt_id[:8])
    return True
