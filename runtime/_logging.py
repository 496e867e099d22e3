"""structlog set-up shared by every command: events, not strings."""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure_logging"]


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written, not when logging was configured (a
    test's captured stream may be closed by then)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(
    *, json: bool = True, level: str = "info", stream: object = None, cache: bool = False
) -> None:
    """JSON lines for services (machines read them); a console form for people.

    Logs go to stderr so that a command's own output on stdout stays clean for scripts.
    ``cache=True`` builds each module's logger once instead of on every call (a few
    microseconds per line): for long-running processes that configure logging once. Tests
    that reconfigure (``structlog.testing.capture_logs``) need the default.
    """
    lvl = logging.getLevelNamesMapping()[level.upper()]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=stream or _Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=cache,
    )
