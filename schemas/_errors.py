"""Typed rejections. Every one says what was expected, what arrived, and where."""

from __future__ import annotations

__all__ = [
    "BadSignature",
    "Expired",
    "Malformed",
    "NotYetValid",
    "Oversized",
    "ProtocolError",
    "Rebound",
    "Replayed",
    "RevokedSigner",
    "UnknownSigner",
    "UnsupportedVersion",
]


class ProtocolError(Exception):
    """A message that must not be trusted.

    ``code`` is a stable machine name (used in logs, counters and test vectors);
    ``expected``, ``got`` and ``where`` say what the receiver wanted, what arrived, and where.
    """

    code = "protocol_error"

    def __init__(self, expected: str, got: str, where: str = "$") -> None:
        self.expected = expected
        self.got = got
        self.where = where
        super().__init__(f"{self.code}: expected {expected}, got {got} - at `{where}`")


class Malformed(ProtocolError):
    """Not a well-formed intentcast frame: bad framing, invalid UTF-8, duplicate keys, NaN..."""

    code = "malformed"


class UnsupportedVersion(Malformed):
    """A frame from a protocol version this implementation does not speak."""

    code = "unsupported_version"


class Oversized(ProtocolError):
    """Larger than the limit for its kind; rejected before any parsing."""

    code = "oversized"


class BadSignature(ProtocolError):
    """The Ed25519 signature does not match the signed bytes and the named key."""

    code = "bad_signature"


class UnknownSigner(ProtocolError):
    """The signing key is not one the receiver can attribute to anybody."""

    code = "unknown_signer"


class RevokedSigner(UnknownSigner):
    """The signing key was known but is revoked or outside its validity window."""

    code = "revoked_signer"


class Expired(ProtocolError):
    """The message's ``expires`` lies in the past (beyond the allowed clock skew)."""

    code = "expired"


class NotYetValid(ProtocolError):
    """The message's ``created`` lies in the future (beyond the allowed clock skew)."""

    code = "not_yet_valid"


class Replayed(ProtocolError):
    """This exact (signer, nonce) was seen before, or is older than the replay horizon."""

    code = "replayed"


class Rebound(ProtocolError):
    """A good signature on the wrong type, intent, vendor or reply subject."""

    code = "rebound"


class Outdated(ProtocolError):
    """An answer in an older form of the protocol than the receiver accepts: unsigned, or
    signed but bound to no request. The sender must be upgraded; nothing in it is believed."""

    code = "outdated"


ERRORS_BY_CODE: dict[str, type[ProtocolError]] = {
    cls.code: cls
    for cls in (
        ProtocolError,
        Malformed,
        UnsupportedVersion,
        Oversized,
        BadSignature,
        UnknownSigner,
        RevokedSigner,
        Expired,
        NotYetValid,
        Replayed,
        Rebound,
        Outdated,
    )
}
