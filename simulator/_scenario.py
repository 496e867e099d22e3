"""A market scenario: who is in it, what they want and sell, how many rounds. Read from TOML
and checked with pydantic, so a mistake says where it is and what was expected."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import schemas
from agent import RankingWeights, TrustPolicy

__all__ = ["PersonGroup", "Scenario", "ScenarioError", "VendorGroup", "load_scenario"]

HostileMode = Literal["forged", "tampered", "expired", "replayed"]
HOSTILE_MODES: tuple[HostileMode, ...] = ("forged", "tampered", "expired", "replayed")


class ScenarioError(Exception):
    """A scenario file that cannot be used; the message says where and why."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class PersonGroup(_Model):
    """``count`` people who share terms, a budget habit, and how their agents judge: the
    trust policy and ranking weights are the agent's own settings (``[trust]`` and
    ``[ranking]`` in a person's config), so groups can compare them."""

    count: Annotated[int, Field(ge=1, le=1000)] = 1
    agreement: str | None = "nostalking"  # a roster agreement, or None for no must-haves
    budget_factor: Range = (0.95, 1.4)  # most they pay = the category's base price x U(lo, hi)
    wanted_within_days: tuple[int, int] = (5, 20)
    trust: TrustPolicy = TrustPolicy()
    ranking: RankingWeights = RankingWeights()
    # How these people's agents judge vendors: ``none`` (every vendor alike), ``own`` (each
    # person's own receipts and ratings), ``network`` (own evidence fused with the ratings
    # other buyers published to the bus's ratings board, which these people publish to too).
    trust_mode: Literal["none", "own", "network"] = "own"


class Scenario(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    description: str = ""
    seed: int = 1
    rounds: Annotated[int, Field(ge=1, le=100_000)] = 50
    window_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
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
                )
        return self


def load_scenario(path: Path) -> Scenario:
    """Read and check a scenario file; :class:`ScenarioError` lists every problem."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']} (got {e.get('input')!r:.80})"
            for e in exc.errors()
        ]
        raise ScenarioError(f"{path}: {len(lines)} problem(s):\n" + "\n".join(lines)) from None
