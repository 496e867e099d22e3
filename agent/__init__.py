"""The personal agent: works for the person, not the seller. Casts intents with the person's
terms, verifies and ranks offers, accepts one, and keeps the receipts on the person's disk."""

from ._home import AgentConfig, Home, HomeError, RankingWeights, TrustPolicy
from ._network_trust import NetworkTrust, NetworkWeights, rating_bundle
from ._ranking import Dropped, Ranked, Ranker, rank_offers
from ._registered import RegisteredTrust, with_registry
from ._session import (
    AcceptError,
    AcceptResult,
    AgentSession,
    CancelError,
    Collected,
    accept_offer,
    cancel_order,
    cast_and_collect,
    deliver_countersignature,
    sync_receipts,
)
from ._store import AgentStore, UnknownReceipt
from ._trust import BetaTrust, TrustScore, TrustScorer, rating_evidence

__all__ = [
    "AcceptError",
    "AcceptResult",
    "AgentConfig",
    "AgentSession",
    "AgentStore",
    "BetaTrust",
    "CancelError",
    "Collected",
    "Dropped",
    "Home",
    "HomeError",
    "NetworkTrust",
    "NetworkWeights",
    "Ranked",
    "Ranker",
    "RankingWeights",
    "RegisteredTrust",
    "TrustPolicy",
    "TrustScore",
    "TrustScorer",
    "UnknownReceipt",
    "accept_offer",
    "cancel_order",
    "cast_and_collect",
    "deliver_countersignature",
    "rank_offers",
    "rating_bundle",
    "rating_evidence",
    "sync_receipts",
    "with_registry",
]
