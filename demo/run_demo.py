"""`make demo`: one market on one machine, end to end, on the embedded bus.

Starts the real nats-server, a local registrar (auto-approve), three registered vendor
adapters, an impersonator that calls itself "Sierra Outfitters" without registering, a
look-alike that the registrar refuses, and one hostile vendor, each a separate process;
creates a person's agent, casts an intent, shows the ranked offers and what was dropped and
why, accepts the best, prints the receipt, and shuts everything down.

Everything runs with its own XDG_DATA_HOME under the demo's folder: the registrar writes its
key there, and the person's agent, on that same bus, trusts it with no set-up.
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


def agent(
    home: Path, *args: str, bus: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env or {}), **({"INTENTCAST_BUS": bus} if bus else {})}
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
    env = {"XDG_DATA_HOME": str(work / "data")}  # the local registrar's key is found there
    registered = 'registry = { registrar = "local", regions = ["ES"] }\n'
    for v in VENDORS:
        cfg = work / "vendors" / f"{v}.toml"
        cfg.write_text(registered + cfg.read_text())
    cumbre = (work / "vendors" / "cumbre.toml").read_text()
    look_alike = cumbre.replace('"Cumbre Sports"', '"S\u0456erra Outfitters"')  # Cyrillic i
    (work / "vendors" / "lookalike.toml").write_text(
        look_alike.replace("keys/cumbre", "keys/lookalike").replace("data/cumbre", "data/lookalike")
    )
    impostor = cumbre.replace(registered, "").replace('"Cumbre Sports"', '"Sierra Outfitters"')
    (work / "vendors" / "impostor.toml").write_text(
        impostor.replace("keys/cumbre", "keys/impostor").replace("data/cumbre", "data/impostor")
    )
    try:
        with ExitStack() as stack:
            step(1, "Starting the embedded bus (the real nats-server, on a free loopback port)")
            bus = stack.enter_context(EmbeddedServer(work / "jetstream"))
            print(f"    bus: {bus.url}")

            step(2, "Starting the local registrar: it signs which vendor goes by which name")
            registrar = ServiceProcess(
                [str(BIN / "intentcast-registry"), "run", "--keys", str(work / "registrar"),
                 "--bus", bus.url, "--auto-approve", "--local", "--health-port", "-1"],
                ready_event="registry.ready", name="registry", env=env,
            )  # fmt: skip
            ready = stack.enter_context(registrar).wait_for("registry.ready")
            print(f"    registrar key {str(ready['registrar'])[:16]}..., bucket {ready['bucket']}")

            step(3, "Starting vendors, each a separate process; each registers its name")
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
                    env=env,
                )
                stack.enter_context(p)
                ev = p.wait_for("vendor.ready")
                print(
                    f"    {ev['name']!s:<18} ready, serves {', '.join(map(str, ev['categories']))}"
                )  # type: ignore[call-overload]
            impostor_p = ServiceProcess(
                [str(BIN / "intentcast-vendor"), "run", "--config",
                 str(work / "vendors" / "impostor.toml"), "--bus", bus.url],
                ready_event="vendor.ready", name="impostor", env=env,
            )  # fmt: skip
            stack.enter_context(impostor_p)
            print("    Sierra Outfitters  ready: an impostor, a new key that never registered")
            refused = subprocess.run(
                [str(BIN / "intentcast-vendor"), "run", "--config",
                 str(work / "vendors" / "lookalike.toml"), "--bus", bus.url],
                capture_output=True, text=True, timeout=30, env={**os.environ, **env},
            )  # fmt: skip
            print(f"    a look-alike with a Cyrillic i: {refused.stderr.strip().splitlines()[-1]}")

            step(
                4,
                "The person creates their agent: keys, terms (#NoStalking) and store on their own disk",
            )
            agent(
                home, "init", "--name", "Ada Lovelace", "--region", "ES-28",
                "--street", "Calle de Alcalá 1", "--postcode", "28014", "--city", "Madrid",
                "--country", "ES", "--email", "ada@example.org",
            )  # fmt: skip
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
            step(5, "intentcast " + " ".join(a if " " not in a else repr(a) for a in cmd))
            print(agent(home, *cmd, bus=bus.url, env=env).stdout)

            hist = json.loads(agent(home, "history", "--json").stdout)
            ranked = sorted((o for o in hist[-1]["offers"] if o["rank"]), key=lambda o: o["rank"])
            if not ranked:
                sys.exit("demo: no acceptable offer arrived")
            best = ranked[0]["offer"][:8]
            step(
                6,
                f"intentcast accept {best}   (only what the offer needs goes: name and postal address,"
                " not the email; sealed to that vendor alone)",
            )
            print(agent(home, "accept", best, bus=bus.url).stdout)

            step(7, "intentcast receipts   (signatures re-verified from the stored bytes)")
            print(agent(home, "receipts").stdout)

            step(8, "Shutting down")
        print(
            f"    all processes stopped; demo took {time.monotonic() - t0:.1f}s. Files kept in {work}"
        )
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
