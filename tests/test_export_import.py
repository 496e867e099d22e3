"""`intentcast export` and `intentcast import` on a home with real purchases: one real market
(nats-server and three vendor adapters as subprocesses) is run once for the module, and every
test exports that person's home and imports it into a new one through the real CLI."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.pwhash.argon2id as argon2id
import pytest

from agent import AgentStore, Home
from agent._export import FORMAT, KDF_MODERATE, export_document
from runtime import EmbeddedServer, ServiceProcess
from tests.conftest import ADDRESS_FLAGS, BIN, Agent, _shared_dir

pytestmark = pytest.mark.e2e

PASSPHRASE = "correct horse battery staple"


@dataclass
class Market:
    server: EmbeddedServer
    person: Agent
    rated: str  # receipt rated in the old home; rated again in new ones
    to_cancel: str  # confirmed receipt a test with keys cancels through a new home
    cancelled: str  # cancelled in the old home, so its signed cancellation is exported
    pending: str  # an offer never accepted
    root: Path

    def passphrase_file(self, text: str = PASSPHRASE) -> Path:
        p = self.root / f"pass-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
        p.write_text(text + "\n")
        return p


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    """Vendors Sierra, Cumbre and DataHoarder (whose offers breach the person's terms and are
    dropped), and a person with three confirmed orders (one rated, one cancelled), a drop for
    breach, and an offer never accepted."""
    root = tmp_path_factory.mktemp("export")
    server = EmbeddedServer(root / "nats-store")
    server.start()
    d = _shared_dir(root)
    procs: list[ServiceProcess] = []
    try:
        for name in ("sierra", "cumbre", "hoarder"):
            cfg = d / "vendors" / f"{name}.toml"
            cmd = [str(BIN / "intentcast-vendor"), "run", "--config", str(cfg), "--bus", server.url]
            procs.append(ServiceProcess(cmd, ready_event="vendor.ready", name=name).start())
        person = Agent(root / "person", server.url)
        person.ok("init", "--name", "Ada Lovelace", "--region", "ES-28", *ADDRESS_FLAGS)
        receipts = []
        for _ in range(3):
            got = person.want("--expect", "3")
            assert len(got["offers"]) == 2 and got["dropped"][0]["reason"] == "breach"
            acc = json.loads(person.ok("accept", got["offers"][0]["offer"][:8], "--json"))
            assert acc["status"] == "confirmed"
            receipts.append(acc["receipt"]["id"])
        person.ok("rate", receipts[0][:8], "--score", "4", "--outcome", "late")
        assert json.loads(person.ok("cancel", receipts[2][:8], "--json"))["cancelled"] is True
        pending = person.want("--expect", "3")["offers"][1]["offer"]
        yield Market(server, person, receipts[0], receipts[1], receipts[2], pending, root)
    finally:
        for p in procs:
            p.stop()
        server.stop()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `intentcast` command, with no passphrase in its environment."""
    env = {k: v for k, v in os.environ.items() if k != "INTENTCAST_PASSPHRASE"}
    return subprocess.run(
        [str(BIN / "intentcast"), *args], text=True, capture_output=True, timeout=120, env=env
    )


def _one_line_error(cp: subprocess.CompletedProcess[str]) -> str:
    assert cp.returncode == 2, (cp.returncode, cp.stdout, cp.stderr)
    assert "Traceback" not in cp.stderr
    lines = cp.stderr.strip().splitlines()
    assert len(lines) == 1, cp.stderr
    assert lines[0].startswith("intentcast: error: ")
    return lines[0]


def _export(m: Market, out: Path, *flags: str, home: Path | None = None) -> Path:
    cp = _cli("--home", str(home or m.person.home), "export", "--out", str(out), *flags)
    assert cp.returncode == 0, cp.stderr
    return out


def _import(m: Market, file: Path, home: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return _cli("import", str(file), "--home", str(home), *flags)


def _tables(home: Path) -> dict[str, list[tuple[Any, ...]]]:
    db = sqlite3.connect(home / "agent.sqlite")
    out = {
        t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()
        for t in ("intents", "offers", "drops", "accepts", "receipts", "outcomes")
    }
    db.close()
    return out


def _keyless(tables: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """The tables with each intent's private keys (its last two columns) left out."""
    return {**tables, "intents": [r[:6] for r in tables["intents"]]}


def _no_leftovers(target: Path) -> None:
    assert not target.exists()
    assert not [p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.")]


def test_round_trip_with_keys_restores_everything_and_cancel_and_rate_work(
    market: Market, tmp_path: Path
) -> None:
    """Export --include-keys and import through the real CLI: every row of every table is
    identical (exact signed bytes and keys), `receipts --json` and `history --json` print the
    same, the file holds no key in the clear, the new home exports the same content, and in
    it an order from before is rated and another cancelled, the vendor signing it is off."""
    pw = market.passphrase_file()
    f = _export(market, tmp_path / "mine.json", "--include-keys", "--passphrase-file", str(pw))
    assert f.stat().st_mode & 0o077 == 0  # owner-only
    old_keys = [r[6:8] for r in _tables(market.person.home)["intents"]]
    text = f.read_text()
    assert not any(k in text for pair in old_keys for k in pair)  # sealed, not in the clear
    doc = json.loads(text)
    assert doc["format"] == FORMAT and doc["keys"]["protection"] == "argon2id-secretbox"
    assert (doc["keys"]["kdf"]["opslimit"], doc["keys"]["kdf"]["memlimit"]) == KDF_MODERATE
    new = tmp_path / "new-home"
    cp = _import(market, f, new, "--passphrase-file", str(pw))
    assert cp.returncode == 0, cp.stderr
    n = {t: len(rows) for t, rows in _tables(market.person.home).items()}
    assert n["intents"] == 4 and n["receipts"] == 3 and n["drops"] == 4
    assert f"4 intents, {n['offers']} offers, 3 receipts (all verify), 1 ratings" in cp.stdout
    assert "keys restored" in cp.stdout
    assert _tables(new) == _tables(market.person.home)
    assert (new / "config.toml").read_bytes() == (market.person.home / "config.toml").read_bytes()
    again = json.loads(_export(market, tmp_path / "again.json", home=new).read_text())
    assert again["content"] == doc["content"]  # the new home exports what the old one did
    moved = Agent(new, market.server.url)
    for cmd in ("receipts", "history"):
        assert moved.ok(cmd, "--json") == market.person.ok(cmd, "--json")
    listing = json.loads(moved.ok("receipts", "--json"))
    assert [r["signatures_verify"] for r in listing] == [True, True, True]
    assert "rated Cumbre Sports 5/5" in moved.ok("rate", market.rated[:8], "--score", "5")
    out = json.loads(moved.ok("cancel", market.to_cancel[:8], "--json"))
    assert out == {"cancelled": True, "status": "rejected", "reason": "cancelled"}
    status = {r["receipt"]: r["status"] for r in json.loads(moved.ok("receipts", "--json"))}
    assert status[market.to_cancel] == "cancelled" and status[market.cancelled] == "cancelled"


def test_round_trip_without_keys_shows_everything_and_says_it_cannot_cancel(
    market: Market, tmp_path: Path
) -> None:
    """An export without --include-keys carries no key material at all; its import shows the
    same receipts and history and can rate, and cancel and accept say in one line (exit 2)
    that the keys were not exported, sending nothing; such a home cannot export keys it
    does not hold."""
    f = _export(market, tmp_path / "nokeys.json")
    text = f.read_text()
    doc = json.loads(text)
    assert doc["keys"] is None and "sign_seed" not in text and "seal_secret" not in text
    to_stdout = _cli("--home", str(market.person.home), "export")
    assert json.loads(to_stdout.stdout)["content"] == doc["content"]  # without --out: stdout
    for pair in (r[6:8] for r in _tables(market.person.home)["intents"]):
        assert not any(k in text for k in pair)
    new = tmp_path / "new-home"
    cp = _import(market, f, new)
    assert cp.returncode == 0, cp.stderr
    assert "no keys in this export" in cp.stdout
    moved = Agent(new, market.server.url)
    for cmd in ("receipts", "history"):
        assert moved.ok(cmd, "--json") == market.person.ok(cmd, "--json")
    assert {r[6:8] for r in _tables(new)["intents"]} == {("", "")}
    assert _keyless(_tables(new)) == _keyless(_tables(market.person.home))
    assert "rated Cumbre Sports 2/5" in moved.ok("rate", market.rated[:8], "--score", "2")
    for args in (("cancel", market.to_cancel[:8]), ("accept", market.pending[:8])):
        line = _one_line_error(moved.run(*args))
        assert "imported from an export made without --include-keys" in line, line
    assert _tables(new)["receipts"] == _tables(market.person.home)["receipts"]  # nothing sent
    pw = market.passphrase_file()
    cp = _cli("--home", str(new), "export", "--include-keys", "--passphrase-file", str(pw))
    assert "imported without keys; export without --include-keys" in _one_line_error(cp)


def test_plaintext_keys_only_on_purpose(market: Market, tmp_path: Path) -> None:
    """--plaintext-keys writes the keys readable (and says so), imports without a passphrase,
    and restores them exactly; on its own, without --include-keys, it is refused."""
    line = _one_line_error(
        _cli("--home", str(market.person.home), "export", "--plaintext-keys", "--out", "x")
    )
    assert "--include-keys" in line
    cp = _cli(
        "--home", str(market.person.home), "export", "--include-keys", "--plaintext-keys",
        "--out", str(tmp_path / "plain.json"),
    )  # fmt: skip
    assert cp.returncode == 0 and "IN PLAINTEXT" in cp.stderr
    doc = json.loads((tmp_path / "plain.json").read_text())
    assert doc["keys"]["protection"] == "plaintext"
    cp = _import(market, tmp_path / "plain.json", tmp_path / "new")
    assert cp.returncode == 0, cp.stderr
    assert _tables(tmp_path / "new") == _tables(market.person.home)


def test_import_reads_the_argon2id_limits_from_the_file(market: Market, tmp_path: Path) -> None:
    """The file records the Argon2id limits it was sealed with and import uses those: one
    sealed with libsodium's interactive limits imports with the same passphrase, given in
    $INTENTCAST_PASSPHRASE. (A subprocess: `main` in-process would reconfigure this test
    process's logging for the tests after it.)"""
    home = Home(market.person.home)
    limits = (argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE)
    with AgentStore(home.db_path) as store:
        data = export_document(
            store, home, keys="sealed", passphrase="pass phrase 2", kdf_limits=limits
        )
    kdf = json.loads(data)["keys"]["kdf"]
    assert (kdf["opslimit"], kdf["memlimit"]) == limits != KDF_MODERATE
    f = tmp_path / "fast.json"
    f.write_bytes(data)
    cp = subprocess.run(
        [str(BIN / "intentcast"), "import", str(f), "--home", str(tmp_path / "new")],
        text=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "INTENTCAST_PASSPHRASE": "pass phrase 2"},
    )  # fmt: skip
    assert cp.returncode == 0, cp.stderr
    assert _tables(tmp_path / "new") == _tables(market.person.home)


def _redigest(doc: dict[str, Any]) -> dict[str, Any]:
    """What a forger would do: recompute the digest after an edit."""
    rest = {k: v for k, v in doc.items() if k != "digest"}
    canon = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    doc["digest"]["value"] = hashlib.sha256(canon.encode()).hexdigest()
    return doc


def _price_edit(doc: dict[str, Any]) -> dict[str, Any]:
    """The total in the first receipt's signed bytes, 9 EUR less (digits kept, so the frame
    still parses)."""
    r = doc["content"]["tables"]["receipts"][0]
    wire = base64.b64decode(r["receipt_wire"])
    i = wire.index(b'"amount":') + len(b'"amount":')
    j = i + wire[i:].index(b",")
    amount = int(wire[i:j])
    cheaper = str(amount - 900).rjust(j - i, "0").encode()
    r["receipt_wire"] = base64.b64encode(wire[:i] + cheaper + wire[j:]).decode()
    return doc


def _flip_byte(doc: dict[str, Any]) -> dict[str, Any]:
    """One bit flipped in the middle of the first offer's signed offer frame (past its
    signature and tag line, so only the signature check can notice)."""
    o = doc["content"]["tables"]["offers"][0]
    bundle = json.loads(base64.b64decode(o["bundle"]))
    frame = base64.b64decode(bundle["frames"][1])
    mid = len(frame) // 2
    frame = frame[:mid] + bytes([frame[mid] ^ 1]) + frame[mid + 1 :]
    bundle["frames"][1] = base64.b64encode(frame).decode()
    o["bundle"] = base64.b64encode(json.dumps(bundle, separators=(",", ":")).encode()).decode()
    return doc


def _vendor_name(doc: dict[str, Any]) -> dict[str, Any]:
    doc["content"]["tables"]["receipts"][0]["vendor_name"] = "Someone Else"
    return doc


def _memlimit(doc: dict[str, Any]) -> dict[str, Any]:
    doc["keys"]["kdf"]["memlimit"] = 1 << 40
    return doc


def _receipt_row(doc: dict[str, Any]) -> dict[str, Any]:
    """A receipt's order id column changed; its signed bytes say otherwise."""
    doc["content"]["tables"]["receipts"][0]["order_id"] = "0" * 32
    return doc


def _swap_keys(doc: dict[str, Any]) -> dict[str, Any]:
    """Two intents' plaintext keys exchanged."""
    keys = doc["keys"]["intents"]
    a, b = list(keys)[:2]
    keys[a], keys[b] = keys[b], keys[a]
    return doc


def _hostile_field(doc: dict[str, Any]) -> dict[str, Any]:
    """A field whose name would retitle the terminal and start a new line if printed raw."""
    doc["content"]["tables"]["drops"][0]["\x1b]0;owned\x07\nintentcast: all fine"] = 1
    return doc


def _format(doc: dict[str, Any]) -> dict[str, Any]:
    doc["format"] = "intentcast-export/3"
    return doc


@pytest.fixture(scope="module")
def exports(market: Market, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One export with sealed keys and one without, for the bad-input cases to spoil."""
    d = tmp_path_factory.mktemp("exports")
    pw = market.passphrase_file()
    return {
        "keys": _export(market, d / "keys.json", "--include-keys", "--passphrase-file", str(pw)),
        "nokeys": _export(market, d / "nokeys.json"),
        "plain": _export(market, d / "plain.json", "--include-keys", "--plaintext-keys"),
    }


@pytest.mark.parametrize(
    ("which", "spoil", "passphrase", "says"),
    [
        ("keys", None, "not the passphrase", "wrong passphrase"),
        ("keys", None, "", "expected a passphrase from --passphrase-file PATH"),
        ("keys", "truncate", PASSPHRASE, "got invalid JSON"),
        ("nokeys", "truncate", None, "got invalid JSON"),
        ("nokeys", _flip_byte, None, "edited or damaged after export"),
        ("nokeys", _price_edit, None, "edited or damaged after export"),
        ("nokeys", lambda d: _redigest(_price_edit(d)), None, "countersignature to verify, got 1 that do not"),
        ("keys", lambda d: _redigest(_price_edit(d)), PASSPHRASE, "expected the content the keys were sealed with"),
        ("keys", lambda d: _redigest(_vendor_name(d)), PASSPHRASE, "expected the content the keys were sealed with"),
        ("nokeys", lambda d: _redigest(_flip_byte(d)), None, "does not verify (bad_signature"),
        ("keys", lambda d: _redigest(_memlimit(d)), PASSPHRASE, "expected Argon2id limits"),
        ("nokeys", _format, None, "expected format 'intentcast-export/2', got 'intentcast-export/3'"),
        ("nokeys", lambda d: _redigest(_receipt_row(d)), None, "disagrees with its signed bytes"),
        ("plain", lambda d: _redigest(_swap_keys(d)), None, "got keys other than those it was cast with"),
        ("nokeys", lambda d: _redigest(_hostile_field(d)), None, "unknown field `\\x1b]0;owned\\x07\\nintentcast"),
    ],
    ids=[
        "wrong-passphrase", "no-passphrase", "truncated-keys", "truncated", "flipped-byte",
        "price-edited", "price-edited-digest-recomputed", "price-edited-with-keys",
        "unsigned-field-edited-with-keys", "flipped-byte-digest-recomputed", "kdf-memlimit-huge",
        "unknown-format", "receipt-row-edited", "keys-swapped",
        "hostile-field-name",
    ],
)  # fmt: skip
def test_bad_import_is_one_line_exit_2_and_leaves_no_home(
    market: Market,
    exports: dict[str, Path],
    tmp_path: Path,
    which: str,
    spoil: Callable[[dict[str, Any]], dict[str, Any]] | str | None,
    passphrase: str | None,
    says: str,
) -> None:
    """A wrong or missing passphrase, a truncated file, an edited one (a flipped byte, a
    changed price with or without the digest recomputed, an unsigned field changed under
    sealed keys), absurd Argon2id limits or an unknown format version: one line saying what
    is wrong, exit 2, and neither the new home nor its temporary sibling exists afterwards.
    Plaintext keys that are not the keys their intents name are refused, and what the file
    says is quoted with control characters escaped."""
    src = exports[which]
    f = tmp_path / "spoilt.json"
    if spoil == "truncate":
        data = src.read_bytes()
        f.write_bytes(data[: len(data) // 2])
    elif callable(spoil):
        f.write_text(json.dumps(spoil(json.loads(src.read_text()))))
    else:
        f.write_bytes(src.read_bytes())
    flags = ["--passphrase-file", str(market.passphrase_file(passphrase))] if passphrase else []
    target = tmp_path / "new-home"
    cp = subprocess.run(
        [str(BIN / "intentcast"), "import", str(f), "--home", str(target), *flags],
        text=True,
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin"},  # no $INTENTCAST_PASSPHRASE from the outside
    )
    assert says in _one_line_error(cp)
    _no_leftovers(target)


def test_import_refuses_a_home_that_holds_something(
    market: Market, exports: dict[str, Path], tmp_path: Path
) -> None:
    """A target home that exists and is not empty is refused in one line (exit 2) and left
    exactly as it was; an existing empty directory is fine."""
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    line = _one_line_error(_import(market, exports["nokeys"], taken))
    assert "already holds something" in line
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    assert (taken / "notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _import(market, exports["nokeys"], empty).returncode == 0
    assert _keyless(_tables(empty)) == _keyless(_tables(market.person.home))


def test_export_refuses_a_store_with_columns_it_does_not_know(
    market: Market, tmp_path: Path
) -> None:
    """Export writes every column of every table, or refuses: a store with a column the
    format lacks is one line and exit 2, never an export that silently leaves it out."""
    copy = tmp_path / "copy"
    shutil.copytree(market.person.home, copy)
    db = sqlite3.connect(copy / "agent.sqlite")
    db.execute("ALTER TABLE receipts ADD COLUMN note TEXT")
    db.commit()
    db.close()
    line = _one_line_error(_cli("--home", str(copy), "export", "--out", str(tmp_path / "x.json")))
    assert "receipts table" in line and "'note'" in line
    assert not (tmp_path / "x.json").exists()


def test_export_with_keys_needs_a_passphrase_of_some_length(market: Market, tmp_path: Path) -> None:
    """--include-keys with no passphrase to be had (no file, no $INTENTCAST_PASSPHRASE, no
    terminal), or a short one, is one line and exit 2, and writes no file."""
    out = tmp_path / "x.json"
    home = str(market.person.home)
    cp = subprocess.run(
        [str(BIN / "intentcast"), "--home", home, "export", "--include-keys", "--out", str(out)],
        text=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert "expected a passphrase from --passphrase-file" in _one_line_error(cp)
    short = market.passphrase_file("short")
    cp = _cli(
        "--home",
        home,
        "export",
        "--include-keys",
        "--passphrase-file",
        str(short),
        "--out",
        str(out),
    )
    assert "at least 8 characters" in _one_line_error(cp)
    assert not out.exists()
