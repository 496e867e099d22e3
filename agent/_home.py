"""The person's home: a config with their standing terms, trust policy and the details they
may disclose, and a SQLite store. Everything on their own disk."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

import schemas
from runtime import default_data_dir

__all__ = [
    "AgentConfig",
    "Home",
    "HomeError",
    "PersonDetails",
    "RankingWeights",
    "TrustPolicy",
    "person_section",
]


class HomeError(Exception):
    """The home is missing or its config is unusable; the message says what to do."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_PLAIN = r"^[^\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]*$"  # no control or bidi
Plain = Annotated[str, Field(max_length=200, pattern=_PLAIN)]


class PersonDetails(_Model):
    """What fulfilment may need (``intentcast profile``). Sent only inside an acceptance,
    sealed to one vendor, and only the fields that vendor's offer needs."""

    name: Plain = ""
    address: Annotated[list[Plain], Field(max_length=6)] = []  # street lines
    postcode: Annotated[str, Field(pattern="^([A-Za-z0-9][A-Za-z0-9 -]{0,15})?$")] = ""
    city: Annotated[str, Field(max_length=100, pattern=_PLAIN)] = ""
    country: Annotated[str, Field(pattern="^([A-Z]{2})?$")] = ""
    email: Annotated[str, Field(max_length=200, pattern=r"^([^@\s]+@[^@\s]+\.[^@\s]+)?$")] = ""
    phone: Annotated[str, Field(pattern=r"^(\+?[0-9][0-9 ()-]{3,30})?$")] = ""
    payment_methods: list[str] = ["card"]


class TrustPolicy(_Model):
    """How far the person lets trust decide. A *newcomer* is a vendor nothing is known of
    (its score says ``new``); an *established good* vendor has evidence and a score of at
    least ``established`` (unset: the prior's mean, what a stranger gets). A newcomer never
    ranks above the best established good vendor that offered, and at most
    ``newcomer_room`` newcomers sit among the first ``newcomer_window`` places."""

    threshold: Annotated[float, Field(ge=0, le=1)] = 0.2
    half_life_days: Annotated[float, Field(gt=0)] = 180.0
    prior_positive: Annotated[float, Field(gt=0)] = 1.0
    prior_negative: Annotated[float, Field(gt=0)] = 2.0
    established: Annotated[float, Field(ge=0, le=1)] | None = None
    newcomer_room: Annotated[int, Field(ge=0, le=50)] = 1
    newcomer_window: Annotated[int, Field(ge=1, le=50)] = 3
    # Blame that praise cannot buy off: a vendor is dropped once at least ``veto_share`` of
    # the evidence about it is bad and there is at least ``veto_evidence`` of it (weighted:
    # an order of one's own that never came is 2, a stranger's verified report of one 1, so
    # 2.5 is three strangers' reports, or one's own and one stranger's, each a little
    # forgotten). Praise is what a vendor can fake for itself; blame costs a real order.
    veto: bool = True
    veto_share: Annotated[float, Field(gt=0, le=1)] = 0.5
    veto_evidence: Annotated[float, Field(ge=0)] = 2.5

    def bad_evidence(self, value: float, evidence: float) -> float:
        """The weighted bad evidence behind a beta score of ``value`` over ``evidence``
        (what the agent's scorers give): b = (1 - value) x (priors + evidence) - prior-."""
        total = self.prior_positive + self.prior_negative + evidence
        return max(0.0, (1 - value) * total - self.prior_negative)

    @property
    def established_at(self) -> float:
        """The score from which a vendor with evidence counts as established and good."""
        if self.established is not None:
            return self.established
        return self.prior_positive / (self.prior_positive + self.prior_negative)


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
    # What may be disclosed, at most; an acceptance discloses what its offer needs of these.
    disclose: list[str] = ["name", "address", "postcode", "city", "country", "email", "phone"]
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
# what may be disclosed, at most; an accepted vendor gets only what its offer needs of it
disclose = ["name", "address", "postcode", "city", "country", "email", "phone"]

{person}
[trust]
threshold = 0.2        # vendors scoring below this are dropped
half_life_days = 180   # older evidence counts for less
newcomer_room = 1      # at most this many vendors nothing is known of ...
newcomer_window = 3    # ... among the first three places; none above a vendor with a good record
veto = true            # drop a vendor once half of what is known of it is bad (see README)

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

    def init(self, *, name: str, region: str, details: PersonDetails | None = None) -> None:
        if self.exists():
            raise HomeError(f"an agent home already exists at {self.path}; use it, or pass --home")
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        country = region.split("-")[0] if region else ""
        if details is None:
            details = PersonDetails(name=name, country=country)
        self.config_path.write_text(
            DEFAULT_CONFIG.format(
                region=region, roster=", ".join(sorted(schemas.ROSTER)),
                person=person_section(details),
            )
        )  # fmt: skip
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


def person_section(p: PersonDetails) -> str:
    """The ``[person]`` table of config.toml for ``p`` (JSON strings are TOML basic strings)."""

    def q(v: object) -> str:
        return json.dumps(v, ensure_ascii=False)

    lines = ["[person]   # intentcast profile set ... changes this (and tells your vendors)"]
    lines += [f"{k} = {q(getattr(p, k))}" for k in PersonDetails.model_fields]
    return "\n".join(lines) + "\n"
