"""The app after the order, in Debian's headless Chromium (desktop and phone widths), against
the real `intentcast agent` and real vendors on a real bus: the relationships panel (what
each vendor holds, the address changed once for all and acknowledged, erasure asked and its
signed confirmation shown), and a vendor's shipping news picked up by the running agent on
its own and shown on the receipt, with the one-click "it arrived". Screenshots go to
tests/artifacts/aftercare-<width>/."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from runtime import ServiceProcess

from .conftest import BIN, Agent, VendorFactory, agent_db, vendor_db
from .test_app_browser import ARTIFACTS, _press, _shot, _until, browser_factory
from .test_counter import bought, counter
from .test_relationships import _buy_from

__all__ = ["browser_factory"]  # the fixture, shared with test_app_browser

pytestmark = pytest.mark.browser


def _agent(person: Agent, *flags: str) -> ServiceProcess:
    return ServiceProcess(
        [str(BIN / "intentcast"), "--home", str(person.home), "agent", "--port", "0", *flags],
        ready_event="agent.listening", name="intentcast agent", env=person.env,
    )  # fmt: skip


def _shots(name: str, width: int) -> Path:
    d = ARTIFACTS / f"{name}-{'desktop' if width > 600 else 'phone'}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def _text(d: WebDriver, css: str) -> str:
    """The rendered text of what ``css`` selects, read in one go in the page (a render that
    replaces the elements meanwhile cannot leave a stale reference behind)."""
    got = d.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(e => e.innerText).join(' ')", css
    )
    return str(got)


def _row(d: WebDriver, vendor: str) -> str:
    """The text of one vendor's relationship card."""
    got = d.execute_script(
        "return [...document.querySelectorAll('.relationship')].map(e => e.innerText)"
        ".filter(t => t.includes(arguments[0]))[0] || ''",
        vendor,
    )
    return str(got)


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_the_person_changes_their_address_once_and_forgets_a_vendor_from_the_app(
    width: int,
    height: int,
    person: Agent,
    vendor: VendorFactory,
    tmp_path: Path,
    browser_factory: Callable[[int, int], WebDriver],
) -> None:
    """Orders from Sierra and Cumbre: the panel shows each holding the address; the new
    street typed in the app reaches both vendors' stores and the panel shows both updates
    acknowledged; "ask to erase" on Sierra shows its erasure confirmed with the signer's key
    of the confirmation the agent kept; Cumbre still holds the new address; at phone width
    nothing overflows sideways."""
    shots = _shots("aftercare", width)
    vendor("sierra")
    vendor("cumbre")
    for name in ("Sierra Outfitters", "Cumbre Sports"):
        _buy_from(person, name, expect=2)
    with _agent(person) as a:
        url = str(a.wait_for("agent.listening")["url"])
        d = browser_factory(width, height)
        d.get(url + "/")
        _until(
            d, "the panel", lambda d: len(d.find_elements(By.CSS_SELECTOR, ".relationship")) == 2
        )
        for name in ("Sierra Outfitters", "Cumbre Sports"):
            assert "address" in _row(d, name) and "none sent" in _row(d, name)
        _shot(d, "relationships", shots / "01-holdings.png")

        street = d.find_element(By.ID, "p-address")
        assert street.get_attribute("value") == "Calle Mayor 1"
        street.clear()
        street.send_keys("Calle Nueva 7")
        postcode = d.find_element(By.ID, "p-postcode")
        postcode.clear()
        postcode.send_keys("28004", Keys.ENTER)
        _until(
            d, "both acknowledged",
            lambda d: "2 of 2 vendors acknowledged" in d.find_element(By.ID, "address-result").text,
        )  # fmt: skip
        _until(
            d,
            "the panel",
            lambda d: _text(d, ".relationship .update").split() == ["acknowledged"] * 2,
        )
        for name in ("sierra", "cumbre"):
            (held,) = [
                json.loads(r[0])
                for r in vendor_db(tmp_path, name).execute("SELECT disclosure FROM orders")
            ]
            assert held["address"] == ["Calle Nueva 7"] and held["postcode"] == "28004"
        assert 'postcode = "28004"' in (person.home / "config.toml").read_text()
        _shot(d, "relationships", shots / "02-acknowledged.png")

        forget = (
            "//div[contains(@class, 'relationship')][.//strong[text()='Sierra Outfitters']]"
            "//button[contains(@class, 'forget')]"
        )
        _press(d.find_element(By.XPATH, forget))
        d.switch_to.alert.accept()
        _until(d, "the confirmation", lambda d: "signed by" in _row(d, "Sierra Outfitters"))
        assert "confirmed erasure, signed" in d.find_element(By.ID, "live").text
        (kept,) = agent_db(person.home).execute("SELECT confirmation_wire FROM relationship_erasures").fetchall()  # fmt: skip
        kid = bytes(kept[0])[64:].split(b"\n", 1)[0].split(b" ")[-1].decode()
        assert f"signed by {kid[:16]}..." in _row(d, "Sierra Outfitters")
        assert "confirmed" in _row(d, "Sierra Outfitters") and "signed by" not in _row(
            d, "Cumbre Sports"
        )
        assert (
            vendor_db(tmp_path, "sierra").execute("SELECT disclosure FROM orders").fetchone()[0]
            is None
        )
        _shot(d, "relationships", shots / "03-erased.png")
        overflow = d.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"the page is {overflow}px wider than the window"


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_the_running_agent_picks_up_shipping_news_and_the_app_shows_it(
    width: int,
    height: int,
    person: Agent,
    vendor: VendorFactory,
    tmp_path: Path,
    browser_factory: Callable[[int, int], WebDriver],
) -> None:
    """After the purchase no CLI command runs: Sierra's counter ships with Correos, the
    running agent picks the signed status up on its own schedule and notifies it; the app's
    receipt says shipped with the carrier (its markup shown as text) and tracking, live; "It arrived" stores the
    person's delivered rating; the vendor's own delivered then shows too; at phone width
    nothing overflows sideways."""
    shots = _shots("news", width)
    vendor("sierra")
    receipt = bought(person)
    with _agent(person, "--inbox-every", "0.5") as a:
        url = str(a.wait_for("agent.listening")["url"])
        d = browser_factory(width, height)
        d.get(url + "/")
        _until(d, "the receipt", lambda d: "signatures verify" in _text(d, ".receipt"))
        assert not d.find_elements(By.CSS_SELECTOR, ".receipt button.delivered")
        shipped = counter(
            tmp_path, "ship", receipt["order"][:8], "--carrier", "Correos<b>", "--tracking", "PK123"
        )
        assert shipped.returncode == 0, shipped.stderr
        a.wait_for("agent.notified", kind="status", timeout=30)
        _until(d, "shipped", lambda d: _text(d, ".receipt .status") == "shipped")
        news = _text(d, ".receipt .news-item")
        assert "shipped (Correos<b>, PK123)" in news and "signed #1" in news  # text, not markup
        assert not d.find_elements(By.CSS_SELECTOR, ".news b")
        assert "your order shipped (Correos<b>)" in d.find_element(By.ID, "live").text
        _shot(d, "receipts", shots / "01-shipped.png")

        _press(d.find_element(By.CSS_SELECTOR, ".receipt button.delivered"))
        _until(
            d,
            "the confirmation",
            lambda d: "Delivery confirmed" in d.find_element(By.ID, "live").text,
        )
        (rating,) = (
            agent_db(person.home).execute("SELECT * FROM outcomes WHERE kind = 'rating'").fetchall()
        )
        assert rating["ref"] == receipt["receipt"] and rating["positive"] > 0 == rating["negative"]

        assert counter(tmp_path, "delivered", receipt["order"][:8]).returncode == 0
        _until(d, "delivered", lambda d: _text(d, ".receipt .status") == "delivered")
        states = "return [...document.querySelectorAll('.news-item')].map(e => e.dataset.state)"
        assert d.execute_script(states) == ["shipped", "delivered"]
        _shot(d, "receipts", shots / "02-delivered.png")
        overflow = d.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"the page is {overflow}px wider than the window"
