"""The person's home: a config with their standing terms, trust policy and the details they
may disclose, and a SQLite store. Everything on their own disk."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import schemas
from runtime import default_data_dir

__all__ = ["AgentConfig", "Home", "HomeError", "PersonDetails", "RankingWeights", "TrustPolicy"]


class HomeError(Exception):
    """The home is missing or its config is unusable; the message says what to do."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PersonDetails(_Model):
    """What fulfilment may need. Sent only inside an acceptance, sealed to one vendor."""

    name: str = ""
    address: list[str] = []
    postcode: str = ""
    country: str = ""
    email: str = ""
    phone: str = ""
    payment_methods: list[str] = ["card"]


class TrustPolicy(_Model):
    threshold: Annotated[float, Field(ge=0, le=1)] = 0.2
    half_life_days: Annotated[float, Field(gt=0)] = 180.0
    prior_positive: Annotated[float, Field(gt=0)] = 1.0
    prior_negative: Annotated[float, Field(gt=0)] = 2.0


class RankingWeights(_Model):
    price: Annotated[float, Field(ge=0)] = 0.4
    delivery: Annotated[float, Field(ge=0)] = 0.2
    terms: Annotated[float, Field(ge=0)] = 0.2
    trust: Annotated[float, Field(ge=0)] = 0.2
    show: Annotated[int, Field(ge=1, le=50)] = 5


RegistrarKey = Annotated[str, Field(pattern="^[0-9a-f]{64}$")]


class AgentConfig(_Model):
    bus_url: str | None = None
    # Registrars whose entries you believe, like a set of CAs: their Ed25519 keys in hex.
    registrars: list[RegistrarKey] = []
    registry_bucket: Annotated[str, Field(pattern="^[A-Za-z0-9_-]{1,64}$")] = (
        schemas.REGISTRY_BUCKET
    )
    # Whether strangers can join your bus. Unset: yes whenever you trust a registrar, and then
    # offers from vendors it has not registered are dropped. false: a bus of your own vendors;
    # unregistered ones are shown, marked as such.
    shared_bus: bool | None = None
    region: str = ""  # default region for intents, e.g. "ES-28"
    agreement: str | None = "nostalking"  # the standing agreement from the roster
    disclose: list[str] = ["name", "address", "postcode", "country"]
    person: PersonDetails = PersonDetails()
    trust: TrustPolicy = TrustPolicy()
    ranking: RankingWeights = RankingWeights()


DEFAULT_CONFIG = """\
# intentcast personal agent. Everything here stays on this disk.
# bus_url = "nats://127.0.0.1:4222"   # or set INTENTCAST_BUS; unset: the embedded bus
# registrars = ["<hex key>"]           # whose vendor names you believe (intentcast-registry key)
# shared_bus = true                    # drop vendors no trusted registrar registered
region = "{region}"                    # country and postcode prefix, e.g. ES-28; never an address
agreement = "nostalking"               # standing terms from the roster: {roster}
disclose = ["name", "address", "postcode", "country"]   # sent only to the vendor you accept

[person]
name = "{name}"
address = []
postcode = ""
country = "{country}"
payment_methods = ["card"]

[trust]
threshold = 0.2        # vendors scoring below this are dropped
half_life_days = 180   # older evidence counts for less

[ranking]
price = 0.4
delivery = 0.2
terms = 0.2
trust = 0.2
show = 5
"""


class Home:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or Path(os.environ.get("INTENTCAST_HOME") or default_data_dir() / "agent")
        self.config_path = self.path / "config.toml"
        self.db_path = self.path / "agent.sqlite"

    def exists(self) -> bool:
        return self.config_path.exists()

    def init(self, *, name: str, region: str) -> None:
        if self.exists():
            raise HomeError(f"an agent home already exists at {self.path}; use it, or pass --home")
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        country = region.split("-")[0] if region else ""
        self.config_path.write_text(
            DEFAULT_CONFIG.format(
                name=name, region=region, country=country, roster=", ".join(sorted(schemas.ROSTER))
            )
        )
        os.chmod(self.config_path, 0o600)

    def config(self) -> AgentConfig:
        if not self.exists():
            raise HomeError(
                f"no agent home at {self.path}; run `intentcast init` first (or pass --home DIR)"
            )
        try:
            raw = tomllib.loads(self.config_path.read_text())
            cfg = AgentConfig.model_validate(raw)
        except tomllib.TOMLDecodeError as exc:
            raise HomeError(f"{self.config_path}: not valid TOML: {exc}") from None
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(p) for p in e["loc"])
            raise HomeError(
                f"{self.config_path}: {where}: {e['msg']} (got {e.get('input')!r})"
            ) from None
        if cfg.agreement is not None and cfg.agreement not in schemas.ROSTER:
            raise HomeError(
                f"{self.config_path}: agreement: expected one of {', '.join(sorted(schemas.ROSTER))}, got {cfg.agreement!r}"
            )
        return cfg
