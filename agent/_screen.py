"""Text from the bus made safe to show: no stranger writes on the person's screen.

Every vendor name, item title, reason or detail that came from another party passes through
:func:`shown` before the terminal or the web page sees it. Escape sequences (CSI, OSC, and
the other ESC forms) are removed whole; what is left of the control characters (C0, C1, DEL),
line and paragraph breaks, bidirectional overrides and isolates, and other invisible format
characters become one visible ``?`` each, so a title cannot clear the screen, set the
window's title, ring the bell, forge a line of its own, or reorder what follows it. Each
string is capped in length (``…`` marks a cut)."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["DISPLAY_LIMIT", "shown"]

DISPLAY_LIMIT = 80

_ESCAPES = re.compile(
    r"""
      \x1b\[ [0-?]* [ -/]* [@-~]?              # CSI: ESC [ params intermediates final
    | \x9b [0-?]* [ -/]* [@-~]?                # CSI, 8-bit form
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])  # OSC, DCS, SOS, PM, APC ...
      [^\x07\x1b\x9c]*                         #   ... their payload ...
      (?:\x07|\x1b\\|\x9c)?                    #   ... up to BEL or ST
    | \x1b [ -/]* [0-~]?                       # any other ESC sequence
    """,
    re.VERBOSE,
)
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


def _visible(ch: str) -> str:
    return "?" if unicodedata.category(ch) in _INVISIBLE else ch


def shown(text: str, limit: int = DISPLAY_LIMIT) -> str:
    """``text`` as it may reach a screen: one line, no escapes, at most ``limit`` characters."""
    clean = "".join(_visible(ch) for ch in _ESCAPES.sub("", text))
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"
