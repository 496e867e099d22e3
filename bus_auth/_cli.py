"""``intentcast-bus-auth``: the auth callout service for a shared bus.

    intentcast-bus-auth --bus nats://127.0.0.1:4222 --policy secrets/callout.json \\
        --issuer-seed secrets/issuer.nk --seed secrets/callout.nk

The bus (deploy/nats/callout.conf) asks it about every connection: persons get only the
reply tokens of their connection's own ephemeral key, vendors their own endpoints and
categories.
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
    policy = Policy.load(args.policy)
    issuer = nkeys.from_seed(args.issuer_seed.read_text().strip().encode())
    service = CalloutService(policy, issuer)
    # SIGINT or SIGTERM ends this wherever it is, also while the bus is unreachable and
    # being retried; callouts in flight get DRAIN_SECONDS. Then we exit 0.
    async with (
        StopOnSignals("intentcast-bus-auth") as stop,
        Bus(args.bus, name="bus-auth", nkey_seed=args.seed, drain_timeout=DRAIN_SECONDS) as bus,
        contextlib.AsyncExitStack() as stack,
    ):
        await bus.nc.subscribe(AUTH_SUBJECT, cb=service.on_request)
        await bus.nc.flush()
        if args.ops_seed is not None:  # its connection is granted by the callout just served
            ops = await stack.enter_async_context(
                Bus(
                    args.bus,
                    name="reply-broker",
                    nkey_seed=args.ops_seed,
                    drain_timeout=DRAIN_SECONDS,
                )
            )
            await ReplyBroker(ops).start()
        log.info("bus_auth.ready", persons=len(policy.persons), vendors=len(policy.vendors))
        await stop.wait()
    log.info("bus_auth.stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="intentcast-bus-auth",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--bus", required=True, help="NATS URL of the bus to serve")
    ap.add_argument(
        "--policy", type=Path, required=True, help="callout.json from make_credentials.py --callout"
    )
    ap.add_argument(
        "--issuer-seed", type=Path, required=True, help="the account seed that signs user JWTs"
    )
    ap.add_argument("--seed", type=Path, required=True, help="this service's own nkey seed")
    ap.add_argument(
        "--ops-seed", type=Path, default=None,
        help="an ops credential: also make the watch streams and broker watched replies",
    )  # fmt: skip
    ap.add_argument("--log-format", choices=["json", "console"], default="json")
    args = ap.parse_args(argv)
    configure_logging(json=args.log_format == "json", cache=True)
    for p in (
        args.policy,
        args.issuer_seed,
        args.seed,
        *([args.ops_seed] if args.ops_seed else []),
    ):
        if not p.exists():
            print(
                f"intentcast-bus-auth: error: {p} not found; make it with deploy/nats/make_credentials.py --callout",
                file=sys.stderr,
            )
            return 2
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
