"""Plug-ins: what a scenario can swap, and how a scenario names them.

Four kinds, each an object made from the scenario's table (its keys other than ``use``
are the constructor's keyword arguments):

- a **vendor behaviour** (``[[vendors]] behaviour``): whether an order arrives, and when an
  identity walks away and rejoins under a fresh key;
- a **trust model** (``[[persons]] trust_mode``): makes each person's ``agent.TrustScorer``;
- a **choice model** (``[[persons]] choice``): which shown offer a person accepts;
- a **rating behaviour** (``[[persons]] rating``): what a person publishes about an order
  (their own agent always records what really happened).

A name is a built-in (``argmax``, ``network``, ...), a dotted path (``mypkg.models:Greedy``
or ``mypkg.models.Greedy``), or an entry point in the group ``intentcast.sim``. The
built-in kinds are plug-ins of the same interfaces (``_builtins``).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from agent import BetaTrust, TrustPolicy, TrustScorer

__all__ = [
    "ENTRY_POINT_GROUP",
    "ChoiceModel",
    "Identity",
    "Option",
    "PluginError",
    "PluginKind",
    "RatingBehaviour",
    "RatingSource",
    "Sale",
    "TrustModel",
    "VendorBehaviour",
    "load_plugin",
]

ENTRY_POINT_GROUP = "intentcast.sim"
PluginKind = Literal["vendor", "trust", "choice", "rating"]
RatingSource = Callable[[str], list[tuple[int, bytes]]]  # vendor id -> (sequence, bundle)


class PluginError(ValueError):
    """A plug-in that cannot be found or made; the message says which and why."""


@dataclass(frozen=True)
class Identity:
    """One identity of a simulated vendor, as the market knows it."""

    vendor_id: str
    group: int  # the vendor's group, in the order of [[vendors]]
    kind: str
    generation: int  # identities this vendor had before this one
    since_round: int
    orders: int  # orders this identity confirmed
    bad_ratings: int  # published ratings of it saying not delivered


@dataclass(frozen=True)
class Sale:
    identity: Identity
    round: int
    now: datetime  # simulated time


@dataclass(frozen=True)
class Option:
    """One offer shown to a person, as a choice model sees it (best ranked first)."""

    vendor_id: str
    vendor_group: int  # -1 for a vendor the market did not make
    score: float
    trust: float
    new: bool
    price: int


@runtime_checkable
class VendorBehaviour(Protocol):
    def delivery_probability(self, sale: Sale) -> float: ...

    def rejoins(self, identity: Identity, round: int) -> bool: ...


@runtime_checkable
class TrustModel(Protocol):
    uses_ratings: bool  # the market opens a ratings board; these people publish to it

    def scorer(
        self, own: BetaTrust, policy: TrustPolicy, ratings: RatingSource | None
    ) -> TrustScorer: ...


@runtime_checkable
class ChoiceModel(Protocol):
    def choose(self, options: Sequence[Option], rng: random.Random) -> int | None: ...


@runtime_checkable
class RatingBehaviour(Protocol):
    def publish(
        self, vendor_group: int, score: int, outcome: str, rng: random.Random
    ) -> tuple[int, str] | None: ...


_PROTOCOLS: dict[PluginKind, type] = {
    "vendor": VendorBehaviour,
    "trust": TrustModel,
    "choice": ChoiceModel,
    "rating": RatingBehaviour,
}


def _find(kind: PluginKind, name: str) -> Any:
    from ._builtins import BUILTINS

    if name in BUILTINS[kind]:
        return BUILTINS[kind][name]
    if ":" in name or "." in name:
        module, _, attr = name.partition(":") if ":" in name else name.rpartition(".")
        try:
            found = getattr(importlib.import_module(module), attr)
        except ImportError as exc:
            raise PluginError(f"cannot import {module!r} for {name!r}: {exc}") from None
        except AttributeError:
            raise PluginError(f"module {module!r} has no {attr!r}") from None
        return found
    points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
    for point in points:
        return point.load()
    known = ", ".join(sorted(BUILTINS[kind]))
    raise PluginError(
        f"expected a built-in ({known}), a dotted path (module:Class) or an entry point in "
        f"{ENTRY_POINT_GROUP!r}; got {name!r}"
    )


def load_plugin(kind: PluginKind, spec: str | dict[str, Any]) -> Any:
    """The plug-in ``spec`` names (a name, or a table with ``use`` and its arguments), made
    and checked against its interface; :class:`PluginError` says what is wrong."""
    if isinstance(spec, str):
        name, params = spec, {}
    else:
        params = dict(spec)
        name = params.pop("use", None)
        if not isinstance(name, str):
            raise PluginError(f'expected a table with use = "<plug-in name>", got {spec!r}')
    factory = _find(kind, name)
    try:
        made = factory(**params)
    except TypeError as exc:
        raise PluginError(f"{name}: {exc}") from None
    except ValueError as exc:
        raise PluginError(f"{name}: {exc}") from None
    if not isinstance(made, _PROTOCOLS[kind]):
        raise PluginError(
            f"{name}: expected a {_PROTOCOLS[kind].__name__} (see the researcher's guide), "
            f"got {type(made).__name__}"
        )
    return made
