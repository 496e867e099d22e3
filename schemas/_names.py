"""Display names compared as a person sees them: the skeleton of a name.

``name_skeleton(text)`` is the key under which a registrar keeps a name unique, and what an
agent compares to the names in a person's history. Two names with one skeleton look alike:

1. NFKC, then casefold: full-width, ligatures, styled letters and case fold away.
2. NFD, then marks, separators, punctuation, controls and format characters are dropped:
   accents do not make a name distinct ("Outfítters"), nor do spaces, dots, hyphens,
   zero-width joiners or bidi marks ("SIERRA  outfitters", "Sierra-Outfitters").
3. Each character is replaced by the representative of its confusable class (Unicode TR39
   confusables, from the ``confusable-homoglyphs`` package's copy of the data). That data
   lists pairs both ways, so classes are its connected components; the representative is the
   class's lower-case ASCII letter, else its upper-case one in lower case, else its ASCII
   digit, else its smallest member. TR39 puts
   digits with the letters they resemble, and so do we: 0 and O are one class ("Sp0rts" is
   "Sports"), and so are 1, I, l and |. A Cyrillic i (U+0456) is
   Latin i.
4. The one letters-only sequence TR39 lists, ``rn`` for ``m``, folds to ``m``.

Case folds before the confusable map, so an upper-case I is an i here, not an l: "S1ERRA"
and "SIERRA" stay apart (TR39, which does not fold case, would join them and keep "Sierra"
and "SIERRA" apart instead). The data is read once, on first use, from the package's JSON
(under 0.1 s); the function is pure after that and costs about 2.5 us per name. Skeletons are compared only within one implementation's data version: a
registrar checks uniqueness with its own; an agent compares with its own.
"""

from __future__ import annotations

import functools
import unicodedata

__all__ = ["name_skeleton"]

_DROPPED = ("M", "Z", "P", "C")  # marks, separators, punctuation, controls and format
_LRM = "\u200e"  # the data wraps right-to-left characters in left-to-right marks


def _rank(c: str) -> tuple[int, str]:
    """Lower-case ASCII letters first, then upper-case ones (whose class is then represented
    by their lower case, so 0, O and o meet), then digits, then anything else."""
    if c.isascii() and c.isalpha():
        return (0 if c.islower() else 1), c
    if c.isascii() and c.isdigit():
        return 2, c
    return 3, c


@functools.cache
def _table() -> dict[str, str]:
    """Character -> its class's representative, for every character in a confusable class."""
    from confusable_homoglyphs.confusables import confusables_data

    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for key, glyphs in confusables_data.items():
        k = key.replace(_LRM, "")
        for g in glyphs:
            h = g["c"].replace(_LRM, "")
            if len(k) == 1 and len(h) == 1:
                parent[find(k)] = find(h)
    members: dict[str, list[str]] = {}
    for c in parent:
        members.setdefault(find(c), []).append(c)
    table: dict[str, str] = {}
    for group in members.values():
        rep = min(group, key=_rank)
        rep = rep.casefold() if rep.isascii() else rep
        for c in group:
            if c != rep:
                table[c] = rep
    return table


def name_skeleton(text: str) -> str:
    """The skeleton of a display name; equal skeletons mean names that look alike."""
    table = _table()
    folded = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text).casefold())
    out = []
    for c in folded:
        if unicodedata.category(c).startswith(_DROPPED):
            continue
        out.append(table.get(c, c))
    return "".join(out).replace("rn", "m")
