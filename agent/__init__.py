"""The personal agent: works for the person, not the seller. Casts intents with the person's
terms, verifies and ranks offers, accepts one, and keeps the receipts on the person's disk.

Everything outside this package (the CLI's commands, the web page, the simulator's people,
the bench) goes through :class:`Agent`, so every rule holds for every way in: above all,
that only an offer shown to the person, live, and still within their terms can be accepted.

The cut: one exchange per module, each a room of its own, all talking through one
:class:`AgentSession` (``_session``: the transport, the profile cache, the offer opener):

- ``_collecting``: cast an intent, open and verify the offers, rank, store;
- ``_admission``: whether a new acceptance may be made (shown, live, still acceptable,
  the intent not already ordered);
- ``_answers``: every request to a vendor, believing only its signed answer to that very
  request (the rest counted and ignored until the timeout);
- ``_accepting``: the acceptance's state machine (:class:`AcceptState`, transitions in one
  table), from the stored acceptance to the stored receipt or refusal;
- ``_receipts``: countersignatures delivered and synced, receipts re-read;
- ``_cancelling``: the person's signed cancellation and the vendor's answer;
- ``_status``: what vendors say became of orders (shipped, delivered, cancelled), picked
  up from each order's mailbox, verified, kept and applied once;
- ``_rereading``: stored frames verified against the key each must come from;
- ``_watching`` and ``_daemon``: watched intents, kept open by the running agent
  (``intentcast agent``), which also serves the app (``_app*``, ``_charts``);
- ``_profile``: the person's details, and exactly what an offer's fulfilment needs of them;
- ``_relationships``: what each vendor holds about the person, read from their own records;
  ``_updating`` (details changed once for all vendors) and ``_forgetting`` (erasure) are
  its two exchanges; ``_aftercare`` puts them (and the person's "it arrived") behind the
  :class:`Agent`, and ``_rounds`` is the running agent's own schedule: mailboxes picked up,
  unanswered requests retried, backing off;
- ``_records`` and ``_store``: typed records (also the export format) and the SQLite store;
- ``_agent``: the public API, where each business rule lives once;
- ``_arguments`` and ``_cli`` (parse, call the API, print; ``_profile_cli`` and
  ``_relationships_cli`` for the profile, relationships and forget commands), ``_render``, ``_web``,
  ``_export`` and ``_import`` (with ``_carried``: statuses and the friend book): the person's
  edges, holding no rules of their own.

They are cut this way because each exchange changes for its own reasons (the protocol's
step, its failure modes, its tests), and none needs another's internals: a room gets the
session, the store and typed records, and nothing else."""

from ._accepting import TRANSITIONS, AcceptEvent, AcceptResult, transition
from ._admission import NotAcceptable
from ._aftercare import Changed, Delivered, Forgotten
from ._agent import OUTCOMES, Agent, Cancelled, Rated
from ._answers import VendorTooOld
from ._board_evidence import BoardEvidence, OpenedSource, ReceiptIndex
from ._collecting import MAX_OFFERS, Collected
from ._daemon import AgentDaemon
from ._friends import FriendBook, FriendError
from ._home import AgentConfig, Home, HomeError, PersonDetails, RankingWeights, TrustPolicy
from ._network_trust import NetworkTrust, NetworkWeights, rating_bundle
from ._opening import OfferOpener, admit_opened
from ._ranking import Dropped, Ranked, Ranker, rank_offers
from ._records import (
    AcceptRow,
    AcceptState,
    DropRow,
    IntentHistory,
    IntentRow,
    OfferRow,
    OrderState,
    ReceiptRow,
    StatusRow,
)
from ._registered import RegisteredTrust, with_registry
from ._relationships import Holding
from ._rereading import CheckedReceipt
from ._rounds import Schedule
from ._session import AcceptError, AgentSession, CancelError
from ._store import AgentStore, KeysNotHeld, UnknownReceipt
from ._trust import BetaTrust, TrustScore, TrustScorer, rating_evidence
from ._watching import Notice, WatchBook, WatchRow
from ._web import page as web_page

__all__ = [
    "MAX_OFFERS",
    "OUTCOMES",
    "TRANSITIONS",
    "AcceptError",
    "AcceptEvent",
    "AcceptResult",
    "AcceptRow",
    "AcceptState",
    "Agent",
    "AgentConfig",
    "AgentDaemon",
    "AgentSession",
    "AgentStore",
    "BetaTrust",
    "BoardEvidence",
    "CancelError",
    "Cancelled",
    "Changed",
    "CheckedReceipt",
    "Collected",
    "Delivered",
    "DropRow",
    "Dropped",
    "Forgotten",
    "FriendBook",
    "FriendError",
    "Holding",
    "Home",
    "HomeError",
    "IntentHistory",
    "IntentRow",
    "KeysNotHeld",
    "NetworkTrust",
    "NetworkWeights",
    "NotAcceptable",
    "Notice",
    "OfferOpener",
    "OfferRow",
    "OpenedSource",
    "OrderState",
    "PersonDetails",
    "Ranked",
    "Ranker",
    "RankingWeights",
    "Rated",
    "ReceiptIndex",
    "ReceiptRow",
    "RegisteredTrust",
    "Schedule",
    "StatusRow",
    "TrustPolicy",
    "TrustScore",
    "TrustScorer",
    "UnknownReceipt",
    "VendorTooOld",
    "WatchBook",
    "WatchRow",
    "admit_opened",
    "rank_offers",
    "rating_bundle",
    "rating_evidence",
    "transition",
    "web_page",
    "with_registry",
]
