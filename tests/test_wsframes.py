"""Server frames made once: plain and deflated text frames, and the FrameCache of a fan-out."""

import json
import random
import zlib

import pytest
from autobahn.websocket.compress_deflate import PerMessageDeflate

from chathub import wsframes
from chathub.events import Event
from chathub.jsonwire import event_fields
from chathub.wsframes import (
    FrameCache,
    deflated_frame,
    event_payload,
    frame,
    text_frame,
)

# Random bytes do not compress, so their deflated size follows their length closely.
NOISE = random.Random(0).randbytes(70_000)


def header(data: bytes) -> tuple[int, int, int]:
    """A server frame's (first byte, header length, payload length), read per RFC 6455."""
    size = data[1] & 0x7F
    if size == 126:
        return data[0], 4, int.from_bytes(data[2:4], "big")
    if size == 127:
        return data[0], 10, int.from_bytes(data[2:10], "big")
    return data[0], 2, size


def inflate(payload: bytes, window_bits: int) -> bytes:
    return zlib.decompressobj(-window_bits).decompress(payload + b"\x00\x00\xff\xff")


def event(text: str, event_id: int = 1) -> Event:
    return Event("lobby", "message", "alice", text, 1.0, event_id)


# --- frames -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "head"),
    [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (70_000, 10)],
)
def test_text_frame_header_length_follows_the_payload_size(size, head):
    """Up to 125 bytes the length is in the second byte; to 65535 in 2 more; beyond, in 8."""
    payload = b"x" * size
    data = text_frame(payload)
    assert header(data) == (0x81, head, size)  # FIN + text, unmasked
    assert data[head:] == payload
    assert data[1] & 0x80 == 0


@pytest.mark.parametrize(("size", "head"), [(125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_deflated_frame_header_length_follows_the_compressed_size(size, head):
    """The same length encoding, of the compressed payload, with RSV1 set."""
    # The prefix of NOISE whose compressed form is exactly `size` bytes long.
    data = next(
        data
        for n in range(size - 64, size + 1)
        if header(data := deflated_frame(NOISE[:n], 15, 8))[2] == size
    )
    first, length, compressed = header(data)
    assert (first, length, compressed) == (0xC1, head, size)  # FIN + RSV1 + text
    assert len(data) == head + size


@pytest.mark.parametrize(("window_bits", "mem_level"), [(9, 1), (9, 8), (15, 8), (12, 4)])
def test_deflated_frame_is_what_autobahns_own_compressor_makes(window_bits, mem_level):
    """Byte for byte what Autobahn's permessage-deflate (no context takeover) sends."""
    deflate = PerMessageDeflate(True, True, True, window_bits, window_bits, mem_level)
    payload = json.dumps({"type": "event", "text": "hello " * 40}).encode()
    deflate.start_compress_message()
    own = deflate.compress_message_data(payload) + deflate.end_compress_message()
    data = deflated_frame(payload, window_bits, mem_level)
    _, head, _ = header(data)
    assert data[head:] == own


def test_a_deflated_frame_inflates_to_its_payload():
    """Adding back the sync flush's tail, the payload decompresses to what was given."""
    payload = b'{"text":"' + b"abc" * 500 + b'"}'
    data = deflated_frame(payload, 9, 8)
    _, head, size = header(data)
    assert size < len(payload)
    assert inflate(data[head:], 9) == payload


def test_deflated_frames_carry_no_state_between_messages():
    """No context takeover: the same payload gives the same frame every time."""
    payload = b'{"text":"again and again"}'
    assert deflated_frame(payload, 9, 8) == deflated_frame(payload, 9, 8)


def test_frame_picks_plain_or_deflated_by_key():
    """Key None is a plain text frame; (bits, level) the deflated frame for those."""
    payload = b'{"type":"ok"}'
    assert frame(payload, None) == text_frame(payload)
    assert frame(payload, (9, 8)) == deflated_frame(payload, 9, 8)


def test_event_payload_is_the_event_as_every_member_gets_it():
    """The JSON of a room event: type event and its fields, no ref."""
    item = event("hi", 3)
    assert json.loads(event_payload(item)) == {"type": "event", **event_fields(item)}


# --- the cache --------------------------------------------------------------------------------


@pytest.fixture
def framed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, object]]:
    """Every frame made by wsframes.frame, as (payload, key)."""
    made: list[tuple[bytes, object]] = []
    real = wsframes.frame

    def counting(payload: bytes, key: wsframes.DeflateKey) -> bytes:
        made.append((payload, key))
        return real(payload, key)

    monkeypatch.setattr(wsframes, "frame", counting)
    return made


def test_frame_cache_makes_one_frame_per_event_and_key(framed):
    """The same event asked for again with the same key is the same bytes, framed once."""
    cache = FrameCache()
    item = event("hi")
    plain = cache.event(item, None)
    assert cache.event(item, None) is plain
    deflated = cache.event(item, (9, 8))
    assert cache.event(item, (9, 8)) is deflated
    assert cache.event(item, None) is plain  # a second key does not evict the first
    assert [key for _, key in framed] == [None, (9, 8)]
    assert plain == text_frame(event_payload(item))
    assert deflated == deflated_frame(event_payload(item), 9, 8)


def test_frame_cache_makes_new_frames_for_the_next_event(framed):
    """A different event (the next fan-out) is framed anew."""
    cache = FrameCache()
    first, second = event("one", 1), event("two", 2)
    cache.event(first, None)
    assert json.loads(header_payload(cache.event(second, None)))["text"] == "two"
    assert len(framed) == 2


def header_payload(data: bytes) -> bytes:
    _, head, size = header(data)
    return data[head : head + size]


def test_frame_cache_makes_one_set_of_frames_per_batch_and_key(framed):
    """A batch is framed once per key: its events' frames back to back, the same bytes after."""
    cache = FrameCache()
    batch = (event("a", 1), event("b", 2), event("c", 3))
    plain = cache.events(batch, None)
    assert cache.events(batch, None) is plain
    assert len(framed) == 3
    deflated = cache.events(batch, (9, 8))
    assert cache.events(batch, (9, 8)) is deflated
    assert cache.events(batch, None) is plain
    assert len(framed) == 6
    assert plain == b"".join(text_frame(event_payload(item)) for item in batch)


def test_frame_cache_frames_the_next_batch_anew(framed):
    """The next batch is a new fan-out: its own events are framed, not the last batch's."""
    cache = FrameCache()
    cache.events((event("a", 1), event("b", 2)), None)
    data = cache.events((event("c", 3), event("d", 4)), None)
    assert data == b"".join(text_frame(event_payload(event(t, n))) for t, n in (("c", 3), ("d", 4)))
    assert len(framed) == 4


def test_a_batch_of_one_is_the_events_own_frame(framed):
    """A one-event batch shares the single-event cache: one frame for both ways of asking."""
    cache = FrameCache()
    item = event("solo")
    assert cache.events((item,), None) is cache.event(item, None)
    assert len(framed) == 1
