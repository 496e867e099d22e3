"""What services share beside the contract: the bus connection, the embedded nats-server,
logging, metrics, the durable SQLite opener and the reader of a vendor registry. It knows nothing of agents or vendors."""

from ._bus import Bus
from ._embedded import EmbeddedServer, NatsServerNotFound, find_nats_server, pid_alive
from ._faults import FAILPOINTS_ENV, failpoint
from ._http import HttpServer, Response
from ._logging import configure_logging
from ._metrics import Counter, Histogram, Registry
from ._process import ServiceProcess, wait_total
from ._registry_view import (
    LocalRegistrar,
    Registration,
    RegistryView,
    local_registrar_file,
    read_local_registrar,
    write_local_registrar,
)
from ._resolve import bus_url, default_data_dir, embedded_bus_file, running_embedded_bus
from ._store import open_db

__all__ = [
    "FAILPOINTS_ENV",
    "Bus",
    "Counter",
    "EmbeddedServer",
    "Histogram",
    "HttpServer",
    "LocalRegistrar",
    "NatsServerNotFound",
    "Registration",
    "Registry",
    "RegistryView",
    "Response",
    "ServiceProcess",
    "bus_url",
    "configure_logging",
    "default_data_dir",
    "embedded_bus_file",
    "failpoint",
    "find_nats_server",
    "local_registrar_file",
    "open_db",
    "pid_alive",
    "read_local_registrar",
    "running_embedded_bus",
    "wait_total",
    "write_local_registrar",
]
