"""The person's details (``intentcast init`` and ``intentcast profile``), kept in the
``[person]`` table of their config.toml, and what of them an acceptance discloses: exactly
what the offer needs (``Offer.needs``), and only if ``disclose`` allows it.

The config file is rewritten whole (a temporary sibling, fsynced, renamed): only the
``[person]`` table changes; every other line, comments included, stays as the person wrote it.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from pathlib import Path

from pydantic import ValidationError

import schemas

from ._home import AgentConfig, Home, HomeError, PersonDetails, person_section
from ._session import AcceptError

__all__ = [
    "DETAIL_FIELDS",
    "NotFulfillable",
    "changed_fields",
    "fulfilment_disclosure",
    "save_details",
    "validated_details",
]

DETAIL_FIELDS = ("name", "address", "postcode", "city", "country", "email", "phone")
_SECTION = re.compile(r"^\[person\][^\n]*\n(?:(?!\[)[^\n]*\n?)*", re.MULTILINE)
# The command that adds each missing field, for the one-line refusal.
_HOW = {
    "name": "intentcast profile set name 'YOUR NAME'",
    "address": "intentcast profile set address --street '...' --postcode ... --city ... --country ES",
    "email": "intentcast profile set email you@example.org",
    "phone": "intentcast profile set phone '+34 600 000 000'",
}
_GROUP = {"postcode": "address", "city": "address", "country": "address"}


class NotFulfillable(AcceptError):
    """The offer needs details the person has not given (or does not let it have); nothing
    was sent."""


_EXPECTED = {
    "name": "a name of at most 200 characters, without control characters",
    "address": "at most 6 street lines of at most 200 characters, without control characters",
    "postcode": "letters, digits, spaces and dashes, at most 16",
    "city": "a city of at most 100 characters, without control characters",
    "country": "an ISO 3166 country code such as ES",
    "email": "an email address such as ada@example.org",
    "phone": "a phone number: digits, spaces, dashes and brackets, with an optional leading +",
}


def validated_details(fields: dict[str, object]) -> PersonDetails:
    """``PersonDetails`` from human input, or a one-line :class:`HomeError` naming the field,
    what it expects and what it got."""
    try:
        return PersonDetails.model_validate(fields)
    except ValidationError as exc:
        e = exc.errors()[0]
        field = str(e["loc"][0]) if e["loc"] else ""
        where = ".".join(str(p) for p in e["loc"])
        what = _EXPECTED.get(field, e["msg"])
        raise HomeError(f"profile: {where}: expected {what}, got {e.get('input')!r}") from None


def changed_fields(old: PersonDetails, new: PersonDetails) -> list[str]:
    return [f for f in DETAIL_FIELDS if getattr(old, f) != getattr(new, f)]


def save_details(home: Home, details: PersonDetails) -> AgentConfig:
    """Replace the ``[person]`` table of the home's config with ``details``, durably; the
    config as it now reads."""
    text = home.config_path.read_text(encoding="utf-8")
    section = person_section(details)
    new = _SECTION.sub(lambda _: section + "\n", text, count=1) if _SECTION.search(text) else (
        text.rstrip("\n") + "\n\n" + section
    )  # fmt: skip
    try:
        cfg = AgentConfig.model_validate(tomllib.loads(new))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:  # our own rendering: a bug
        raise AssertionError(f"expected a config that reads back, got {exc}") from None
    _replace(home.config_path, new.encode())
    return cfg


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    finally:
        tmp.unlink(missing_ok=True)


def fulfilment_disclosure(
    cfg: AgentConfig, offer: schemas.Offer, *, check: bool = True
) -> schemas.Disclosure:
    """Exactly what ``offer`` needs of the person's details, or (with ``check``)
    :class:`NotFulfillable` saying what is missing and the command that adds it."""
    p = cfg.person
    details = schemas.Disclosure(**{f: getattr(p, f) for f in DETAIL_FIELDS})
    if not check:
        return schemas.disclosure_for(offer.needs, details)
    wanted = [f for n in offer.needs for f in schemas.NEED_FIELDS[n]]
    refused = [f for f in wanted if _GROUP.get(f, f) not in cfg.disclose]
    if refused:
        raise NotFulfillable(
            f"offer {offer.id[:8]} needs your {', '.join(refused)}, which your config's"
            f" disclose does not allow; add {', '.join(repr(f) for f in refused)} to disclose in"
            " config.toml, or pick another offer. Nothing was sent"
        )
    missing = schemas.missing_needs(offer.needs, details)
    if missing:
        how = dict.fromkeys(_HOW[_GROUP.get(f, f)] for f in missing)
        raise NotFulfillable(
            f"offer {offer.id[:8]} needs your {', '.join(missing)} to be fulfilled; add"
            f" {'them' if len(missing) > 1 else 'it'} with `{'` and `'.join(how)}`, then accept"
            " again. Nothing was sent"
        )
    return schemas.disclosure_for(offer.needs, details)
