"""`make demo`: one market on one machine, end to end, on the embedded bus.

Starts the real nats-server, three vendor adapters and one hostile vendor as separate
processes, creates a person's agent, casts an intent, shows the ranked offers and what was
dropped and why, accepts the best, prints the receipt, and shuts everything down.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from runtime import EmbeddedServer, ServiceProcess, configure_logging  # noqa: E402

BIN = Path(sys.executable).parent
VENDORS = ["sierra", "cumbre", "hoarder"]


def step(n: int, text: str) -> None:
    print(f"\n\033[1m[{n}] {text}\033[0m", flush=True)


def agent(home: Path, *args: str, bus: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INTENTCAST_BUS": bus} if bus else None
    cp = subprocess.run(
        [str(BIN / "intentcast"), "--home", str(home), *args],
        text=True,
        capture_output=True,
        timeout=60,
        env=env,
    )
    if cp.returncode != 0:
        sys.exit(f"demo: `intentcast {' '.join(args)}` failed ({cp.returncode}):\n{cp.stderr}")
    return cp


def main() -> int:
    configure_logging(json=False, level="warning")
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="intentcast-demo-"))
    shutil.copytree(HERE / "vendors", work / "vendors")
    shutil.copytree(HERE / "catalogs", work / "catalogs")
    home = work / "person"
    try:
        with ExitStack() as stack:
            step(1, "Starting the embedded bus (the real nats-server, on a free loopback port)")
            bus = stack.enter_context(EmbeddedServer(work / "jetstream"))
            print(f"    bus: {bus.url}")

            step(2, "Starting vendors, each a separate process")
            rogue = ServiceProcess(
                [sys.executable, str(HERE / "rogue_vendor.py"), "--bus", bus.url],
                ready_event="rogue.ready",
                name="rogue",
            )
            stack.enter_context(rogue)
            print(
                "    Mirage Goods      hostile: forges, tampers with, sends expired and replays offers"
            )
            for v in VENDORS:
                p = ServiceProcess(
                    [
                        str(BIN / "intentcast-vendor"),
                        "run",
                        "--config",
                        str(work / "vendors" / f"{v}.toml"),
                        "--bus",
                        bus.url,
                    ],
                    ready_event="vendor.ready",
                    name=v,
                )
                stack.enter_context(p)
                ev = p.wait_for("vendor.ready")
                print(
                    f"    {ev['name']!s:<18} ready, serves {', '.join(map(str, ev['categories']))}"
                )  # type: ignore[call-overload]

            step(
                3,
                "The person creates their agent: keys, terms (#NoStalking) and store on their own disk",
            )
            agent(home, "init", "--name", "Ada Lovelace", "--region", "ES-28")
            cfg = (home / "config.toml").read_text()
            cfg = cfg.replace("address = []", 'address = ["Calle de Alcalá 1"]').replace(
                'postcode = ""', 'postcode = "28014"'
            )
            (home / "config.toml").write_text(cfg)
            print(f"    home: {home}")

            by = (date.today() + timedelta(days=18)).isoformat()
            cmd = [
                "want",
                "2-person tent",
                "--category",
                "outdoor/tents",
                "--max-price",
                "150EUR",
                "--by",
                by,
                "--region",
                "ES-28",
                "--terms",
                "nostalking",
                "--attr",
                "colour=green",
                "--wait",
                "2s",
            ]
            step(4, "intentcast " + " ".join(a if " " not in a else repr(a) for a in cmd))
            print(agent(home, *cmd, bus=bus.url).stdout)

            hist = json.loads(agent(home, "history", "--json").stdout)
            ranked = sorted((o for o in hist[-1]["offers"] if o["rank"]), key=lambda o: o["rank"])
            if not ranked:
                sys.exit("demo: no acceptable offer arrived")
            best = ranked[0]["offer"][:8]
            step(
                5,
                f"intentcast accept {best}   (only name and address go, sealed to that vendor alone)",
            )
            print(agent(home, "accept", best, bus=bus.url).stdout)

            step(6, "intentcast receipts   (signatures re-verified from the stored bytes)")
            print(agent(home, "receipts").stdout)

            step(7, "Shutting down")
        print(
            f"    all processes stopped; demo took {time.monotonic() - t0:.1f}s. Files kept in {work}"
        )
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
