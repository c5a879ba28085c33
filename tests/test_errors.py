"""The hub's refusals: stable codes, wording for every transport, typed names quoted safely."""

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chathub import errors
from chathub.events import Error

ALL = [
    (errors.bad_room("no good"), "bad-room"),
    (errors.bad_nick("1bad"), "bad-nick"),
    (errors.nick_taken("alice"), "nick-taken"),
    (errors.no_room(), "no-room"),
    (errors.not_in_room("dev"), "not-in-room"),
    (errors.too_many_rooms(5), "too-many-rooms"),
    (errors.rate_limited("joins", 10, 3.2), "rate-limited"),
    (errors.unavailable(), "unavailable"),
    (errors.no_such_nick("ghost"), "no-such-nick"),
    (errors.empty(), "empty"),
    (errors.too_long(500), "too-long"),
]

# What a user might type to attack a terminal: escapes, controls, bidi overrides, length.
pieces = ["\x1b", "[", "2J", "]0;", "\x07", "\x00", "\x9b", "\u202e", "\u200b", "\ud800", "a"]
hostile = st.lists(st.sampled_from(pieces) | st.characters(), max_size=200).map("".join)

TYPED = [errors.bad_room, errors.bad_nick, errors.no_such_nick]


@pytest.mark.parametrize(("error", "code"), ALL, ids=[code for _, code in ALL])
def test_every_refusal_has_its_stable_code_and_a_message(error, code):
    """Each constructor makes an Error with its documented code and a non-empty message."""
    assert isinstance(error, Error)
    assert error.code == code
    assert error.message.strip()


@pytest.mark.parametrize(("error", "_"), ALL, ids=[code for _, code in ALL])
def test_no_refusal_names_a_transports_command_syntax(error, _):
    """Wording fits every transport: no `/join`-style command in any message."""
    assert not re.search(r"/\w", error.message)


def test_shown_quotes_a_name_back_cleaned():
    """A typed name is quoted with its escape sequences and controls removed."""
    assert errors.shown("\x1b[2Jevil\x07") == "'evil'"
    assert errors.shown("plain") == "'plain'"


def test_shown_cuts_a_long_name_to_32_characters():
    """Past 32 characters a name is cut and marked with `...`."""
    assert errors.shown("x" * 32) == repr("x" * 32)
    assert errors.shown("y" * 1000) == repr("y" * 32 + "...")


@given(hostile)
@pytest.mark.parametrize("make", TYPED, ids=lambda f: f.__name__)
def test_errors_never_carry_escape_sequences_or_controls(make, name):
    """Whatever was typed, the error quoting it holds no control or format character."""
    message = make(name).message
    assert "\x1b" not in message
    assert not [c for c in message if unicodedata.category(c) == "Cc"]
    assert not [c for c in message if unicodedata.category(c) == "Cf" and c not in "\u200c\u200d"]


@given(hostile)
@pytest.mark.parametrize("make", TYPED, ids=lambda f: f.__name__)
def test_errors_quoting_a_name_stay_short(make, name):
    """However much was typed, the error quoting it stays bounded."""
    # 32 characters quoted, each at most 10 once repr() spells it (`\\U0003134b`), and the words.
    assert len(make(name * 100).message) < 32 * 10 + 150


@pytest.mark.parametrize(
    ("delay", "text"), [(0, "1 s"), (0.2, "1 s"), (1.0, "1 s"), (1.01, "2 s"), (59.5, "60 s")]
)
def test_seconds_are_whole_rounded_up_and_never_zero(delay, text):
    """A wait is told in whole seconds, rounded up, and at least "1 s"."""
    assert errors.seconds(delay) == text


def test_rate_limited_says_what_how_many_and_how_long():
    """The rate-limit message names the thing, the limit and the wait."""
    message = errors.rate_limited("nick changes", 5, 59.1).message
    assert message == "too many nick changes: at most 5 a minute; try again in 60 s"
