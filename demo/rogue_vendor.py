"""A hostile vendor on its own process, for the demo and the tests: forges, tampers with,
backdates and replays offers (see simulator/_hostile.py). The person must see none of it.

    python demo/rogue_vendor.py --bus nats://127.0.0.1:4222 [--modes forged,replayed]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runtime import configure_logging
from simulator import run_rogue


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--bus", required=True)
    ap.add_argument("--modes", default="forged,tampered,expired,replayed")
    args = ap.parse_args()
    configure_logging(json=True, cache=True)
    asyncio.run(run_rogue(args.bus, set(args.modes.split(","))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
