"""The app in a real headless Chromium (Debian's, driven through chromium-driver by
Selenium), at desktop (1280x800) and phone (390x844) widths, against the real `intentcast
agent` and real vendors on a real bus: cast with terms and a clause, offers arriving live
with rank, reasons and what was dropped and why, accept, rate, cancel, receipts and their
verification, trust with its evidence, standing terms, charts. Mostly by keyboard.
Screenshots of each step go to tests/artifacts/app-<width>/ (git-ignored)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime import ServiceProcess

from .conftest import BIN, Agent, VendorFactory

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).parent / "artifacts"
WAIT = 30.0

pytestmark = pytest.mark.browser

if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"expected {CHROMIUM} and {CHROMEDRIVER} on CI, found neither")
    pytest.skip(
        "no Chromium here: apt-get install chromium chromium-driver", allow_module_level=True
    )

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture
def browser_factory(tmp_path: Path) -> Iterator[Callable[[int, int], WebDriver]]:
    drivers: list[WebDriver] = []

    def make(width: int, height: int) -> WebDriver:
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    f"--window-size={width},{height}", f"--user-data-dir={tmp_path / 'chromium'}"):  # fmt: skip
            opts.add_argument(arg)
        d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        d.set_window_size(width, height)
        drivers.append(d)
        return d

    try:
        yield make
    finally:
        for d in drivers:
            d.quit()


def _until(d: WebDriver, what: str, check: Callable[[WebDriver], object]) -> object:
    # Live updates re-render lists while a check reads them: an element gone stale between
    # finding and reading it means "look again", not a failure.
    wait = WebDriverWait(d, WAIT, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(check, message=f"waited {WAIT}s for {what}")


def _text(d: WebDriver, css: str) -> str:
    return " ".join(e.text for e in d.find_elements(By.CSS_SELECTOR, css))


def _refreshed(d: WebDriver, before: str) -> Callable[[WebDriver], bool]:
    return lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") != before


def _ready(d: WebDriver) -> str:
    return str(d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))


def _shot(d: WebDriver, section: str, path: Path) -> None:
    d.execute_script("document.getElementById(arguments[0]).scrollIntoView()", section)
    d.save_screenshot(str(path))


def _press(e: WebElement) -> None:
    """Activate a control from the keyboard: focus it, then Enter (a button) or Space."""
    e.send_keys(Keys.ENTER if e.tag_name == "button" else Keys.SPACE)


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_the_person_runs_a_whole_purchase_from_the_app(
    width: int,
    height: int,
    person: Agent,
    vendor: VendorFactory,
    browser_factory: Callable[[int, int], WebDriver],
) -> None:
    """From the app alone: cast a watched intent (agreement and a clause), watch two offers
    arrive live ranked with reasons and the breaching vendor dropped with why, accept the
    first, see its receipt verify, rate it and see the trust evidence, cancel it, change
    the standing terms; charts are drawn; at phone width nothing overflows sideways."""
    shots = ARTIFACTS / f"app-{'desktop' if width > 600 else 'phone'}"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    for name in ("sierra", "cumbre", "hoarder"):
        vendor(name)
    agent = ServiceProcess(
        [str(BIN / "intentcast"), "--home", str(person.home), "agent", "--port", "0"],
        ready_event="agent.listening", name="intentcast agent", env=person.env,
    )  # fmt: skip
    with agent:
        url = str(agent.wait_for("agent.listening")["url"])
        d = browser_factory(width, height)
        d.get(url + "/")
        _until(d, "the first render", lambda d: _ready(d) != "None")
        d.save_screenshot(str(shots / "01-empty.png"))

        # Cast, by keyboard: type into the fields, choose the terms, Enter submits.
        d.find_element(By.ID, "f-description").send_keys("2-person tent")
        d.find_element(By.ID, "f-category").send_keys("outdoor/tents")
        d.find_element(By.ID, "f-max-price").send_keys("150EUR")
        d.find_element(By.ID, "f-region").send_keys("ES-28")
        Select(d.find_element(By.ID, "f-terms")).select_by_value("nostalking")
        d.find_element(By.ID, "c-warranty").send_keys("12")
        d.find_element(By.ID, "f-max-price").send_keys(Keys.ENTER)
        _until(d, "the cast", lambda d: "Cast " in d.find_element(By.ID, "cast-result").text)
        intent = agent.wait_for("watch.cast")["intent"]

        # Offers arrive live (server-sent events), without a reload.
        _until(d, "two offers", lambda d: len(d.find_elements(By.CSS_SELECTOR, ".offer")) == 2)
        _until(d, "the drop", lambda d: "DataHoarder Deals" in _text(d, ".drop"))
        assert agent.count("watch.offer_stored", intent=intent) == 3
        offers = d.find_elements(By.CSS_SELECTOR, ".offer")
        assert [o.find_element(By.CSS_SELECTOR, ".rank").text for o in offers] == ["#1", "#2"]
        assert all(o.find_elements(By.CSS_SELECTOR, "ul li") for o in offers)  # reasons
        assert "breach" in _text(d, ".drop") or "not shown" in _text(d, ".drop")
        _shot(d, "offers", shots / "02-offers.png")

        # Accept the first, from the keyboard.
        first = offers[0].get_attribute("data-offer")
        _press(offers[0].find_element(By.CSS_SELECTOR, "button.accept"))
        _until(d, "the receipt", lambda d: "signatures verify" in _text(d, ".receipt"))
        assert "Accepted" in _text(d, f'.offer[data-offer="{first}"] button')
        _shot(d, "receipts", shots / "03-receipt.png")
        _until(
            d,
            "the spending line",
            lambda d: d.find_elements(By.CSS_SELECTOR, "#chart-spending polyline.spent"),
        )
        _shot(d, "charts", shots / "03-charts-with-the-order.png")

        # Rate it 5/5 delivered: the vendor's trust now shows the rating as evidence.
        before = _ready(d)
        _press(d.find_element(By.CSS_SELECTOR, ".receipt button.rate"))
        _until(d, "the rating", _refreshed(d, before))
        _until(d, "the evidence", lambda d: "rating:" in _text(d, "#trust-list .vendor"))
        assert "Rated; trust is now" in d.find_element(By.ID, "live").text
        _shot(d, "trust", shots / "04-trust.png")

        # Cancel: the vendor signs that the order is off; the receipt says cancelled.
        _press(d.find_element(By.CSS_SELECTOR, ".receipt button.cancel"))
        _until(d, "the cancel", lambda d: "cancelled" in _text(d, ".receipt .status"))
        assert "the vendor signed that the order is off" in d.find_element(By.ID, "live").text
        _shot(d, "receipts", shots / "05-cancelled.png")

        # Standing terms: another agreement, the address no longer disclosed.
        Select(d.find_element(By.ID, "t-agreement")).select_by_value("sd-base")
        address = d.find_element(By.CSS_SELECTOR, '#t-disclose input[value="address"]')
        if address.is_selected():
            _press(address)
        _press(d.find_element(By.ID, "save-terms"))
        _until(
            d,
            "saved terms",
            lambda d: "Saved: sd-base" in d.find_element(By.ID, "terms-result").text,
        )
        config = (person.home / "config.toml").read_text()
        assert 'agreement = "sd-base"' in config and '"address"' not in config.split("[person]")[0]

        # Charts: inline SVG, with the order and the offers drawn.
        assert d.find_elements(By.CSS_SELECTOR, "#chart-offers svg rect.shown")
        assert d.find_elements(By.CSS_SELECTOR, "#chart-spending svg")
        _shot(d, "terms", shots / "06-terms.png")

        overflow = d.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0, f"the page is {overflow}px wider than the window"
