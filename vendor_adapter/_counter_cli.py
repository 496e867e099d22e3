"""``intentcast-vendor orders | ship | delivered | cancel``: the counter, from the command line.

Each command works on the order store the config names, as ``run`` opens it (``_store_choice``:
SQLite in ``data_dir``, or the PostgreSQL database its replicas share), beside a running
adapter or without one, and signs with the vendor's keys; what it changes is committed before it returns, and the
running adapter's outbox sends it on (to the person's mailbox, and the vendor's feed). ORDER
is an order id or its first characters, as long as one order starts with them."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from typing import Any

import schemas

from ._config import ConfigError, load_config
from ._counter import CounterAction, CounterState, IllegalTransition, UnknownOrder, apply_action
from ._counter import counter_state as state_of
from ._order_store import OrderStore
from ._store_choice import open_order_store
from ._vendor import vendor_signer

__all__ = ["COUNTER_COMMANDS", "add_counter_commands", "run_counter"]

COUNTER_COMMANDS = ("orders", "ship", "delivered", "cancel")
LISTED = ("open", "confirmed", "shipped", "delivered", "cancelled")
EXAMPLES = """examples:
  intentcast-vendor orders --config vendor.toml --state confirmed
  intentcast-vendor ship 1a2b3c4d --config vendor.toml --carrier Correos --tracking PK123
  intentcast-vendor delivered 1a2b3c4d --config vendor.toml
  intentcast-vendor cancel 1a2b3c4d --config vendor.toml --reason "damaged in the warehouse"
"""


def add_counter_commands(sub: Any, config_flag: Any) -> None:
    """The four commands, on the CLI's subparsers; ``config_flag(parser)`` adds --config."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("orders", help="list orders and their state", epilog=EXAMPLES,
                       formatter_class=fmt)  # fmt: skip
    config_flag(p)
    p.add_argument(
        "--state", action="append", choices=[str(s) for s in CounterState],
        help=f"only orders in this state (repeatable; default: {', '.join(LISTED)})",
    )  # fmt: skip
    p.add_argument("--since", type=date.fromisoformat, help="made on or after YYYY-MM-DD")
    p.add_argument("--until", type=date.fromisoformat, help="made on or before YYYY-MM-DD")
    p.add_argument("--json", action="store_true", help="machine-readable, with the disclosure")
    for name, helptext in (
        ("ship", "say an order shipped; the person's agent is told, signed"),
        ("delivered", "say an order was delivered; the person's agent is told, signed"),
        ("cancel", "cancel an order you cannot fulfil: frees its stock, tells the person why"),
    ):
        p = sub.add_parser(name, help=helptext, epilog=EXAMPLES, formatter_class=fmt)
        config_flag(p)
        p.add_argument("order", help="order id (or its first characters)")
        if name == "ship":
            p.add_argument("--carrier", default="", help="who carries it (optional)")
            p.add_argument("--tracking", default="", help="the carrier's tracking code (optional)")
        if name == "cancel":
            p.add_argument("--reason", required=True, help="why, in a few words, for the person")


def run_counter(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    signer = vendor_signer(cfg)
    store = open_order_store(cfg, signer.vendor_id)
    try:
        if args.command == "orders":
            return _orders(store, args)
        order_id = _one(store, args.order)
        action = {"ship": CounterAction.SHIP, "delivered": CounterAction.DELIVER,
                  "cancel": CounterAction.CANCEL}[args.command]  # fmt: skip
        try:
            change = apply_action(
                store, order_id, action, signer=signer,
                retention_days=cfg.terms.data_retention_days, now=datetime.now(UTC),
                carrier=getattr(args, "carrier", ""), tracking=getattr(args, "tracking", ""),
                reason=getattr(args, "reason", ""),
            )  # fmt: skip
        except (IllegalTransition, UnknownOrder) as exc:
            raise ConfigError(str(exc)) from None
        except schemas.ProtocolError as exc:  # keys_dir holds other keys than the order's
            raise ConfigError(
                f"order {order_id[:8]}: expected its receipt to verify with the keys in"
                f" {cfg.keys_dir}, got {exc.code}; is keys_dir the one this store was made with?"
            ) from None
        where = (
            "the running adapter leaves it in the person's mailbox"
            if change.mailbox
            else "the person's terms allow no mailbox: their agent is not told"
        )
        freed = "; its stock is free again" if change.after is CounterState.CANCELLED else ""
        print(f"order {order_id[:8]} {change.after} (status {change.seq} stored; {where}){freed}")
        return 0
    finally:
        store.close()


def _one(store: OrderStore, prefix: str) -> str:
    found = store.find_orders(prefix) if prefix else []
    if len(found) != 1:
        raise ConfigError(
            f"expected one order starting {prefix!r}, found {len(found)}; see"
            " `intentcast-vendor orders` (type more of the id)"
        )
    return found[0]


def _orders(store: OrderStore, args: argparse.Namespace) -> int:
    wanted = set(args.state or LISTED)
    rows = []
    for r in store.orders():
        state = state_of(r["status"], r["held_until"])
        made = datetime.fromisoformat(r["created"]).date()
        if state not in wanted or (args.since and made < args.since):
            continue
        if args.until and made > args.until:
            continue
        rows.append({
            "order": r["order_id"], "state": str(state), "created": r["created"],
            "sku": r["sku"], "quantity": r["quantity"],
            "total": {"amount": r["total_amount"], "currency": r["currency"]},
            "carrier": r["carrier"], "tracking": r["tracking"], "reason": r["reason"],
            "receipt": r["receipt_id"],
            "disclosure": json.loads(r["disclosure"]) if r["disclosure"] else None,
            "statuses": [{"seq": s["seq"], "state": s["state"], "created": s["created"],
                          "sent": bool(s["sent"]), "mailbox": s["subject"] is not None}
                         for s in store.statuses(r["order_id"])],
        })  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    if not rows:
        print(f"no orders ({', '.join(sorted(wanted))})")
    for o in rows:
        t = o["total"]
        exp = schemas.CURRENCY_EXPONENTS.get(t["currency"], 2)
        price = f"{t['amount'] / 10**exp:.{exp}f} {t['currency']}"
        said = " ".join(x for x in (o["carrier"], o["tracking"]) if x)
        unsent = sum(not s["sent"] and s["mailbox"] for s in o["statuses"])
        print(
            f"{o['order'][:8]}  {o['state']:<9}  {o['created'][:16]}  {o['sku']} x{o['quantity']}"
            f"  {price}  {said}{'  ' + o['reason'] if o['reason'] else ''}"
            f"{f'  ({unsent} not yet sent)' if unsent else ''}"
        )
    return 0
