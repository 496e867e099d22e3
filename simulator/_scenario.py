"""A market scenario: who is in it, what they want and sell, how many rounds. Read from TOML
and checked with pydantic, so a mistake says where it is and what was expected."""

from __future__ import annotations

import resource
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

import schemas
from agent import RankingWeights, TrustPolicy

from ._plugins import PluginError, PluginKind, load_plugin

__all__ = [
    "PersonGroup",
    "PluginSpec",
    "Scenario",
    "ScenarioError",
    "VendorGroup",
    "check_fits",
    "load_scenario",
    "one_line",
]

# A plug-in by name ("network", "mypkg.models:Greedy"), or a table naming it with ``use``
# beside its arguments ({use = "softmax", temperature = 0.1}).
PluginSpec = str | dict[str, Any]

HostileMode = Literal["forged", "tampered", "expired", "replayed"]
HOSTILE_MODES: tuple[HostileMode, ...] = ("forged", "tampered", "expired", "replayed")


class ScenarioError(Exception):
    """A scenario file that cannot be used; the message says where and why."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_plugin(kind: PluginKind, spec: PluginSpec | None) -> PluginSpec | None:
    if spec is not None:
        try:
            load_plugin(kind, spec)
        except PluginError as exc:
            raise ValueError(str(exc)) from None
    return spec


Range = tuple[float, float]


class VendorGroup(_Model):
    """``count`` vendors of one kind.

    - ``honest``: a real vendor adapter that delivers what it sells;
    - ``bait``: a real vendor adapter, good offers, but the goods never arrive (the person
      rates it "not_delivered");
    - ``breach``: a real vendor adapter whose standing terms track, share and keep data;
    - ``hostile``: a bus client that forges, tampers with, backdates and replays offers.
    """

    kind: Literal["honest", "bait", "breach", "hostile"]
    count: Annotated[int, Field(ge=0, le=500)] = 1
    price_factor: Range = (0.85, 1.05)  # list price = the category's base price x U(lo, hi)
    delivery_days: tuple[int, int] = (2, 7)
    categories: list[str] | None = None  # None: every category of the scenario
    modes: list[HostileMode] = list(HOSTILE_MODES)
    # Chance that a vendor of this group is up in a given round (the others hear nothing).
    availability: Annotated[float, Field(ge=0, le=1)] = 1.0
    # Chance that an order it confirmed arrives: by default 1 for honest, 0 for bait; between
    # the two it models honest failure, or camouflage (good some of the time).
    delivery_probability: Annotated[float, Field(ge=0, le=1)] | None = None
    # A vendor behaviour plug-in in place of the kind's (delivery, identity changes).
    behaviour: PluginSpec | None = None
    # Every N rounds each vendor of the group walks away and returns under a fresh identity
    # (fresh keys, no history: whitewashing). The simulator runs no registrar, so a rejoin
    # costs nothing: the worst case for the people.
    rejoin_every: Annotated[int, Field(ge=1)] | None = None
    # Fake five-star ratings each identity mints for itself per round (self-praise; a group
    # of colluding identities praising each other makes the same bytes, see _fakes).
    praise_per_round: Annotated[float, Field(ge=0, le=100)] = 0.0
    # Every N rounds one vendor of the group buys from the rival it fears most (the top
    # offer of another group) and rates it 1, not delivered: a smear, paid for.
    smear_every: Annotated[int, Field(ge=1)] | None = None

    @field_validator("behaviour")
    @classmethod
    def _behaviour(cls, v: PluginSpec | None, info: ValidationInfo) -> PluginSpec | None:
        if v is not None and info.data.get("delivery_probability") is not None:
            raise ValueError("expected delivery_probability or a behaviour, got both")
        return _check_plugin("vendor", v)


class PersonGroup(_Model):
    """``count`` people who share terms, a budget habit, and how their agents judge: the
    trust policy and ranking weights are the agent's own settings (``[trust]`` and
    ``[ranking]`` in a person's config), so groups can compare them."""

    count: Annotated[int, Field(ge=1, le=1000)] = 1
    # A roster agreement, or "none" (None from Python) for people with no must-haves, as a
    # person's config says it.
    agreement: str | None = "nostalking"
    budget_factor: Range = (0.95, 1.4)  # most they pay = the category's base price x U(lo, hi)
    wanted_within_days: tuple[int, int] = (5, 20)
    trust: TrustPolicy = TrustPolicy()
    ranking: RankingWeights = RankingWeights()
    # How these people's agents judge vendors: ``none`` (every vendor alike), ``own`` (each
    # person's own receipts and ratings), ``network`` (own evidence fused with the ratings
    # other buyers published to the bus's ratings board, which these people publish to too).
    # Any trust model plug-in may stand here too.
    trust_mode: PluginSpec = "own"
    # Which shown offer a person takes: argmax (the top), softmax (temperature),
    # trust_proportional, epsilon (exploration), pretrusted (groups), or a plug-in.
    choice: PluginSpec = "argmax"
    # What a person publishes about an order: honest, lying, colluding (groups), silent.
    rating: PluginSpec = "honest"
    # The friends graph: each person follows this many others of their group, drawn at
    # random (seeded); read by trust_mode "network+friends".
    friends: Annotated[int, Field(ge=0, le=50)] = 0

    @field_validator("agreement")
    @classmethod
    def _no_agreement(cls, v: str | None) -> str | None:
        return None if v == "none" else v

    @field_validator("trust_mode", "choice", "rating")
    @classmethod
    def _plugins(cls, v: PluginSpec, info: ValidationInfo) -> PluginSpec:
        kind: PluginKind = {"trust_mode": "trust", "choice": "choice", "rating": "rating"}[
            info.field_name or ""
        ]  # type: ignore[assignment]
        _check_plugin(kind, v)
        return v


class Scenario(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    description: str = ""
    seed: int = 1
    # full: the real bus, crypto and stores; fast: the same decisions in memory (``_fast``).
    mode: Literal["full", "fast"] = "full"
    rounds: Annotated[int, Field(ge=1, le=1_000_000)] = 50
    # Intents in flight at once: rounds are taken this many at a time, cast and collected
    # concurrently, then settled (choice, acceptance, outcome, rating) in round order.
    in_flight: Annotated[int, Field(ge=1, le=64)] = 1
    window_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    # Simulated days between rounds: forgetting, expiry and retention run on this clock.
    days_per_round: Annotated[float, Field(ge=0, le=365)] = 0.0
    # Ratings older than this (simulated days) are no longer read; unset: kept for the run.
    ratings_retention_days: Annotated[float, Field(gt=0)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    categories: dict[str, Annotated[int, Field(gt=0)]]  # category -> base price, minor units
    persons: Annotated[list[PersonGroup], Field(min_length=1)]
    vendors: Annotated[list[VendorGroup], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        for c in self.categories:
            schemas.check_category(c)  # raises with suggestions
        for g in self.vendors:
            unknown = set(g.categories or ()) - set(self.categories)
            if unknown:
                raise ValueError(f"vendor categories {sorted(unknown)} are not in [categories]")
        for p in self.persons:
            if p.agreement is not None and p.agreement not in schemas.ROSTER:
                raise ValueError(
                    f"agreement {p.agreement!r} is not in the roster {sorted(schemas.ROSTER)}"
                    ' (or "none")'
                )
        return self


def one_line(exc: ValidationError) -> str:
    """The first problem of a failed check, naming its key, and how many more there are."""
    errors = exc.errors()
    e = errors[0]
    where = ".".join(str(p) for p in e["loc"]) or "(top)"
    msg = str(e["msg"]).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {msg} (got {e.get('input')!r:.80}){more}"


FILES_PER_PERSON = 3  # the SQLite store, its WAL and its shared memory
FILES_PER_VENDOR = 4


def check_fits(scenario: Scenario, *, raise_limit: bool = False) -> None:
    """Refuse a full-mode market that would run out of open files on this machine, and a
    fast-mode one with what fast mode cannot model. With ``raise_limit`` (the command line,
    which owns its process) a soft limit under what the market needs is first raised as far
    as the hard limit allows, and a line on stderr says so."""
    if scenario.mode == "fast":
        from ._fast import check_fast

        check_fast(scenario)
        return
    people = sum(p.count for p in scenario.persons)
    vendors = sum(v.count for v in scenario.vendors)
    need = FILES_PER_PERSON * people + FILES_PER_VENDOR * vendors + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or need <= soft:
        return
    if raise_limit and (hard == resource.RLIM_INFINITY or need <= hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        print(
            f"intentcast-sim: {people} people need about {need} open files in full mode;"
            f" raised this process's limit from {soft} to {need}",
            file=sys.stderr,
        )
        return
    raise ScenarioError(
        f"persons: {people} people and {vendors} vendors need about {need} open files "
        f"in full mode; this machine allows {soft}"
        + ("" if hard == resource.RLIM_INFINITY else f" (at most {hard})")
        + f" (raise it with `ulimit -n {need}`, or use fewer people)"
    )


def load_scenario(path: Path) -> Scenario:
    """Read and check a scenario file; :class:`ScenarioError` names the first problem's key
    in one line."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(f"{path}: {one_line(exc)}") from None
