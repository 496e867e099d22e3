"""The shared category taxonomy: paths people can name and vendors can serve. New paths are
added here (and so travel with the contract); subjects are derived from them."""

from __future__ import annotations

import difflib

__all__ = ["CATEGORIES", "check_category"]

CATEGORIES: frozenset[str] = frozenset(
    {
        "outdoor", "outdoor/tents", "outdoor/sleeping-bags", "outdoor/backpacks",
        "outdoor/footwear", "outdoor/stoves", "electronics", "electronics/laptops",
        "electronics/phones", "electronics/headphones", "electronics/cameras", "home",
        "home/furniture", "home/kitchen", "home/appliances", "books", "books/fiction",
        "books/non-fiction", "clothing", "clothing/jackets", "clothing/shoes", "bikes",
        "bikes/city", "bikes/mountain", "bikes/parts", "groceries", "toys", "garden",
        "garden/tools", "travel", "travel/hotels", "travel/rail",
    }
)  # fmt: skip


def check_category(path: str) -> str:
    """Return ``path`` if the taxonomy knows it; else raise ``ValueError`` with suggestions."""
    if path in CATEGORIES:
        return path
    close = difflib.get_close_matches(path, sorted(CATEGORIES), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    tops = ", ".join(sorted(c for c in CATEGORIES if "/" not in c))
    raise ValueError(
        f"expected a known category such as outdoor/tents (top level: {tops}), got {path!r}{hint}"
    )
