"""WebSocket frames the server sends, made once and shared by every connection that can take them.

Rules:
- A server frame is unmasked; chathub sends each message as one final text frame
  (`autoFragmentSize` is 0), so a frame is the header and the payload, nothing else.
- permessage-deflate is accepted only without server context takeover, so every message is
  compressed on its own, with no state carried between messages: the same compressed frame
  serves every connection that negotiated the same (window bits, memory level), byte for byte
  what Autobahn would have made for each (`deflated_frame`; a test compares them).
- `FrameCache` keeps the frames of the last event and the last batch of events the hub fanned
  out, per deflate key (None: uncompressed), so a broadcast is encoded and framed once per kind
  of peer, not once per peer.
"""

import zlib

from chathub.events import Event
from chathub.jsonwire import encode, event_fields

# (window bits, memory level) of a deflating peer; None for a peer without compression.
DeflateKey = tuple[int, int] | None

_TEXT = 0x81  # FIN + text opcode
_DEFLATED_TEXT = 0xC1  # FIN + RSV1 (compressed) + text opcode


def _frame(first: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return bytes((first, 126)) + size.to_bytes(2, "big") + payload
    return bytes((first, 127)) + size.to_bytes(8, "big") + payload


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame carrying `payload`."""
    return _frame(_TEXT, payload)


def deflated_frame(payload: bytes, window_bits: int, mem_level: int) -> bytes:
    """A final text frame compressed as Autobahn's permessage-deflate compresses a message
    with no context takeover (RSV1 set; the sync flush's trailing 00 00 ff ff removed)."""
    compressor = zlib.compressobj(
        zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -window_bits, mem_level
    )
    data = (compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    return _frame(_DEFLATED_TEXT, data)


def frame(payload: bytes, key: DeflateKey) -> bytes:
    """The frame of `payload` for a peer with deflate `key`."""
    return text_frame(payload) if key is None else deflated_frame(payload, *key)


def event_payload(event: Event) -> bytes:
    """The JSON text of a room event as every member gets it (no `ref`)."""
    return encode({"type": "event", **event_fields(event)})


class FrameCache:
    """The frames of the last event and the last batch fanned out, per deflate key."""

    def __init__(self) -> None:
        self._event: Event | None = None
        self._event_payload = b""
        self._event_frames: dict[DeflateKey, bytes] = {}
        self._batch: tuple[Event, ...] | None = None
        self._batch_frames: dict[DeflateKey, bytes] = {}

    def event(self, event: Event, key: DeflateKey) -> bytes:
        """The frame of one room event for peers with deflate `key`, made once."""
        if event is not self._event:
            self._event = event
            self._event_payload = event_payload(event)
            self._event_frames = {}
        frames = self._event_frames.get(key)
        if frames is None:
            frames = self._event_frames[key] = frame(self._event_payload, key)
        return frames

    def events(self, events: tuple[Event, ...], key: DeflateKey) -> bytes:
        """The frames of a batch of room events for peers with deflate `key`, made once."""
        if len(events) == 1:
            return self.event(events[0], key)
        if events is not self._batch:
            self._batch = events
            self._batch_frames = {}
        frames = self._batch_frames.get(key)
        if frames is None:
            frames = b"".join(frame(event_payload(event), key) for event in events)
            self._batch_frames[key] = frames
        return frames
