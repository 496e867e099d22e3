"""The vendor's config file (TOML), validated with pydantic: each problem is one line naming the
file, the key, what was expected and what arrived."""

from __future__ import annotations

import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

import schemas

__all__ = [
    "CatalogConfig",
    "CertifiedConfig",
    "ConfigError",
    "DeliveryConfig",
    "OrdersConfig",
    "PricingConfig",
    "VendorConfig",
    "load_config",
]

_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``10m``, ``1h``, ``7d``."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"expected a duration such as '90s', '10m', '1h' or '7d', got {text!r}")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


# Where a person who has no config yet can start from (both files exist in the repository;
# tests/test_vendor_check.py checks every path the vendor's messages name).
EXAMPLE = "demo/vendors/sierra.toml"
GUIDE = "README.md (Guide for the vendor)"


class ConfigError(Exception):
    """A config or catalog that cannot be used: ``problems`` holds one line for each thing to
    fix, naming the file, the key or row, what was expected and what was found."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems: tuple[str, ...] = problems


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TermsConfig(_Model):
    data_retention_days: Annotated[int, Field(ge=0, le=36500)]
    no_tracking: bool
    no_sharing: bool
    contact_via_agent_only: bool
    return_days: Annotated[int, Field(ge=0, le=3650)]
    warranty_months: Annotated[int, Field(ge=0, le=1200)]
    payment_methods: list[str]
    jurisdiction: str
    agreements: list[str] = []

    def to_wire(self) -> schemas.VendorTerms:
        return schemas.VendorTerms(**self.model_dump())


class CatalogConfig(_Model):
    kind: Literal["csv", "json", "sqlite", "plugin"]
    path: Path | None = None
    query: str = (
        "SELECT sku, title, category, price, currency, stock, attributes, keywords FROM items"
    )
    plugin: str | None = None  # "package.module:factory" or an entry point name
    options: dict[str, Any] = {}


class DiscountTier(_Model):
    min_quantity: Annotated[int, Field(ge=2)]
    percent: Annotated[float, Field(gt=0, lt=100)]


def _currency(code: str) -> str:
    if code not in schemas.ISO_4217:
        hint = f"; did you mean {code.upper()!r}?" if code.upper() in schemas.ISO_4217 else ""
        raise ValueError(f"expected an ISO 4217 currency code such as 'EUR', got {code!r}{hint}")
    return code


def _category_path(c: str) -> str:
    if not re.fullmatch(r"[a-z0-9-]{1,32}(/[a-z0-9-]{1,32}){0,4}", c):
        raise ValueError(f"expected a category path such as 'outdoor/tents', got {c!r}")
    return c


class PricingConfig(_Model):
    # The one currency the catalog's prices are in, if the vendor wants that checked.
    currency: Annotated[str, AfterValidator(_currency)] | None = None
    quantity_discounts: list[DiscountTier] = []
    floor_percent: Annotated[float, Field(gt=0, le=100)] = 100.0
    meet_budget: bool = True  # come down toward the floor to meet the person's maximum


def _duration_or_same(v: object) -> object:
    return parse_duration(v) if isinstance(v, str) else v


def _positive(d: timedelta) -> timedelta:
    if d <= timedelta(0):
        raise ValueError(f"expected a duration above zero such as '90s', got {d}")
    return d


Duration = Annotated[timedelta, BeforeValidator(_duration_or_same), AfterValidator(_positive)]


class LimitsConfig(_Model):
    intents_per_key_per_minute: Annotated[int, Field(ge=1)] = 5
    intents_per_category_per_second: Annotated[int, Field(ge=1)] = 500
    # Refusals of unverifiable input are counted at once but logged at most once per interval
    # (the first in full, then one summary of counts by reason), so junk cannot flood the log.
    rejection_log_interval: Duration = timedelta(seconds=10)


class OrdersConfig(_Model):
    """How much stock acceptances can hold before the person confirms (see the vendor guide).

    An acceptance from a fresh, unlinkable intent key holds stock for ``hold`` at most, unless
    the person's countersignature confirms the order first; unconfirmed orders together hold
    at most ``max_held_share`` of each item's stock (but always at least one unit); expired
    holds return to stock."""

    hold: Duration = timedelta(minutes=2)
    max_held_share: Annotated[float, Field(gt=0, le=1)] = 0.25


_AREA = re.compile(r"([A-Z]{2})(?:-([A-Z0-9]{1,3}))?")


def _area(text: str) -> str:
    if not _AREA.fullmatch(text):
        raise ValueError(
            "expected a country code such as 'ES', or a country and a postcode prefix of up to "
            f"3 letters or digits such as 'ES-28', got {text!r}"
        )
    return text


class DeliveryConfig(_Model):
    """Where the vendor delivers: countries ('ES') and postcode prefixes within them
    ('ES-28'). No offer is made for an intent outside them; offers say where they deliver.
    Empty: not stated (offers for any region, and the person's agent cannot check)."""

    areas: list[Annotated[str, AfterValidator(_area)]] = []


def _store_url(url: str) -> str:
    if url == "sqlite":
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f'expected "sqlite" or a postgresql:// URL, got {url[:40]!r}')
    if parts.password is not None:
        raise ValueError(
            "expected a URL without a password, got one with a password; put it in"
            " store_password_file or $PGPASSWORD instead"
        )
    return url


class FulfilmentConfig(_Model):
    """What an acceptance must disclose for an item to be fulfilled, unless its catalog row
    says otherwise (column ``needs``): a physical good needs a name and a postal address, a
    digital good an email. An acceptance lacking one is refused (``missing_details``)."""

    needs: list[schemas.Need] = ["name", "postal_address"]


class RegistrationConfig(_Model):
    """Register with a registrar at start-up: its key (64 hex digits), or "local" for the one
    serving this machine's embedded bus; ``regions`` are where the vendor delivers."""

    registrar: Annotated[str, Field(pattern="^(local|[0-9a-f]{64})$")]
    regions: list[Annotated[str, Field(pattern="^[A-Z]{2}(-[A-Z0-9]{1,3})?$")]] = []


class CertifiedConfig(_Model):
    """Certified reputation: attach up to ``count`` of the vendor's best ratings from the
    ratings board (score ``min_score`` or more, delivered or late) to each offer, as many as
    keep the sealed offer within ``max_box_kib`` (one of the box sizes: 4 to 32 KiB)."""

    attach: bool = False
    count: Annotated[int, Field(ge=1, le=8)] = 3
    min_score: Annotated[int, Field(ge=1, le=5)] = 4
    max_box_kib: Literal[4, 8, 16, 32] = 32


class VendorConfig(_Model):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    categories: Annotated[list[Annotated[str, AfterValidator(_category_path)]], Field(min_length=1)]
    keys_dir: Path = Path("keys")
    data_dir: Path = Path("data")
    bus_url: str | None = None
    bus_nkey_seed: Path | None = None  # credential for a secured bus (or $INTENTCAST_BUS_SEED)
    bus_tls_ca: Path | None = None  # CA of the bus's TLS certificate (or $INTENTCAST_BUS_CA)
    offer_validity: timedelta = timedelta(hours=1)
    delivery_days: Annotated[int, Field(ge=0, le=365)] = 3
    health_host: str = "127.0.0.1"
    health_port: int = 0  # 0: any free port; -1: no health endpoint
    purge_interval: timedelta = timedelta(minutes=10)
    # "honour": make no offer where the person's must-have terms cannot be met (and log why).
    # "counter": offer on the vendor's own terms anyway; the person's agent will drop it.
    terms_policy: Literal["honour", "counter"] = "honour"
    terms: TermsConfig
    catalog: CatalogConfig
    pricing: PricingConfig = PricingConfig()
    limits: LimitsConfig = LimitsConfig()
    registry: RegistrationConfig | None = None
    orders: OrdersConfig = OrdersConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    certified: CertifiedConfig = CertifiedConfig()
    # The order store: unset (or "sqlite") for data_dir/vendor.sqlite on this host, or a
    # "postgresql://user@host/db" URL shared by replicas on any hosts ($INTENTCAST_STORE wins).
    # The password comes from store_password_file, $PGPASSWORD or ~/.pgpass, never this file.
    store: Annotated[str, AfterValidator(_store_url)] | None = None
    store_password_file: Path | None = None
    # How long a store call waits for PostgreSQL (short: a stop waits for the call in flight).
    store_timeout: Duration = timedelta(seconds=3)
    # PostgreSQL connections per replica, and so acceptances in flight per replica (2-200).
    store_pool_size: Annotated[int, Field(ge=2, le=200)] = 10
    fulfilment: FulfilmentConfig = FulfilmentConfig()

    @field_validator("offer_validity", "purge_interval", mode="before")
    @classmethod
    def _duration(cls, v: object) -> object:
        return parse_duration(v) if isinstance(v, str) else v


def load_config(path: Path) -> VendorConfig:
    """Read and validate; relative paths resolve against the config file's folder."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: expected a vendor config file, got no such file; "
            f"start from {EXAMPLE} and see {GUIDE}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{path}: expected a readable UTF-8 config file, got {why}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: expected valid TOML, got {exc}") from None
    try:
        cfg = VendorConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(*(_problem(path, e) for e in exc.errors())) from None
    base = path.resolve().parent
    catalog = cfg.catalog
    if catalog.path is not None and not catalog.path.is_absolute():
        catalog = catalog.model_copy(update={"path": base / catalog.path})
    return cfg.model_copy(
        update={
            "keys_dir": cfg.keys_dir if cfg.keys_dir.is_absolute() else base / cfg.keys_dir,
            "bus_nkey_seed": None if cfg.bus_nkey_seed is None else base / cfg.bus_nkey_seed,
            "bus_tls_ca": None if cfg.bus_tls_ca is None else base / cfg.bus_tls_ca,
            "store_password_file": None
            if cfg.store_password_file is None
            else base / cfg.store_password_file,
            "data_dir": cfg.data_dir if cfg.data_dir.is_absolute() else base / cfg.data_dir,
            "catalog": catalog,
        }
    )


def _key(loc: tuple[int | str, ...]) -> str:
    """``('pricing', 'quantity_discounts', 0, 'percent')`` as ``pricing.quantity_discounts[0].percent``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _problem(path: Path, e: ErrorDetails) -> str:
    """One pydantic error as one line: file, key, what was expected, what was found."""
    key, msg = _key(e["loc"]), e["msg"]
    if e["type"] == "missing":
        return f"{path}: {key}: expected a value, got none; add it (see {EXAMPLE})"
    if e["type"] == "extra_forbidden":
        return (
            f"{path}: {key}: expected only known keys, got unknown key {e['loc'][-1]!r}; "
            f"remove it or fix its spelling (see {EXAMPLE})"
        )
    if msg.startswith("Value error, "):  # our own validators say expected and got
        return f"{path}: {key}: {msg.removeprefix('Value error, ')}"
    expected = msg.removeprefix("Input should be ") if msg.startswith("Input should be ") else msg
    return f"{path}: {key}: expected {expected}, got {e.get('input')!r}"
