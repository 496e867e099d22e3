"""Market simulations for researchers: seeded scenarios with honest and adversarial vendors
and many people, run over the real protocol code (the one package that may import both
services), with tables and plots."""

from ._api import Results, batch, run, sweep
from ._builtins import Delivers
from ._clock import SimClock
from ._fast import FastMarket, check_fast
from ._hostile import (
    ABSURD_KINDS,
    HOSTILE_SKU_PREFIX,
    SCRIBBLED_NAME,
    SCRIBBLED_TITLE,
    Rogue,
    run_rogue,
)
from ._market import Market, RoundRecord
from ._plugins import (
    ENTRY_POINT_GROUP,
    ChoiceModel,
    Identity,
    Option,
    PluginError,
    RatingBehaviour,
    RatingSource,
    Sale,
    TrustModel,
    VendorBehaviour,
    load_plugin,
)
from ._report import summarize
from ._scenario import PersonGroup, Scenario, ScenarioError, VendorGroup, load_scenario

__all__ = [
    "ABSURD_KINDS",
    "ENTRY_POINT_GROUP",
    "HOSTILE_SKU_PREFIX",
    "SCRIBBLED_NAME",
    "SCRIBBLED_TITLE",
    "ChoiceModel",
    "Delivers",
    "FastMarket",
    "Identity",
    "Market",
    "Option",
    "PersonGroup",
    "PluginError",
    "RatingBehaviour",
    "RatingSource",
    "Results",
    "Rogue",
    "RoundRecord",
    "Sale",
    "Scenario",
    "ScenarioError",
    "SimClock",
    "TrustModel",
    "VendorBehaviour",
    "VendorGroup",
    "batch",
    "check_fast",
    "load_plugin",
    "load_scenario",
    "run",
    "run_rogue",
    "summarize",
    "sweep",
]
