"""Telnet negotiation is filtered out of the stream and refused."""

from chathub.telnet import DO, DONT, IAC, SB, SE, WILL, WONT, TelnetFilter

ECHO = 1
NAWS = 31


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
    """Options offered or requested by the client are all refused, however the bytes split."""
    stream = b"hi" + bytes([IAC, WILL, NAWS, IAC, DO, ECHO]) + b" there\n"
    for chunks in split_ways(stream):
        assert feed_all(chunks) == (b"hi there\n", bytes([IAC, DONT, NAWS, IAC, WONT, ECHO]))


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
