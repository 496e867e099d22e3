"""``intentcast-bus-auth``: the auth callout service for a shared bus, and the reply broker of
watched intents.

    intentcast-bus-auth --bus nats://127.0.0.1:4222 --policy secrets/callout.json \\
        --issuer-seed secrets/issuer.nk --seed secrets/callout.nk [--ops-seed secrets/ops.nk]
    intentcast-bus-auth --bus nats://127.0.0.1:4222 --ops-seed secrets/ops.nk

The bus (deploy/nats/callout.conf) asks it about every connection: persons get only the
reply tokens of their connection's own ephemeral key, vendors their own endpoints and
categories. With ``--ops-seed`` it also makes the watch streams and brokers the consumers of
watched intents' replies; with only ``--ops-seed`` it is that broker alone, for a bus whose
users are static (deploy/nats/single.conf).
It runs until SIGINT or SIGTERM (also while the bus is unreachable) and then exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

import nkeys  # type: ignore[import-untyped]
import structlog

from runtime import Bus, StopOnSignals, configure_logging

from ._policy import Policy
from ._replies import ReplyBroker
from ._service import AUTH_SUBJECT, CalloutService

__all__ = ["main"]

log = structlog.get_logger("intentcast.bus_auth")
DRAIN_SECONDS = 2.0  # on a stop, callouts in flight get this long; the whole stop stays under 5 s


async def _run(args: argparse.Namespace) -> int:
    # SIGINT or SIGTERM ends this wherever it is, also while the bus is unreachable and
    # being retried; callouts in flight get DRAIN_SECONDS. Then we exit 0.
    async with StopOnSignals("intentcast-bus-auth") as stop, contextlib.AsyncExitStack() as stack:
        if args.policy is not None:
            policy = Policy.load(args.policy)
            issuer = nkeys.from_seed(args.issuer_seed.read_text().strip().encode())
            service = CalloutService(policy, issuer)
            bus = await stack.enter_async_context(
                Bus(args.bus, name="bus-auth", nkey_seed=args.seed, drain_timeout=DRAIN_SECONDS)
            )
            await bus.nc.subscribe(AUTH_SUBJECT, cb=service.on_request)
            await bus.nc.flush()
        if args.ops_seed is not None:  # on a callout bus, granted by the callout just served
            ops = await stack.enter_async_context(
                Bus(
                    args.bus,
                    name="reply-broker",
                    nkey_seed=args.ops_seed,
                    drain_timeout=DRAIN_SECONDS,
                )
            )
            await ReplyBroker(ops).start()
        if args.policy is not None:
            log.info("bus_auth.ready", persons=len(policy.persons), vendors=len(policy.vendors),
                     broker=args.ops_seed is not None)  # fmt: skip
        else:
            log.info("bus_auth.ready", broker=True, callout=False)
        await stop.wait()
    log.info("bus_auth.stopped")
    return 0


def _usage_error(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments given (None: nothing)."""
    callout = [args.policy, args.issuer_seed, args.seed]
    if any(callout) and not all(callout):
        return (
            "expected --policy, --issuer-seed and --seed together (the callout), got only"
            f" {', '.join(n for n, v in zip(('--policy', '--issuer-seed', '--seed'), callout, strict=True) if v)};"
            " pass all three, or only --ops-seed for the reply broker alone"
        )
    if not any(callout) and args.ops_seed is None:
        return (
            "expected --policy, --issuer-seed and --seed (the callout) or --ops-seed (the"
            " reply broker alone), got neither"
        )
    for p in (*(c for c in callout if c), *([args.ops_seed] if args.ops_seed else [])):
        if not p.exists():
            return f"{p} not found; make it with deploy/nats/make_credentials.py"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="intentcast-bus-auth",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--bus", required=True, help="NATS URL of the bus to serve")
    ap.add_argument(
        "--policy", type=Path, default=None,
        help="callout.json from make_credentials.py --callout",
    )  # fmt: skip
    ap.add_argument(
        "--issuer-seed", type=Path, default=None, help="the account seed that signs user JWTs"
    )
    ap.add_argument("--seed", type=Path, default=None, help="this service's own nkey seed")
    ap.add_argument(
        "--ops-seed", type=Path, default=None,
        help="an ops credential: also make the watch streams and broker watched replies",
    )  # fmt: skip
    ap.add_argument("--log-format", choices=["json", "console"], default="json")
    args = ap.parse_args(argv)
    configure_logging(json=args.log_format == "json", cache=True)
    if (problem := _usage_error(args)) is not None:
        print(f"intentcast-bus-auth: error: {problem}", file=sys.stderr)
        return 2
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
