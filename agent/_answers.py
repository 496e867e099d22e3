"""Asking a vendor and believing only its answer.

On a shared bus anyone who may publish into the person's request inbox can answer first, so
the first message there proves nothing. Every request the agent makes of a vendor (an
acceptance, a cancellation, a countersignature) goes through :func:`ask_vendor`: each message
on the request's own inbox is opened by the exchange's own check (``schemas.open_*``, which
verify against the key ring of the profile verified with the offer and the request's hash,
see ``schemas._answers``), and one that fails is counted by reason and logged (the first of
each reason per request; the counts with the retry), and the agent keeps waiting for the
real answer until the attempt's timeout. Nothing a stranger sends can raise out of it.

A "no responders" status on the inbox is a hint only (anyone can forge one, and it cannot be
signed): it ends no attempt. Only when every attempt has timed out, and so no verified answer
can still come, does the agent say the bus reported nobody listening.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Generic, TypeVar

import structlog

import schemas

from ._session import AcceptError, AgentSession

__all__ = ["AnswerCheck", "VendorTooOld", "ask_vendor"]

log = structlog.get_logger("intentcast.agent")
T = TypeVar("T")


class VendorTooOld(AcceptError):
    """The vendor answered in an older form of the protocol (unsigned, or bound to no
    request): nothing in it was believed; the vendor must upgrade."""


class AnswerCheck(Generic[T]):
    """Opens each message on one request's inbox with ``open_answer``; what does not open is
    counted in :attr:`refused` by reason (memory: one counter per reason) and becomes None."""

    def __init__(self, open_answer: Callable[[bytes], T], *, what: str, about: str) -> None:
        self.open_answer, self.what, self.about = open_answer, what, about
        self.refused: Counter[str] = Counter()
        self.no_responders = 0

    def __call__(self, data: bytes) -> T | None:
        try:
            return self.open_answer(data)
        except schemas.ProtocolError as err:
            self._refuse(err.code, str(err))
        except Exception as exc:  # a fault of ours opening a stranger's bytes: refuse, say so
            self._refuse("fault", f"{type(exc).__name__}: {exc}")
        return None

    def _refuse(self, reason: str, error: str) -> None:
        self.refused[reason] += 1
        if self.refused[reason] == 1:
            (log.error if reason == "fault" else log.warning)(
                "answer.refused", answer_to=self.what, about=self.about, reason=reason,
                error=error[:300],
            )  # fmt: skip

    def heard_no_responders(self) -> None:
        self.no_responders += 1


async def ask_vendor(
    session: AgentSession,
    subject: str,
    data: bytes,
    check: AnswerCheck[T],
    vendor_name: str,
    *,
    attempts: int,
    per_try_seconds: float,
    then: str,
    error: type[AcceptError] = AcceptError,
) -> T:
    """Send ``data`` to ``subject`` up to ``attempts`` times (the same bytes: every request
    is safe to repeat), each attempt waiting ``per_try_seconds`` for an answer ``check``
    believes. Then :class:`VendorTooOld` if only outdated answers came, else ``error``
    saying who did not answer and ``then`` (what the person can do)."""
    bus = session.live()
    for attempt in range(1, attempts + 1):
        try:
            async with asyncio.timeout(per_try_seconds):
                answer = await bus.ask(
                    subject, data, check, on_no_responders=check.heard_no_responders
                )
            if check.refused:
                log.warning(
                    "answers.refused", answer_to=check.what, about=check.about,
                    refused=dict(check.refused), attempt=attempt,
                )  # fmt: skip
            return answer
        except TimeoutError:
            log.warning(
                "request.retry", about=check.about, answer_to=check.what, attempt=attempt,
                refused=dict(check.refused), no_responders_hints=check.no_responders,
            )  # fmt: skip
    if check.refused["outdated"]:
        raise VendorTooOld(
            f"{vendor_name} runs an older version of intentcast: its answer to your"
            f" {check.what} is not signed and bound to your request, so it was not believed;"
            f" the vendor must upgrade. {then}"
        )
    nobody = " (the bus said nobody was listening there)" if check.no_responders else ""
    raise error(f"{vendor_name} did not answer after {attempts} tries{nobody}; {then}")
