"""What services share beside the contract: the bus connection and the transport seam over
it, the embedded nats-server, logging, metrics, clean stops on signals, the durable SQLite
opener, the ratings board and the reader of a vendor registry. It knows nothing of agents or
vendors."""

from ._bus import REPLY_KEY_PROOF_TAG, REPLY_TOKENS, Bus, reply_key_proof_bytes, reply_tokens
from ._embedded import (
    EmbeddedServer,
    NatsServerNotFound,
    PortInUse,
    find_nats_server,
    pid_alive,
)
from ._faults import FAILPOINTS_ENV, failpoint
from ._http import HttpServer, Response
from ._inprocess import InProcessTransport
from ._keyfiles import key_file
from ._logging import configure_logging
from ._mailbox import MAILBOX_LIMITS, MAILBOX_STREAMS, Mailboxes
from ._metrics import Counter, Histogram, Registry
from ._nats_transport import NatsTransport
from ._process import ServiceProcess, wait_total
from ._ratings import RATINGS_STREAM, RatingsBoard
from ._registry_view import (
    LocalRegistrar,
    Registration,
    RegistryView,
    local_registrar_file,
    read_local_registrar,
    write_local_registrar,
)
from ._resolve import bus_url, default_data_dir, embedded_bus_file, running_embedded_bus
from ._signals import STOP_SIGNALS, StopOnSignals
from ._store import open_db
from ._transport import (
    Handler,
    Message,
    NoResponders,
    NoRespondersHandler,
    Subscription,
    Transport,
    TransportError,
    WrappedTransport,
)
from ._watch_streams import (
    REPLY_STREAM_SLACK,
    WATCH_REPLIES,
    WATCH_REPLIES_AGE,
    WATCH_REPLIES_OPEN,
    WATCH_STREAMS,
    StreamConsumer,
    WatchStreams,
    reply_stream,
    watch_consumer_name,
)

__all__ = [
    "FAILPOINTS_ENV",
    "MAILBOX_LIMITS",
    "MAILBOX_STREAMS",
    "RATINGS_STREAM",
    "REPLY_KEY_PROOF_TAG",
    "REPLY_STREAM_SLACK",
    "REPLY_TOKENS",
    "STOP_SIGNALS",
    "WATCH_REPLIES",
    "WATCH_REPLIES_AGE",
    "WATCH_REPLIES_OPEN",
    "WATCH_STREAMS",
    "Bus",
    "Counter",
    "EmbeddedServer",
    "Handler",
    "Histogram",
    "HttpServer",
    "InProcessTransport",
    "LocalRegistrar",
    "Mailboxes",
    "Message",
    "NatsServerNotFound",
    "NatsTransport",
    "NoResponders",
    "NoRespondersHandler",
    "PortInUse",
    "RatingsBoard",
    "Registration",
    "Registry",
    "RegistryView",
    "Response",
    "ServiceProcess",
    "StopOnSignals",
    "StreamConsumer",
    "Subscription",
    "Transport",
    "TransportError",
    "WatchStreams",
    "WrappedTransport",
    "bus_url",
    "configure_logging",
    "default_data_dir",
    "embedded_bus_file",
    "failpoint",
    "find_nats_server",
    "key_file",
    "local_registrar_file",
    "open_db",
    "pid_alive",
    "read_local_registrar",
    "reply_key_proof_bytes",
    "reply_stream",
    "reply_tokens",
    "running_embedded_bus",
    "wait_total",
    "watch_consumer_name",
    "write_local_registrar",
]
