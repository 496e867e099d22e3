"""Message types of protocol version 1: one tagged union, tag field ``type``.

Times travel in the signed header (see ``_document``), not here. New fields must get defaults,
so that older and newer services keep reading each other's messages.

Every wire type lives in this one module (over 300 lines, on purpose): it is the part of the
contract other implementations read first, top to bottom, and the JSON Schemas in
``schemas/json`` are generated from it; the exchanges that build and open them each have a
module of their own.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from ._money import Money
from ._patterns import Digest, DigestOrEmpty, Id, KeyHex, pattern_meta
from ._terms import Terms, VendorTerms

__all__ = [
    "MESSAGE_TYPES",
    "Accept",
    "Bundle",
    "Cancel",
    "CertifiedRating",
    "Countersignature",
    "CountersignatureAck",
    "Decline",
    "DetailsAck",
    "DetailsUpdate",
    "Disclosure",
    "ErasureConfirmation",
    "ErasureRequest",
    "Intent",
    "IntentKeys",
    "Item",
    "Message",
    "Need",
    "Offer",
    "OrderConfirmation",
    "OrderStatus",
    "Rating",
    "Receipt",
    "Region",
    "RegistrationAnswer",
    "RegistrationRequest",
    "RegistryEntry",
    "VendorKey",
    "VendorProfile",
    "Want",
]

UtcTime = Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339, UTC")]
Category = Annotated[
    str,
    pattern_meta(
        "^[a-z0-9-]{1,32}(/[a-z0-9-]{1,32}){0,4}$",
        min_length=1,
        max_length=164,
        description="Category path such as outdoor/tents",
    ),
]
Text = Annotated[str, msgspec.Meta(max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=2000)]
AttrKey = Annotated[str, msgspec.Meta(max_length=40)]
Attributes = Annotated[dict[AttrKey, Text], msgspec.Meta(max_length=32)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
RegionCode = Annotated[
    str,
    pattern_meta(
        "^[A-Z]{2}(-[A-Z0-9]{1,3})?$",
        min_length=2,
        max_length=6,
        description="A country, optionally with a postcode prefix: ES or ES-28",
    ),
]
Subject = Annotated[str, pattern_meta(r"^[A-Za-z0-9_\-.]{1,200}$", min_length=1, max_length=200)]
# What fulfilment of an offer needs disclosed: postal_address is street lines, postcode, city
# and country; an acceptance lacking one of them is refused (reason missing_details).
Need = Literal["name", "postal_address", "email", "phone"]
DetailField = Literal["name", "address", "postcode", "city", "country", "email", "phone"]


class _Base(msgspec.Struct, frozen=True, forbid_unknown_fields=False, tag_field="type"):
    pass


class Want(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    description: Text
    attributes: Attributes = {}


class Region(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """A coarse delivery region: a country and at most a postcode prefix, never an address."""

    country: Annotated[str, pattern_meta("^[A-Z]{2}$", min_length=2, max_length=2)]
    postcode_prefix: Annotated[str, pattern_meta("^[A-Z0-9]{0,3}$", max_length=3)] = ""


class IntentKeys(msgspec.Struct, frozen=True, forbid_unknown_fields=False, kw_only=True):
    """Fresh per intent. ``sign``: Ed25519 key that signed the intent and will sign the
    acceptance. ``seal``: X25519 key that offers and confirmations are sealed to."""

    sign: KeyHex
    seal: KeyHex


class Intent(_Base, tag="intent", frozen=True, kw_only=True):
    """A purchase intent, broadcast to every vendor of its category."""

    id: Id
    category: Category
    want: Want
    quantity: Quantity
    max_price: Money  # the most the person will pay in total
    wanted_by: date
    region: Region
    terms: Terms
    keys: IntentKeys
    reply_subject: Subject


class Item(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    sku: Annotated[str, msgspec.Meta(max_length=64)]
    title: Text
    attributes: Attributes = {}


class VendorKey(msgspec.Struct, frozen=True, forbid_unknown_fields=False, kw_only=True):
    """A vendor's signing key (Ed25519) and sealing key (X25519) with a validity window."""

    sign: KeyHex
    seal: KeyHex
    not_before: UtcTime
    not_after: UtcTime


class VendorProfile(_Base, tag="vendor_profile", frozen=True, kw_only=True):
    """Who a vendor is: signed by its identity key, whose hex is ``vendor_id``."""

    vendor_id: KeyHex
    name: Text
    keys: Annotated[list[VendorKey], msgspec.Meta(min_length=1, max_length=8)]
    categories: Annotated[list[Category], msgspec.Meta(max_length=64)]
    terms: VendorTerms
    revoked: Annotated[list[KeyHex], msgspec.Meta(max_length=64)] = []


class CertifiedRating(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """A copy of one rating bundle from the ratings board, less the vendor's profile (the
    offer's own travels beside it): the frames exactly as they were signed."""

    rating: Annotated[bytes, msgspec.Meta(max_length=4096)]
    receipt: Annotated[bytes, msgspec.Meta(max_length=8192)]
    intent: Annotated[bytes, msgspec.Meta(max_length=16384)]


class Offer(_Base, tag="offer", frozen=True, kw_only=True):
    """A binding offer: the vendor honours it until the header's ``expires``."""

    id: Id
    intent_id: Id
    vendor_id: KeyHex
    item: Item
    quantity: Quantity
    unit_price: Money
    total_price: Money
    delivery_by: date
    terms: VendorTerms
    # Certified reputation: copies of ratings of this vendor from the ratings board, chosen
    # by the vendor (so an agent weighs them as selected evidence). Replaces ``evidence``
    # (digests nothing sent); receivers that do not know this field ignore it.
    certified: Annotated[list[CertifiedRating], msgspec.Meta(max_length=8)] = []
    # Where the vendor delivers; empty: not stated. An agent drops an offer none of whose
    # regions contains the intent's region.
    delivers_to: Annotated[list[Region], msgspec.Meta(max_length=32)] = []
    # What the acceptance must disclose for the vendor to fulfil it; the agent discloses
    # exactly these. Empty: nothing.
    needs: Annotated[list[Need], msgspec.Meta(max_length=4)] = []


class Disclosure(msgspec.Struct, frozen=True, forbid_unknown_fields=False, omit_defaults=True):
    """Only what fulfilment needs, sealed to the chosen vendor alone."""

    name: Text = ""
    address: Annotated[list[Text], msgspec.Meta(max_length=6)] = []
    postcode: Annotated[str, msgspec.Meta(max_length=16)] = ""
    country: Annotated[str, pattern_meta("^([A-Z]{2})?$", max_length=2)] = ""
    email: Text = ""
    phone: Annotated[str, msgspec.Meta(max_length=32)] = ""
    city: Annotated[str, msgspec.Meta(max_length=100)] = ""


class Accept(_Base, tag="accept", frozen=True, kw_only=True):
    """The person takes an offer. Signed by the intent's key; sealed to the vendor."""

    id: Id
    intent_id: Id
    offer_id: Id
    vendor_id: KeyHex
    intent_hash: Digest  # SHA-256 of the intent's signed bytes
    offer_hash: Digest  # SHA-256 of the offer's signed bytes
    payment_method: Annotated[str, msgspec.Meta(max_length=40)]
    disclosure: Disclosure
    reply_subject: Subject


class Decline(_Base, tag="decline", frozen=True, kw_only=True):
    id: Id
    intent_id: Id
    offer_id: Id
    vendor_id: KeyHex
    reason: Text = ""


class OrderConfirmation(_Base, tag="order_confirmation", frozen=True, kw_only=True):
    """The vendor's answer to an acceptance (``confirmed`` comes with a signed receipt;
    ``rejected`` says why in ``reason``, a reason code) or to a cancellation. Bound to the
    request it answers by ``request_hash``, the SHA-256 of that request's signed bytes (the
    acceptance, or the cancellation); empty only from vendors older than that binding, whose
    answers a receiver refuses as ``outdated``."""

    order_id: Id
    intent_id: Id
    offer_id: Id
    vendor_id: KeyHex
    status: Literal["confirmed", "rejected"]
    reason: Text = ""
    request_hash: DigestOrEmpty = ""


class Receipt(_Base, tag="receipt", frozen=True, kw_only=True):
    """Binds intent, offer and acceptance by hash. Signed by the vendor, countersigned by the
    person (see :class:`Countersignature`); both keep both."""

    id: Id
    order_id: Id
    intent_id: Id
    offer_id: Id
    vendor_id: KeyHex
    intent_hash: Digest
    offer_hash: Digest
    accept_hash: Digest
    item: Item
    quantity: Quantity
    total_price: Money
    delivery_by: date
    payment_method: Annotated[str, msgspec.Meta(max_length=40)]


class Countersignature(_Base, tag="countersignature", frozen=True, kw_only=True):
    """The person's signature on a vendor's receipt: signed by the intent's key."""

    receipt_id: Id
    receipt_hash: Digest  # SHA-256 of the receipt's signed bytes
    intent_id: Id
    vendor_id: KeyHex


class CountersignatureAck(_Base, tag="countersignature_ack", frozen=True, kw_only=True):
    """The vendor's answer to the person's countersignature, bound to it by ``request_hash``
    (the SHA-256 of the countersignature's signed bytes). ``stored``: kept beside the receipt,
    and the order is confirmed; ``refused``: not kept, ``reason`` (a reason code) says why."""

    receipt_id: Id
    request_hash: Digest
    intent_id: Id
    vendor_id: KeyHex
    status: Literal["stored", "refused"]
    reason: Text = ""


class Cancel(_Base, tag="cancel", frozen=True, kw_only=True):
    order_id: Id
    intent_id: Id
    offer_id: Id
    vendor_id: KeyHex
    by: Literal["person", "vendor"]
    reason: Text = ""


class OrderStatus(_Base, tag="order_status", frozen=True, kw_only=True):
    """The vendor says what became of a confirmed order: shipped, delivered, or cancelled by
    the vendor (``reason`` says why). Bound to the order by its receipt (id and hash), with a
    ``seq`` that grows by one with every status of that order, so a replay or a reorder shows.
    Signed by the vendor's signing key, sealed to the intent's seal key, left in the order's
    mailbox (``schemas.mailbox_subject``)."""

    order_id: Id
    receipt_id: Id
    receipt_hash: Digest
    intent_id: Id
    vendor_id: KeyHex
    seq: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    state: Literal["shipped", "delivered", "cancelled"]
    carrier: Text = ""
    tracking: Text = ""
    reason: Text = ""


class Rating(_Base, tag="rating", frozen=True, kw_only=True):
    """The person's rating of a completed order, bound to its receipt."""

    receipt_hash: Digest
    vendor_id: KeyHex
    score: Annotated[int, msgspec.Meta(ge=1, le=5)]
    outcome: Literal["delivered", "late", "not_delivered", "not_as_described", "returned"]
    comment: LongText = ""
    # The rater's friend seal (schemas._friends): random bytes to all but their followers.
    friend_seal: Annotated[bytes, msgspec.Meta(max_length=128)] = b""


class RegistrationRequest(_Base, tag="registration_request", frozen=True, kw_only=True):
    """A vendor asks one registrar to register its name. Signed by the vendor's identity key
    (``kid == vendor_id``: possession proven); ``registrar`` binds it to the registrar asked."""

    vendor_id: KeyHex
    registrar: KeyHex
    name: Text
    categories: Annotated[list[Category], msgspec.Meta(min_length=1, max_length=64)]
    regions: Annotated[list[RegionCode], msgspec.Meta(max_length=64)] = []


class RegistryEntry(_Base, tag="registry_entry", frozen=True, kw_only=True):
    """A registrar's word that ``vendor_id`` (the vendor's identity key, which signs its
    profile and so its signing keys) goes by ``name``, unique by ``skeleton`` among its
    entries. Signed by the registrar; ``serial`` grows with every re-issue, a revocation too."""

    vendor_id: KeyHex
    name: Text
    skeleton: Text
    categories: Annotated[list[Category], msgspec.Meta(min_length=1, max_length=64)]
    registered: date
    status: Literal["active", "revoked"]
    serial: Annotated[int, msgspec.Meta(ge=1)]
    regions: Annotated[list[RegionCode], msgspec.Meta(max_length=64)] = []
    reason: Text = ""


class RegistrationAnswer(_Base, tag="registration_answer", frozen=True, kw_only=True):
    """The registrar's answer to one request (bound by ``request_hash``). ``registered``
    travels with the entry; ``pending`` waits for an operator; ``refused`` says why in
    ``code`` (``name_taken``, ``confusable``, ``unknown_category``, ``revoked``, ``invalid``)."""

    vendor_id: KeyHex
    request_hash: Digest
    status: Literal["registered", "pending", "refused"]
    code: Annotated[str, msgspec.Meta(max_length=40)] = ""
    detail: Text = ""


class DetailsUpdate(_Base, tag="details_update", frozen=True, kw_only=True):
    """The person's changed details for one order a vendor holds. Signed by that order's
    intent key and sealed to the vendor, so it links nothing the order did not; bound to the
    order by ``receipt_hash``. ``changed`` names the fields replaced; their new values are in
    ``details`` (a field named but empty there is cleared)."""

    order_id: Id
    intent_id: Id
    vendor_id: KeyHex
    receipt_hash: Digest
    changed: Annotated[list[DetailField], msgspec.Meta(min_length=1, max_length=7)]
    details: Disclosure


class DetailsAck(_Base, tag="details_ack", frozen=True, kw_only=True):
    """The vendor's answer to one update (bound by ``update_hash``): ``applied``, or
    ``refused`` with a reason code (``erased``: its details are gone already)."""

    order_id: Id
    vendor_id: KeyHex
    update_hash: Digest
    status: Literal["applied", "refused"]
    reason: Annotated[str, msgspec.Meta(max_length=40)] = ""


class ErasureRequest(_Base, tag="erasure_request", frozen=True, kw_only=True):
    """The person asks a vendor to erase what it holds about them for one order (the GDPR's
    right to erasure). Signed by that order's intent key, bound by ``receipt_hash``."""

    order_id: Id
    intent_id: Id
    vendor_id: KeyHex
    receipt_hash: Digest


class ErasureConfirmation(_Base, tag="erasure_confirmation", frozen=True, kw_only=True):
    """The vendor's word, bound to the request by ``request_hash``, that the order's personal
    details are erased (``erased``); ``refused`` with a reason code is for vendors that must
    keep them (none of the codes yet: an adapter of this version always erases)."""

    order_id: Id
    vendor_id: KeyHex
    request_hash: Digest
    status: Literal["erased", "refused"]
    reason: Annotated[str, msgspec.Meta(max_length=40)] = ""


class Bundle(msgspec.Struct, frozen=True):
    """Frames that travel together inside one sealed box (an offer with its vendor's profile;
    a confirmation with its receipt; an acceptance with the intent and offer it binds)."""

    frames: Annotated[list[bytes], msgspec.Meta(min_length=1, max_length=4)]


Message = (
    Intent
    | Offer
    | VendorProfile
    | Accept
    | Decline
    | OrderConfirmation
    | Receipt
    | Countersignature
    | CountersignatureAck
    | Cancel
    | OrderStatus
    | Rating
    | RegistrationRequest
    | RegistryEntry
    | RegistrationAnswer
    | DetailsUpdate
    | DetailsAck
    | ErasureRequest
    | ErasureConfirmation
)

MESSAGE_TYPES: dict[str, type[_Base]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (
        Intent,
        Offer,
        VendorProfile,
        Accept,
        Decline,
        OrderConfirmation,
        Receipt,
        Countersignature,
        CountersignatureAck,
        Cancel,
        OrderStatus,
        Rating,
        RegistrationRequest,
        RegistryEntry,
        RegistrationAnswer,
        DetailsUpdate,
        DetailsAck,
        ErasureRequest,
        ErasureConfirmation,
    )
}
