"""No stranger writes on the person's screen: names, titles and reasons from the bus reach the
terminal and the web page without escapes, control characters, bidirectional overrides or
line breaks, capped in length; of a reply that did not verify, only its reason is counted."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent._screen import shown
from runtime import EmbeddedServer, ServiceProcess
from simulator import SCRIBBLED_NAME, SCRIBBLED_TITLE
from tests.conftest import DEMO, Agent, VendorFactory, agent_db, web_page

# Anything a terminal acts on: C0 and C1 controls, DEL, bidi controls, line separators.
UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("Tent\x1b]0;window title\x07 2p", "Tent 2p"),  # OSC window title, ended by BEL
        ("Tent\x1b]8;;http://x\x1b\\link", "Tentlink"),  # OSC hyperlink, ended by ST
        ("a\x1b[2J\x1b[Hb", "ab"),  # clear screen, cursor home
        ("\x9b31mred", "red"),  # 8-bit CSI
        ("bell\x07", "bell?"),
        ("one\ntwo\r\nthree", "one?two??three"),
        ("Sierra\u202eevil", "Sierra?evil"),  # right-to-left override
        ("a\u2066b\u2069c", "a?b?c"),  # isolates
        ("line\u2028sep", "line?sep"),
        ("zero\u200bwidth", "zero?width"),
        ("S\u0456erra", "S\u0456erra"),  # a look-alike is a question of trust, not of the screen
        ("x" * 100, "x" * 79 + "…"),
        ("trailing ESC\x1b", "trailing ESC"),
    ],
)
def test_each_class_of_unsafe_text_is_made_harmless(raw: str, want: str) -> None:
    """Escape sequences go whole, other invisible characters become '?', length is capped."""
    assert shown(raw) == want


@pytest.fixture
def scrawl(nats_server: EmbeddedServer) -> Iterator[ServiceProcess]:
    p = ServiceProcess(
        [
            str(Path(__import__("sys").executable)),
            str(DEMO / "rogue_vendor.py"),
            "--bus",
            nats_server.url,
            "--modes",
            "scribble,junk",
        ],
        ready_event="rogue.ready",
        name="scrawl",
    ).start()
    try:
        yield p
    finally:
        p.stop()


def _assert_clean(text: str) -> None:
    assert not UNSAFE.search(text.replace("\n", "")), [
        m.group() for m in UNSAFE.finditer(text.replace("\n", ""))
    ]
    lines = text.splitlines()
    forged = [ln for ln in lines if ln.lstrip().startswith("1. Sierra Outfitters: VERIFIED")]
    assert not forged, forged
    assert not [ln for ln in lines if ln.startswith("Accept one with: intentcast accept 00000000")]


def test_the_cli_prints_no_strangers_escapes_and_forges_no_lines(
    person: Agent, vendor: VendorFactory, scrawl: ServiceProcess, tmp_path: Path
) -> None:
    """A validly signed offer whose vendor name and title carry ESC/OSC, BEL, CR/LF and bidi
    overrides, and an unsealed junk reply carrying the same: the real CLI's bytes hold none of
    it, in the table, the reasons, the dropped list, history and receipts alike; the junk is
    counted by its reason and nothing of its text is shown or stored."""
    vendor("sierra")
    args = [a for a in person.want_args("--expect", "2", "--wait", "5s") if a != "--json"]
    out = person.run(*args)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    _assert_clean(text)
    assert "Scrawl" in text and "Tent?" in text  # the scribbler's offer was shown, made safe
    assert "1 unverified" in text  # the junk, counted
    assert "owned" not in text  # the OSC's payload went with it
    assert SCRIBBLED_TITLE not in text and SCRIBBLED_NAME not in text

    stored = agent_db(person.home).execute("SELECT reason, vendor_name, detail FROM drops")
    junk = [dict(r) for r in stored if r["reason"].startswith("unverified:")]
    assert junk and all(r["detail"] == "" and r["vendor_name"] is None for r in junk)

    for command in (["history"], ["receipts"], ["history", "--json"]):
        shown_text = person.ok(*command)
        _assert_clean(shown_text)
    data = json.loads(person.ok(*person.want_args("--expect", "2", "--wait", "5s")))
    for offer in data["offers"]:
        assert not UNSAFE.search(offer["vendor"] + offer["item"] + "".join(offer["reasons"]))
    assert all(d["detail"] == "" for d in data["dropped"] if d["reason"].startswith("unverified"))


def test_accepting_the_scribblers_offer_prints_a_clean_receipt(
    person: Agent, vendor: VendorFactory, scrawl: ServiceProcess
) -> None:
    """Even the confirmation path shows the stranger's name and title made safe. The
    scribbler does not answer acceptances, so the agent reports that, cleanly."""
    got = person.want("--expect", "1", "--wait", "5s")
    (offer,) = [o for o in got["offers"] if o["vendor"].startswith("Scrawl")]
    cp = person.run("accept", offer["offer"], "--timeout", "1s")
    _assert_clean(cp.stdout + cp.stderr)


def test_the_web_page_escapes_and_cleans_what_came_from_the_bus(
    person: Agent, vendor: VendorFactory, scrawl: ServiceProcess
) -> None:
    """The page shows the scribbler's name without its controls, and the junk reply only as a
    count: none of its bytes reach the HTML."""
    vendor("sierra")
    person.want("--expect", "2", "--wait", "5s")
    html = web_page(person.home)
    assert not UNSAFE.search(html)
    assert "Scrawl" in html and "owned" not in html
    assert "(not shown: it did not verify)" in html
