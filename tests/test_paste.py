"""Joining the lines of a paste into one message (`paste.py`), on a fake clock."""

from twisted.internet.task import Clock

from chathub.commands import Nick, Say
from chathub.events import Error
from chathub.paste import Paste


def paste(window: float = 0.05, lines_max: int = 100, text_max: int = 4000):
    clock = Clock()
    sent: list[str] = []
    return clock, sent, Paste(clock, window, lines_max, text_max, sent.append)


def test_lines_within_the_window_of_each_other_are_one_message():
    """Each line restarts the wait; the message goes `window` after the last line."""
    clock, sent, held = paste()
    assert held.take(Say("one"))
    clock.advance(0.04)
    assert held.take(Say("two"))
    clock.advance(0.04)
    assert held.take(Say("three"))
    assert sent == []
    clock.advance(0.05)
    assert sent == ["one\ntwo\nthree"]


def test_lines_further_apart_than_the_window_are_messages_of_their_own():
    """Typing: each line goes on its own, `window` after it arrived."""
    clock, sent, held = paste()
    held.take(Say("typed"))
    clock.advance(0.05)
    held.take(Say("again"))
    clock.advance(0.05)
    assert sent == ["typed", "again"]


def test_anything_but_a_plain_line_is_left_to_the_caller_who_flushes_first():
    """A command or an error is not held; `flush` sends what is, so order is kept."""
    clock, sent, held = paste()
    held.take(Say("first"))
    assert not held.take(Nick("bob"))
    assert not held.take(Error("usage", "usage"))
    held.flush()
    assert sent == ["first"]
    clock.advance(1)
    assert sent == ["first"]


def test_a_blank_line_is_kept_inside_a_paste_and_ignored_alone():
    """A paragraph break stays; a lone blank line still does nothing."""
    clock, sent, held = paste()
    assert not held.take(None)
    held.take(Say("para one"))
    assert held.take(None)
    held.take(Say("para two"))
    clock.advance(0.05)
    assert sent == ["para one\n\npara two"]


def test_a_full_message_goes_at_once_and_the_rest_starts_the_next():
    """At `lines_max` lines, or when one more line would pass `text_max` characters, what is
    held is sent; nothing is lost or refused."""
    clock, sent, held = paste(lines_max=3, text_max=12)
    for text in ["a", "b", "c", "d"]:
        held.take(Say(text))
    assert sent == ["a\nb\nc"]
    held.take(Say("12345"))  # "d\n12345" is 7 characters
    held.take(Say("1234"))  # 12 characters: still fits
    held.take(Say("x"))  # 14: the held message goes first
    clock.advance(0.05)
    assert sent == ["a\nb\nc", "d\n12345\n1234", "x"]


def test_a_window_of_zero_or_no_clock_holds_nothing():
    """Joining off: every line is the caller's to send."""
    _, sent, held = paste(window=0)
    assert not held.take(Say("x"))
    assert not Paste(None, 0.05, 100, 4000, sent.append).take(Say("x"))
