"""What services share beside the contract: the bus connection, the embedded nats-server,
logging, metrics, clean stops on signals and the durable SQLite opener. It knows nothing of agents or vendors."""

from ._bus import Bus
from ._embedded import (
    EmbeddedServer,
    NatsServerNotFound,
    PortInUse,
    find_nats_server,
    pid_alive,
)
from ._faults import FAILPOINTS_ENV, failpoint
from ._http import HttpServer, Response
from ._logging import configure_logging
from ._metrics import Counter, Histogram, Registry
from ._process import ServiceProcess
from ._resolve import bus_url, default_data_dir, embedded_bus_file, running_embedded_bus
from ._signals import STOP_SIGNALS, StopOnSignals
from ._store import open_db

__all__ = [
    "FAILPOINTS_ENV",
    "STOP_SIGNALS",
    "Bus",
    "Counter",
    "EmbeddedServer",
    "Histogram",
    "HttpServer",
    "NatsServerNotFound",
    "PortInUse",
    "Registry",
    "Response",
    "ServiceProcess",
    "StopOnSignals",
    "bus_url",
    "configure_logging",
    "default_data_dir",
    "embedded_bus_file",
    "failpoint",
    "find_nats_server",
    "open_db",
    "pid_alive",
    "running_embedded_bus",
]
