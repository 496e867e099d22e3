"""The generated all-at-once pattern check agrees with the slow per-field search."""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import _patterns
from schemas._patterns import (
    Digest,
    Id,
    IdOrEmpty,
    Token,
    pattern_checker,
    pattern_meta,
    pattern_problem,
)

Country = Annotated[str, pattern_meta("^([A-Z]{2})?$", max_length=2)]
Postcode = Annotated[str, pattern_meta("^[A-Z0-9]{0,3}$", max_length=3)]
Loose = Annotated[str, pattern_meta("^[a-c]{2,4}$")]  # the decoder pins no length


class Inner(msgspec.Struct):
    token: Token
    country: Country


class Sample(msgspec.Struct):
    id: Id
    maybe: IdOrEmpty
    digests: list[Digest]
    postcode: Postcode
    loose: Loose
    tokens: list[Token]
    inner: Inner
    many: list[Inner]
    optional_token: Token | None = None


# Text near the patterns: hex, upper case, separators, non-ASCII, and lengths on both sides.
near = st.text(alphabet="0123456789abcdefgABCFGZ_.-\n\x1fé ", max_size=70)


def values(pattern_like: str, size: int) -> st.SearchStrategy[str]:
    """Mostly strings of the field's own alphabet around its length, sometimes near misses."""
    own = st.text(alphabet=pattern_like, min_size=size, max_size=size)
    around = st.text(alphabet=pattern_like, min_size=max(0, size - 1), max_size=size + 1)
    return st.one_of(own, own, own, own.map(lambda s: s[:-1] + "g" if s else s), around, near)


VALID = Sample(
    "a" * 32, "", ["b" * 64], "28", "abc", ["card"], Inner("es", "ES"), [Inner("x", "")], None
)
HEX = "0123456789abcdef"
FIELDS: dict[str, st.SearchStrategy[object]] = {
    "id": values(HEX, 32),
    "maybe": st.one_of(st.just(""), values(HEX, 32)),
    "digests": st.lists(values(HEX, 64), max_size=3),
    "postcode": values("AZ09", 3),
    "loose": values("abc", 3),
    "tokens": st.lists(values("az09_.-", 5), max_size=3),
    "inner": st.builds(Inner, values("az09_", 4), values("ESZ", 2)),
    "many": st.lists(st.builds(Inner, values("az09", 3), values("ES", 2)), max_size=2),
    "optional_token": st.one_of(st.none(), values("az09", 3)),
}


@settings(max_examples=800)
@given(st.sampled_from(sorted(FIELDS)).flatmap(lambda f: st.tuples(st.just(f), FIELDS[f])))
def test_the_fast_check_and_the_field_by_field_search_agree(change: tuple[str, object]) -> None:
    """Change one field of a valid message to any value the decoder admits (a length within
    its min/max): the generated check passes exactly when the slow search finds no offending
    field. Lengths the decoder does not pin are the check's own business."""
    obj = msgspec.structs.replace(VALID, **{change[0]: change[1]})
    try:
        decoded = msgspec.json.decode(msgspec.json.encode(obj), type=Sample)
    except msgspec.ValidationError:
        return  # the decoder refuses it itself: it never reaches the check
    assert pattern_checker(Sample)(decoded) == (pattern_problem(decoded) is None)


def test_a_non_ascii_character_in_a_hex_field_of_the_right_length_is_refused() -> None:
    """Runs are checked on UTF-8 bytes: a character outside ASCII can never pass as hex."""
    obj = Sample("é" + "a" * 31, "", [], "", "abc", [], Inner("t", ""), [])
    assert not pattern_checker(Sample)(obj)
    assert pattern_problem(obj) is not None and pattern_problem(obj)[0] == "$.id"  # type: ignore[index]


def test_an_optional_run_of_the_wrong_length_is_refused() -> None:
    """'([A-Z]{2})?' admits '' and 'ES', not 'E', though the decoder's max length admits it."""
    ok = Sample("a" * 32, "", [], "", "abc", [], Inner("t", "ES"), [])
    bad = Sample("a" * 32, "", [], "", "abc", [], Inner("t", "E"), [])
    assert pattern_checker(Sample)(ok)
    assert not pattern_checker(Sample)(bad)


@pytest.mark.parametrize("pattern", ["[a-f]{4}", "^[a-f]{4}", "[a-f]{4}$"])
def test_an_unanchored_pattern_is_refused_where_the_type_is_defined(pattern: str) -> None:
    """The checkers join pattern bodies into one expression, so a pattern without ``^`` and
    ``$`` would let part of a field pass: pattern_meta refuses it with a ValueError saying
    what it expected and what it got (once an ``assert``, gone under ``python -O``)."""
    with pytest.raises(ValueError, match=r"expected a pattern anchored as \^\.\.\.\$, got"):
        pattern_meta(pattern)


class Leaf(msgspec.Struct):  # checked only by the test below: no checker exists for it yet
    id: Id


class First(msgspec.Struct):
    leaf: Leaf


class Second(msgspec.Struct):
    leaf: Leaf


def test_a_checker_compiled_while_another_is_compiling_still_checks_shared_nested_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Compiling a checker marks a nested struct "no patterns" while it reads that struct's
    own fields (against recursion). A second thread compiling a checker for another type
    with the same nested struct meanwhile must wait, not take the mark for the answer and
    build a checker that lets a bad nested id through."""

    real_fields = _patterns._fields
    first_inside, second_starting = threading.Event(), threading.Event()

    def fields_pausing_first_inside_leaf(cls: type, prefix: str, out: list[Any]) -> None:
        if cls is Leaf and threading.current_thread().name == "first":
            first_inside.set()
            second_starting.wait(timeout=10)
            time.sleep(0.2)  # time enough for the second thread to compile, were it let
        real_fields(cls, prefix, out)

    monkeypatch.setattr(_patterns, "_fields", fields_pausing_first_inside_leaf)
    first = threading.Thread(target=pattern_checker, args=(First,), name="first")
    first.start()
    assert first_inside.wait(timeout=10)
    second_starting.set()
    check_second = pattern_checker(Second)
    first.join(timeout=10)
    assert not check_second(Second(Leaf("Z" * 32)))
    assert check_second(Second(Leaf("a" * 32)))
