"""The committed JSON Schemas and test vectors: in sync with the types, and checkable by
independent implementations (jsonschema; the `cryptography` package's Ed25519)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings

import schemas as s
from schemas._envelope import self_signed  # a unit test of the contract's own resolver
from tests.factories import NOW, messages
from tools.export_contract import main as export_main

ROOT = Path(s.__file__).parent
VECTORS = {p.stem: json.loads(p.read_text()) for p in sorted((ROOT / "vectors").glob("*.json"))}
SCHEMAS = {p.stem: json.loads(p.read_text()) for p in (ROOT / "json").glob("*.json")}


def test_committed_files_match_the_types() -> None:
    """Drift between the types and schemas/json, schemas/vectors or roster.json fails."""
    assert export_main(["--check"]) == 0


@settings(max_examples=150)
@given(messages())
def test_json_schemas_validate_our_own_encoded_messages(msg: s.Message) -> None:
    """Every document we sign is valid under the committed schema for its type."""
    from datetime import timedelta

    from nacl.signing import SigningKey

    wire = s.sign(msg, SigningKey(b"\x01" * 32), created=NOW, expires=NOW + timedelta(minutes=1))
    doc = json.loads(wire[64:].split(b"\n", 1)[1])
    tag = type(msg).__struct_config__.tag
    jsonschema.Draft202012Validator(SCHEMAS[tag]).validate(doc)


def test_json_schemas_reject_what_the_decoder_rejects() -> None:
    """The schema is not vacuous: a bad id fails it as it fails our decoder."""
    doc = json.loads(bytes.fromhex(VECTORS["valid_offer"]["signed_bytes"]).split(b"\n", 1)[1])
    jsonschema.Draft202012Validator(SCHEMAS["offer"]).validate(doc)
    doc["msg"]["id"] = "not-hex"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMAS["offer"]).validate(doc)


def test_vectors_cover_every_rejection_class() -> None:
    """There is at least one vector for each error a receiver must raise."""
    errors = {v["error"] for v in VECTORS.values() if not v["valid"]}
    want = {"bad_signature", "unknown_signer", "revoked_signer", "expired", "not_yet_valid",
            "replayed", "rebound", "oversized", "malformed", "unsupported_version"}  # fmt: skip
    assert want <= errors
    for v in VECTORS.values():
        assert {"description", "public_key", "signed_bytes", "signature", "valid"} <= set(v)


def test_every_message_type_has_a_valid_vector() -> None:
    """An implementer can check each message type they sign or verify against one good frame."""
    valid = {v["context"]["expect"] for v in VECTORS.values() if v["valid"]}
    assert valid == set(s.MESSAGE_TYPES), sorted(set(s.MESSAGE_TYPES) - valid)


def _resolver(ctx: dict[str, Any]) -> s.KeyResolver:
    if ctx["keys"] == "self":
        return self_signed
    ring = s.KeyRing("vector", revoked=set(ctx["revoked"]))
    for k in ctx["keys"]:
        ring.add(k, datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
    return ring


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_verdict_reproduces_with_our_verifier(name: str) -> None:
    """Our verifier reaches each vector's verdict with exactly the named error."""
    v = VECTORS[name]
    ctx = v["context"]
    replay = s.ReplayCache()
    kw: dict[str, Any] = dict(
        key=_resolver(ctx), now=datetime.fromisoformat(ctx["now"]), replay=replay,
        audience=s.Audience(**(ctx["audience"] or {})),
    )  # fmt: skip
    if ctx["replay_of"]:
        prior = VECTORS[ctx["replay_of"]]
        s.verify(
            bytes.fromhex(prior["signature"] + prior["signed_bytes"]),
            s.MESSAGE_TYPES[prior["context"]["expect"]],
            **kw,
        )  # type: ignore[type-var]
    wire = bytes.fromhex(v["signature"] + v["signed_bytes"])
    expect = s.MESSAGE_TYPES[ctx["expect"]]
    if v["valid"]:
        s.verify(wire, expect, **kw)  # type: ignore[type-var]
    else:
        with pytest.raises(s.ProtocolError) as e:
            s.verify(wire, expect, **kw)  # type: ignore[type-var]
        assert e.value.code == v["error"], str(e.value)


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_signatures_check_with_an_independent_ed25519(name: str) -> None:
    """The `cryptography` package agrees: signatures hold exactly where they should."""
    v = VECTORS[name]
    pk = Ed25519PublicKey.from_public_bytes(bytes.fromhex(v["public_key"]))
    sig, signed = bytes.fromhex(v["signature"]), bytes.fromhex(v["signed_bytes"])
    if v["error"] == "bad_signature":
        with pytest.raises(InvalidSignature):
            pk.verify(sig, signed)
    else:
        pk.verify(sig, signed)  # every other vector is correctly signed: its defect is elsewhere
        assert signed.split(b" ", 2)[2].startswith(v["public_key"].encode())


def test_the_spec_lists_every_reason_code_and_ships_the_taxonomy() -> None:
    """schemas/README.md names each reason code an agent acts on, and taxonomy.json is the
    taxonomy the code checks categories against."""
    text = (ROOT / "README.md").read_text()
    for table in (s.REJECTION_REASONS, s.CANCEL_REASONS, s.ACK_REASONS, s.DECLINE_REASONS):
        for code, meaning in table.items():
            assert f"| `{code}` | {meaning} |" in text, code
    assert json.loads((ROOT / "taxonomy.json").read_text()) == sorted(s.CATEGORIES)
    assert s.vendor_queue_group("ab" * 32) == "vendor-" + "ab" * 8
