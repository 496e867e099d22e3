"""intentcast's wire contract, protocol version 1: message types, signed frames, sealed boxes,
keys, subjects and typed errors. Pure: no I/O.

See ``schemas/README.md`` for the rules a vendor in any language implements. (Over 300
lines: the imports and the sorted list of public names, nothing else.)

The conversation is cut by exchange, one module each, written in the order its messages
travel and holding both sides of it: whoever builds a message and whoever opens it sit side
by side, so a change to what one side signs and what the other checks is one file to read.

- ``_offering``: cast an intent, open it, make an offer, open the offer.
- ``_ordering``: accept, open the acceptance, confirm (with a receipt), open the
  confirmation, countersign the receipt, open the countersignature.
- ``_cancelling``: cancel a confirmed order, open it, answer it, open the answer.
- ``_answers``: the rule by which the person's agent believes any answer (signed by the
  vendor dealt with, bound to the request by its hash), and the countersignature's answer.
- ``_status``: what became of an order (shipped, delivered, cancelled by the vendor),
  sealed to the intent and left in a mailbox named by what only the two parties hold.
- ``_registering``: a vendor asks a registrar to register its name, the registrar signs
  an entry and answers; anybody opens an entry against the registrars they trust. Names
  are compared by their skeleton (``_names``).
- ``_identity``: what every exchange leans on and which leans on none of them: the person's
  keys per intent, a vendor's keys and signed profile, key rings, the profile cache.

Below the exchanges, a frame is signed and verified in ``_envelope``, which only puts the
steps in order; each step keeps its own rules in its own module: the tag line in
``_framing``, the document and its header's times in ``_document``, seen nonces in
``_replay``, strict JSON in ``_strict_json``, field patterns in ``_patterns``. Message types
are ``_messages`` (with ``_money``, ``_terms``, ``_roster``, ``_taxonomy``); sealed boxes and
bundles ``_sealing``; subjects ``_subjects``; errors ``_errors``.

Ratings and re-reading archived frames have no functions of their own on this floor yet (the
``Rating`` type is in ``_messages``; stored frames are re-read with :func:`verify` and
``now=None``); each gets its module when it gets its functions, not before.
"""

from ._answers import ACK_LIFETIME, acknowledge, check_bound, open_acknowledgement
from ._archive import ArchivedOrder, intent_key_of_seed, reread_order
from ._cancelling import confirm_cancel, make_cancel, open_cancel, open_cancel_answer
from ._currencies import ISO_4217
from ._document import CLOCK_SKEW, MAX_LIFETIME, Header, check_times
from ._envelope import (
    Audience,
    KeyResolver,
    Verified,
    digest,
    kid_of,
    new_id,
    sign,
    verify,
)
from ._errors import (
    ERRORS_BY_CODE,
    BadSignature,
    Expired,
    Malformed,
    NotYetValid,
    Outdated,
    Oversized,
    ProtocolError,
    Rebound,
    Replayed,
    RevokedSigner,
    UnknownSigner,
    UnsupportedVersion,
)
from ._examples import example_tent_intent, example_vendor_terms
from ._framing import MAX_FRAME_BYTES, PROTOCOL, split_frame
from ._friends import (
    FRIEND_CARD_FORMAT,
    FRIEND_SEAL_BYTES,
    Friend,
    FriendCard,
    FriendIdentity,
    cover_seal,
    friend_seal,
    recognise_friend,
)
from ._identity import (
    IntentSecrets,
    KeyRing,
    ProfileCache,
    VendorSigner,
    make_profile,
    seal_key_for,
)
from ._jsonschema import json_schemas
from ._messages import (
    MESSAGE_TYPES,
    Accept,
    Bundle,
    Cancel,
    CertifiedRating,
    Countersignature,
    CountersignatureAck,
    Decline,
    Disclosure,
    Intent,
    IntentKeys,
    Item,
    Message,
    Offer,
    OrderConfirmation,
    OrderStatus,
    Rating,
    Receipt,
    Region,
    RegistrationAnswer,
    RegistrationRequest,
    RegistryEntry,
    VendorKey,
    VendorProfile,
    Want,
)
from ._money import CURRENCY_EXPONENTS, Money, parse_money
from ._names import name_skeleton
from ._offer_rules import OFFER_RULES, offer_fault
from ._offering import (
    INTENT_LIFETIMES,
    CastIntent,
    OpenedOffer,
    cast_intent,
    intent_lifetime,
    make_offer,
    open_intent,
    open_offer,
    open_offer_bundle,
)
from ._ordering import (
    OpenedAccept,
    OpenedConfirmation,
    countersign,
    make_accept,
    make_confirmation,
    open_accept,
    open_confirmation,
    open_countersignature,
)
from ._rating import (
    RATING_OUTCOMES,
    OpenedRating,
    certified_copy,
    latest_per_receipt,
    make_rating,
    open_certified,
    open_rating,
    rating_subject,
)
from ._reasons import (
    ACK_REASONS,
    CANCEL_REASONS,
    DECLINE_REASONS,
    REJECTION_REASONS,
    vendor_queue_group,
)
from ._registering import (
    ENTRY_LIFETIME,
    REGISTRY_BUCKET,
    make_entry,
    make_registration,
    make_registration_answer,
    name_claim_key,
    open_entry,
    open_registration,
    open_registration_answer,
    vendor_entry_key,
)
from ._replay import ReplayCache
from ._roster import ROSTER, Agreement, expand_terms
from ._sealing import BOX_SIZES, MAX_SEALED_BYTES, pack, seal, unpack, unseal
from ._status import (
    MAILBOX_DAYS,
    MAILBOX_ROOT,
    STATUS_STATES,
    mailbox_days,
    mailbox_stream,
    mailbox_subject,
    mailbox_token,
    make_status,
    open_status,
)
from ._subjects import (
    INTENT_ROOT,
    REPLY_ROOT,
    category_of,
    connection_reply_prefix,
    intent_subject,
    is_reply_subject,
    new_reply_subject,
    profile_subject,
    registrar_inbox,
    registry_subject,
    vendor_inbox,
    vendor_intent_subscriptions,
    vendor_subject,
)
from ._taxonomy import CATEGORIES, check_category
from ._terms import (
    BoolClause,
    ClauseResult,
    DaysClause,
    SetClause,
    Terms,
    TermsMatch,
    VendorTerms,
    match_terms,
)
from ._vectors import test_vectors as contract_vectors
from ._watching import (
    WATCH_LIFETIMES,
    WATCH_ROOT,
    intent_subject_of_watch,
    watch_bucket,
    watch_lifetime,
    watch_stream,
    watch_subject,
)

__all__ = [
    "ACK_LIFETIME",
    "ACK_REASONS",
    "BOX_SIZES",
    "CANCEL_REASONS",
    "CATEGORIES",
    "CLOCK_SKEW",
    "CURRENCY_EXPONENTS",
    "DECLINE_REASONS",
    "ENTRY_LIFETIME",
    "ERRORS_BY_CODE",
    "FRIEND_CARD_FORMAT",
    "FRIEND_SEAL_BYTES",
    "INTENT_LIFETIMES",
    "INTENT_ROOT",
    "ISO_4217",
    "MAILBOX_DAYS",
    "MAILBOX_ROOT",
    "MAX_FRAME_BYTES",
    "MAX_LIFETIME",
    "MAX_SEALED_BYTES",
    "MESSAGE_TYPES",
    "OFFER_RULES",
    "PROTOCOL",
    "RATING_OUTCOMES",
    "REGISTRY_BUCKET",
    "REJECTION_REASONS",
    "REPLY_ROOT",
    "ROSTER",
    "STATUS_STATES",
    "WATCH_LIFETIMES",
    "WATCH_ROOT",
    "Accept",
    "Agreement",
    "ArchivedOrder",
    "Audience",
    "BadSignature",
    "BoolClause",
    "Bundle",
    "Cancel",
    "CastIntent",
    "CertifiedRating",
    "ClauseResult",
    "Countersignature",
    "CountersignatureAck",
    "DaysClause",
    "Decline",
    "Disclosure",
    "Expired",
    "Friend",
    "FriendCard",
    "FriendIdentity",
    "Header",
    "Intent",
    "IntentKeys",
    "IntentSecrets",
    "Item",
    "KeyResolver",
    "KeyRing",
    "Malformed",
    "Message",
    "Money",
    "NotYetValid",
    "Offer",
    "OpenedAccept",
    "OpenedConfirmation",
    "OpenedOffer",
    "OpenedRating",
    "OrderConfirmation",
    "OrderStatus",
    "Outdated",
    "Oversized",
    "ProfileCache",
    "ProtocolError",
    "Rating",
    "Rebound",
    "Receipt",
    "Region",
    "RegistrationAnswer",
    "RegistrationRequest",
    "RegistryEntry",
    "ReplayCache",
    "Replayed",
    "RevokedSigner",
    "SetClause",
    "Terms",
    "TermsMatch",
    "UnknownSigner",
    "UnsupportedVersion",
    "VendorKey",
    "VendorProfile",
    "VendorSigner",
    "VendorTerms",
    "Verified",
    "Want",
    "acknowledge",
    "cast_intent",
    "category_of",
    "certified_copy",
    "check_bound",
    "check_category",
    "check_times",
    "confirm_cancel",
    "connection_reply_prefix",
    "contract_vectors",
    "countersign",
    "cover_seal",
    "digest",
    "example_tent_intent",
    "example_vendor_terms",
    "expand_terms",
    "friend_seal",
    "intent_key_of_seed",
    "intent_lifetime",
    "intent_subject",
    "intent_subject_of_watch",
    "is_reply_subject",
    "json_schemas",
    "kid_of",
    "latest_per_receipt",
    "mailbox_days",
    "mailbox_stream",
    "mailbox_subject",
    "mailbox_token",
    "make_accept",
    "make_cancel",
    "make_confirmation",
    "make_entry",
    "make_offer",
    "make_profile",
    "make_rating",
    "make_registration",
    "make_registration_answer",
    "make_status",
    "match_terms",
    "name_claim_key",
    "name_skeleton",
    "new_id",
    "new_reply_subject",
    "offer_fault",
    "open_accept",
    "open_acknowledgement",
    "open_cancel",
    "open_cancel_answer",
    "open_certified",
    "open_confirmation",
    "open_countersignature",
    "open_entry",
    "open_intent",
    "open_offer",
    "open_offer_bundle",
    "open_rating",
    "open_registration",
    "open_registration_answer",
    "open_status",
    "pack",
    "parse_money",
    "profile_subject",
    "rating_subject",
    "recognise_friend",
    "registrar_inbox",
    "registry_subject",
    "reread_order",
    "seal",
    "seal_key_for",
    "sign",
    "split_frame",
    "unpack",
    "unseal",
    "vendor_entry_key",
    "vendor_inbox",
    "vendor_intent_subscriptions",
    "vendor_queue_group",
    "vendor_subject",
    "verify",
    "watch_bucket",
    "watch_lifetime",
    "watch_stream",
    "watch_subject",
]
