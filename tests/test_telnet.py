"""Telnet negotiation is filtered out of the stream and refused."""

import pytest

from chathub.telnet import (
    BINARY,
    DO,
    DONT,
    IAC,
    IP,
    NAWS,
    PREAMBLE,
    SB,
    SE,
    WILL,
    WONT,
    TelnetFilter,
)

ECHO = 1
TTYPE = 24


def feed_all(chunks: list[bytes]) -> tuple[bytes, bytes]:
    telnet = TelnetFilter()
    data, replies = b"", b""
    for chunk in chunks:
        out, back = telnet.feed(chunk)
        data += out
        replies += back
    return data, replies


def split_ways(stream: bytes) -> list[list[bytes]]:
    """The stream whole, one byte at a time, and in two halves."""
    half = len(stream) // 2
    return [
        [stream],
        [stream[i : i + 1] for i in range(len(stream))],
        [stream[:half], stream[half:]],
    ]


def test_plain_data_passes_through_untouched():
    """Bytes without IAC are returned as they are, with no reply."""
    assert TelnetFilter().feed(b"hello\r\n") == (b"hello\r\n", b"")


def test_will_is_refused_with_dont_and_do_with_wont():
    """Options the hub does not use, offered or requested, are refused, however the bytes
    split."""
    stream = b"hi" + bytes([IAC, WILL, TTYPE, IAC, DO, ECHO]) + b" there\n"
    for chunks in split_ways(stream):
        assert feed_all(chunks) == (b"hi there\n", bytes([IAC, DONT, TTYPE, IAC, WONT, ECHO]))


def test_start_asks_for_the_window_width_and_binary_both_ways():
    """The preamble: DO NAWS, DO BINARY, WILL BINARY, inside an APC string."""
    assert TelnetFilter().start() == PREAMBLE
    asks = bytes([IAC, DO, NAWS, IAC, DO, BINARY, IAC, WILL, BINARY])
    assert PREAMBLE[2:-2] == asks and PREAMBLE[:2] == b"\x1b_" and PREAMBLE[-2:] == b"\x1b\\"


def test_agreement_to_what_the_hub_asked_for_gets_no_answer():
    """WILL NAWS, WILL BINARY and DO BINARY after our requests are answers: silence."""
    telnet = TelnetFilter()
    telnet.start()
    reply = bytes([IAC, WILL, NAWS, IAC, WILL, BINARY, IAC, DO, BINARY])
    assert telnet.feed(reply) == (b"", b"")
    assert telnet.feed(reply) == (b"", b"")  # already so: still silence


def test_an_offer_of_what_the_hub_wants_is_accepted_once():
    """A client that offers NAWS or BINARY before being asked is told yes, once."""
    telnet = TelnetFilter()
    offer = bytes([IAC, WILL, NAWS, IAC, DO, BINARY])
    assert telnet.feed(offer) == (b"", bytes([IAC, DO, NAWS, IAC, WILL, BINARY]))
    assert telnet.feed(offer) == (b"", b"")


def test_a_refusal_of_a_request_is_not_answered_but_withdrawing_agreement_is():
    """WONT NAWS in reply to our DO ends it silently; WONT after WILL is acknowledged."""
    telnet = TelnetFilter()
    telnet.start()
    assert telnet.feed(bytes([IAC, WONT, NAWS])) == (b"", b"")
    assert telnet.feed(bytes([IAC, WILL, BINARY, IAC, WONT, BINARY])) == (
        b"",
        bytes([IAC, DONT, BINARY]),
    )


@pytest.mark.parametrize(
    ("sub", "width"),
    [
        (bytes([0, 80, 0, 24]), 80),
        (bytes([1, 44, 0, 50]), 300),
        (bytes([0, IAC, IAC, 0, 24]), 255),  # 255 is doubled
        (bytes([0, 0, 0, 0]), None),  # 0: the client does not know
    ],
)
def test_the_window_width_is_read_from_naws_however_the_bytes_split(sub, width):
    """IAC SB NAWS w w h h IAC SE sets `width`, and never reaches the data."""
    stream = b"a" + bytes([IAC, SB, NAWS]) + sub + bytes([IAC, SE]) + b"b"
    for chunks in split_ways(stream):
        telnet = TelnetFilter()
        data = b"".join(telnet.feed(chunk)[0] for chunk in chunks)
        assert (data, telnet.width) == (b"ab", width)


def test_a_new_window_size_replaces_the_old_one():
    """A resized window sends NAWS again."""
    telnet = TelnetFilter()
    telnet.feed(bytes([IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE]))
    telnet.feed(bytes([IAC, SB, NAWS, 0, 132, 0, 24, IAC, SE]))
    assert telnet.width == 132


def test_other_subnegotiations_and_endless_ones_are_dropped_in_bounded_memory():
    """A long subnegotiation of another option changes nothing and is not kept."""
    telnet = TelnetFilter()
    assert telnet.feed(bytes([IAC, SB, 24]) + b"x" * 100_000 + bytes([IAC, SE]) + b"ok") == (
        b"ok",
        b"",
    )
    assert telnet.width is None


def test_wont_and_dont_get_no_answer():
    """Answering a refusal could loop; nothing is sent back."""
    assert feed_all([bytes([IAC, WONT, ECHO, IAC, DONT, ECHO])]) == (b"", b"")


def test_subnegotiation_is_dropped():
    """IAC SB ... IAC SE never reaches the application."""
    stream = b"a" + bytes([IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE]) + b"b"
    for chunks in split_ways(stream):
        assert feed_all(chunks) == (b"ab", b"")


def test_iac_iac_is_a_literal_ff_byte():
    """An escaped IAC is data: a 0xFF byte (which is invalid UTF-8 later)."""
    for chunks in split_ways(b"x\xff\xffy"):
        assert feed_all(chunks) == (b"x\xffy", b"")


def test_unknown_bytes_after_iac_are_ignored_not_fatal():
    """NOP, GA and unknown command bytes are dropped and the stream carries on."""
    assert feed_all([b"a\xff\xf1b\xff\x05c"]) == (b"abc", b"")


def test_interrupt_process_becomes_the_ctrl_c_byte():
    """IAC IP (Ctrl-C in telnet) is 0x03 in the data, what a terminal sends for Ctrl-C."""
    for chunks in split_ways(b"ab" + bytes((IAC, IP)) + b"c"):
        assert feed_all(chunks) == (b"ab\x03c", b"")
