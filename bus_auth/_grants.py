"""What each role may publish and subscribe to on a shared bus, beyond the market's own
subjects: the JetStream the ratings board and the registry need. One list for the callout
(``_policy``) and, copied and checked by a test, for deploy/nats/make_credentials.py.

- Only the **registrar** writes the registry: ``$KV.ic_registry.>`` and its bucket's stream
  administration. Everyone else may only read it, so nobody can put back an old entry after
  a revocation or write one of their own.
- Only **persons** (agents, who rate their own orders) publish ratings, ``ic.v1.rating.*``;
  they and vendors (choosing their certified ratings) may read the ratings board.
- Reading a stream is: its info, creating and deleting consumers on it (an ordered consumer
  delivers to the reader's own inbox), getting one message, and answering flow control.
  Creating or changing a stream is not reading: the operator creates ``IC_RATINGS`` (a
  stream a person could create could capture any subject).
- **Mailboxes** (docs/counter.md): vendors leave statuses in any mailbox (``ic.v1.mailbox.*.*``:
  they cannot know one that is not theirs, and what they leave is refused unless they signed
  it for that order) and keep their own order feed (``IC_FEED_...``, a stream they may
  create); persons read mailbox streams (pull consumers: fetch and acknowledge), never write
  to one. The operator creates the ``IC_MAILBOX_*`` streams.
- **Watched intents** (schemas/README.md, "Watched intents"): the operator creates the
  ``IC_WATCH_*`` streams. Persons publish watched intents into them (``ic.v1.watch.*.>``,
  acknowledged on their own inbox) and may see the streams' info, never read them. A vendor
  reads them only through its own durable consumer (``vendor-<16 hex>``, named in every API
  subject it may use, so it can neither read nor delete another vendor's consumer), and
  publishes offers to watched intents' reply subjects (``ic.v1.reply.*``: one token, so
  never a person's connection inbox ``ic.v1.reply.<token>.*``). Persons are not granted the
  intents' reply streams: a permission cannot pin a stream name by pattern (``IC_REPLY_*``
  is no wildcard), and one that pins a consumer's filter subject with ``*`` admits a
  literal ``*`` or ``>`` there, a filter over every intent's offers (tests/test_watch_secured.py
  shows both). docs/watch-grants.md says what is left.
- A registrar's and a vendor's requests get their replies on an inbox of their own subjects
  (``schemas.registrar_inbox``, ``schemas.vendor_inbox``), never on ``_INBOX.>``, where they would hear
  everyone's replies.
"""

from __future__ import annotations

from runtime import (
    MAILBOX_STREAMS,
    RATINGS_STREAM,
    WATCH_REPLIES,
    WATCH_REPLIES_OPEN,
    WATCH_STREAMS,
)

__all__ = [
    "mailbox_reader",
    "person_publish",
    "registrar_grant",
    "stream_reader",
    "vendor_publish",
    "watch_consumer",
]

# The contract's subjects, spelled out: bus_auth stands beside the bus and imports runtime
# only (tests/test_grants.py checks these against schemas').
_BUCKET = "ic_registry"  # schemas.REGISTRY_BUCKET
_REGISTRY_STREAM = f"KV_{_BUCKET}"


def stream_reader(stream: str) -> list[str]:
    """The JetStream API subjects a reader of ``stream`` publishes to."""
    api = "$JS.API"
    return [
        f"{api}.STREAM.INFO.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}.>",
        f"{api}.CONSUMER.DELETE.{stream}.>",
        f"{api}.CONSUMER.INFO.{stream}.>",
        f"{api}.STREAM.MSG.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def mailbox_reader() -> list[str]:
    """What a person's agent publishes to read its order mailboxes: a stream reader's, and a
    pull consumer's next-message requests and acknowledgements."""
    out = []
    for stream in MAILBOX_STREAMS:
        out += stream_reader(stream)
        out += [f"$JS.API.CONSUMER.MSG.NEXT.{stream}.>", f"$JS.ACK.{stream}.>"]
    return out


def watch_consumer(vendor_id: str) -> list[str]:
    """What a vendor publishes to read the watch streams through its own durable consumer
    (``schemas.vendor_queue_group``) and to answer watched intents."""
    durable = f"vendor-{vendor_id[:16]}"
    out = ["ic.v1.reply.*"]
    for stream in WATCH_STREAMS:
        out += [
            f"$JS.API.STREAM.INFO.{stream}",
            f"$JS.API.CONSUMER.CREATE.{stream}.{durable}",
            f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
            f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>",
        ]
    return out


def _vendor_streams(vendor_id: str) -> list[str]:
    feed = f"IC_FEED_{vendor_id[:16].upper()}"  # vendor_adapter's feed_stream
    return [
        "ic.v1.mailbox.*.*",
        *(f"$JS.API.STREAM.INFO.{stream}" for stream in MAILBOX_STREAMS),
        f"ic.v1.feed.{vendor_id}.>",
        f"$JS.API.STREAM.INFO.{feed}",
        f"$JS.API.STREAM.CREATE.{feed}",
    ]


def person_publish() -> list[str]:
    return [
        "ic.v1.intent.>",
        "ic.v1.vendor.*.order",
        "ic.v1.vendor.*.receipt",
        "ic.v1.vendor.*.cancel",
        "ic.v1.vendor.*.details",
        "ic.v1.vendor.*.erase",
        "ic.v1.rating.*",
        *stream_reader(RATINGS_STREAM),
        *stream_reader(_REGISTRY_STREAM),
        *mailbox_reader(),
        "ic.v1.watch.*.>",
        *(f"$JS.API.STREAM.INFO.{stream}" for stream in WATCH_STREAMS),
        WATCH_REPLIES_OPEN,
        f"$JS.API.STREAM.INFO.{WATCH_REPLIES}",
        f"$JS.API.CONSUMER.MSG.NEXT.{WATCH_REPLIES}.*",
        f"$JS.ACK.{WATCH_REPLIES}.*.>",
    ]


def vendor_publish(vendor_id: str) -> list[str]:
    return [
        f"ic.v1.profile.{vendor_id}",
        "ic.v1.registry.*.register",
        *stream_reader(RATINGS_STREAM),
        *_vendor_streams(vendor_id),
        *watch_consumer(vendor_id),
    ]


def registrar_grant(registrar_key: str) -> dict[str, object]:
    """NATS permissions of the registrar whose signing key is ``registrar_key`` (hex)."""
    bucket, api = _BUCKET, "$JS.API"
    return {
        "pub": {
            "allow": [
                f"$KV.{bucket}.>",
                f"{api}.STREAM.CREATE.{_REGISTRY_STREAM}",
                f"{api}.STREAM.UPDATE.{_REGISTRY_STREAM}",
                *stream_reader(_REGISTRY_STREAM),
            ]
        },
        "sub": {
            "allow": [
                f"ic.v1.registry.{registrar_key}.register",
                f"ic.v1.registry.{registrar_key}.inbox.>",
            ]
        },
        "resp": {"max": 1, "ttl": 120_000_000_000},
    }
