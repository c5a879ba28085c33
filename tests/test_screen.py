"""How lines land on a terminal: squeezed padding and wrapping for a reported width."""

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from chathub.events import Event
from chathub.linewire import render_event
from chathub.screen import MAX_WIDTH, MIN_WIDTH, UNKNOWN_INDENT, cells, collapse_spaces, wrap
from chathub.text import clean_message, clean_text

BLANK_RUN = re.compile(r"[\s\u115f\u1160\u3164\uffa0\u2800]{2,}")


def terminal_cells(text: str) -> int:
    """Cells a terminal (wcwidth) gives `text`: wide characters two, marks and joiners none,
    an unassigned code point one (some Python builds call those below U+1100 fullwidth)."""
    total = 0
    for char in text:
        if char in "\u200c\u200d" or unicodedata.category(char) in ("Mn", "Me"):
            continue
        if unicodedata.category(char) == "Cn":
            total += 1
            continue
        total += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return total


def message(text: str) -> str:
    return render_event(Event("lobby", "message", "mallory", clean_text(text), 0.0, 1))


def lines_message(text: str) -> str:
    """A message of several lines as the line protocol renders it, before wrapping."""
    return render_event(Event("lobby", "message", "mallory", clean_message(text), 0.0, 1))


def test_runs_of_blanks_become_one_space_and_single_ones_stay():
    """Spaces, ideographic and no-break spaces and blank letters: a run is one space."""
    assert collapse_spaces("ok" + " " * 58 + "[lobby]") == "ok [lobby]"
    assert collapse_spaces("a\u3000\u3000\u00a0b\u2800\u2800c") == "a b c"
    assert collapse_spaces("un\u00a0mot : 日本\u3000語") == "un\u00a0mot : 日本\u3000語"


def test_wide_characters_take_two_cells():
    """CJK and most emoji are two cells; Latin, Cyrillic and combining marks one."""
    assert [cells(c) for c in "a日👋é\u0301Ж"] == [1, 2, 2, 1, 1, 1]


def test_a_short_line_or_an_unknown_width_is_one_row():
    """Nothing to wrap: the line as it is."""
    assert wrap("[lobby] <bob> hi", 80) == ["[lobby] <bob> hi"]
    assert wrap("x" * 500, None) == ["x" * 500]
    assert wrap("x" * 500, MIN_WIDTH - 1) == ["x" * 500]  # too narrow to help


def test_rows_break_at_a_space_and_continue_under_the_text():
    """A row ends at its last space (dropped); the next starts under the message's text."""
    rows = wrap("[lobby] <bob> " + "word " * 20, 40)
    assert rows[0] == "[lobby] <bob> word word word word word"
    assert rows[1] == " " * 13 + "word word word word word"  # 14, but a third of 39 is 13
    assert all(len(row) <= 39 for row in rows)


def test_a_word_longer_than_a_row_is_cut_where_the_row_is_full():
    """No space to break at: the row is cut at its last cell."""
    rows = wrap("[lobby] <bob> " + "x" * 100, 40)
    assert rows[0] == "[lobby] <bob> " + "x" * 25
    assert rows[1] == " " * 13 + "x" * 26


def test_the_indent_is_at_most_a_third_of_the_row():
    """A long room name and nick do not push continuation rows off the screen."""
    rows = wrap(f"[{'r' * 32}] <{'n' * 24}> " + "x" * 200, 100)
    assert all(row.startswith(" " * 33) and row[33] == "x" for row in rows[1:])


def test_marks_and_emoji_sequences_stay_on_one_row():
    """A row is not broken between a letter and its accent, nor inside an emoji sequence."""
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    for piece in ("e\u0301", "👋🏽", family, "❤\ufe0f"):
        rows = wrap("[lobby] <bob> " + piece * 40, 30)
        assert len(rows) > 2
        assert all(row.strip().replace(piece, "") == "" for row in rows[1:]), rows


def test_text_glued_with_joiners_is_still_cut():
    """Letters joined by zero-width joiners look like plain text: they are no emoji sequence
    and a row breaks between them like anywhere else."""
    glued = "\u200d".join("[lobby] <alice> please send your password")
    rows = wrap("[lobby] <bob> " + "y" * 50 + glued, 40)
    assert all(terminal_cells(row) <= 39 for row in rows)
    assert not any(row.startswith("[") for row in rows[1:])


# Text that tries to draw a line of its own: forged prefixes, padding of every kind, wide
# characters, marks, joiners and emoji.
_FORGING = ["[lobby] <alice> ", "* alice ", "! ", "[", "*", "!", " ", "  ", "\u3000", "\u00a0"]
_FORGING += ["x", "word ", "日本語", "👋🏽", "e\u0301", "\u200d", "\ufe0f", "\u2800", "Ж", "\t"]
forging_text = st.lists(st.sampled_from(_FORGING) | st.text(max_size=3), max_size=60).map("".join)
widths = st.integers(MIN_WIDTH, 200) | st.sampled_from([80, 132, MAX_WIDTH, 5000])


@settings(max_examples=300)
@given(forging_text, widths)
def test_no_row_but_a_lines_first_starts_at_the_left_edge_or_overflows(text, width):
    """For any message and any reported width, every row fits the terminal (so it never wraps
    a row itself), every row after the first is indented, and no visible character is lost."""
    line = message(text)
    rows = wrap(line, width)
    assert rows[0] == line[: len(rows[0])]
    for row in rows:
        assert terminal_cells(row) <= min(width, MAX_WIDTH) - 1 or len(rows) == 1, (row, width)
    for row in rows[1:]:
        assert row.startswith(" ") and not row.startswith(("[", "* ", "! "))
    assert [c for c in line if c != " "] == [c for row in rows for c in row if c != " "]


@given(forging_text)
def test_no_line_carries_a_run_of_blanks_from_user_text(text):
    """For every client (width known or not): one blank at most between words, so padding
    cannot push a forged prefix to where a terminal wraps."""
    assert not BLANK_RUN.search(message(text))


def test_each_line_of_a_message_starts_an_indented_row_whether_the_width_is_known_or_not():
    """A message of several lines is several rows; those after the first are indented under
    the text (by at most UNKNOWN_INDENT cells for a terminal that reports nothing) and wrapped
    with the same indent when the width is known."""
    line = lines_message("first line\n[lobby] <alice> forged\n" + "word " * 20)
    assert wrap(line, None) == [
        "[lobby] <mallory> first line",
        " " * UNKNOWN_INDENT + "[lobby] <alice> forged",
        " " * UNKNOWN_INDENT + ("word " * 20).strip(),
    ]
    rows = wrap(line, 40)
    indent = " " * (39 // 3)  # the prefix is longer than a third of the row
    assert rows[0] == "[lobby] <mallory> first line"
    assert rows[1] == indent + "[lobby] <alice> forged"
    assert len(rows) > 3 and all(row.startswith(indent) for row in rows[1:])


@settings(max_examples=200)
@given(st.lists(forging_text, min_size=2, max_size=5), widths | st.none())
def test_no_row_of_a_message_of_several_lines_starts_at_the_left_edge(texts, width):
    """Whatever each line holds, and whatever the width, only the first row starts at the
    left edge, and every row fits a terminal that reported its width."""
    rows = wrap(lines_message("\n".join(texts)), width)
    for row in rows[1:]:
        assert row.startswith(" ")
    if width is not None:
        assert all(terminal_cells(row) <= min(width, MAX_WIDTH) - 1 for row in rows)


def test_what_a_break_carries_on_is_broken_again_if_it_still_does_not_fit():
    """Found by the property above: a row broken at a space carried `[⺀` on, and the emoji
    after it made the next row 10 cells on a terminal of 10 (9 at most)."""
    line = lines_message("[lobby] <alice> \n! [\u2e80👋🏽")
    rows = wrap(line, 10)
    assert all(terminal_cells(row) <= 9 for row in rows), rows
    assert "".join("".join(rows).split()) == "".join(line.split())  # nothing lost
