"""Market simulations for researchers: seeded scenarios with honest and adversarial vendors
and many people, run over the real protocol code (the one package that may import both
services), with tables and plots."""

from ._hostile import (
    ABSURD_KINDS,
    HOSTILE_SKU_PREFIX,
    SCRIBBLED_NAME,
    SCRIBBLED_TITLE,
    Rogue,
    run_rogue,
)
from ._market import Market, RoundRecord
from ._report import summarize
from ._scenario import PersonGroup, Scenario, ScenarioError, VendorGroup, load_scenario

__all__ = [
    "ABSURD_KINDS",
    "HOSTILE_SKU_PREFIX",
    "SCRIBBLED_NAME",
    "SCRIBBLED_TITLE",
    "Market",
    "PersonGroup",
    "Rogue",
    "RoundRecord",
    "Scenario",
    "ScenarioError",
    "VendorGroup",
    "load_scenario",
    "run_rogue",
    "summarize",
]
