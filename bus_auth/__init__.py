"""Per-connection permissions for a shared bus: the NATS auth callout service. It needs
neither service package; it stands beside the bus."""

from ._grants import person_publish, registrar_grant, vendor_publish
from ._jwt import JwtError, decode, encode
from ._policy import Policy, RegistrarGrant, VendorGrant, grant_for, person_reply_grant
from ._service import AUTH_SUBJECT, CalloutService

__all__ = [
    "AUTH_SUBJECT",
    "CalloutService",
    "JwtError",
    "Policy",
    "RegistrarGrant",
    "VendorGrant",
    "decode",
    "encode",
    "grant_for",
    "person_publish",
    "person_reply_grant",
    "registrar_grant",
    "vendor_publish",
]
