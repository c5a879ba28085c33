"""Delivery paths under review: what reaches a connection that is closing, and in what order."""

import struct

from tests.test_websocket import CLOSE, TEXT, clock, connect, factory, hub  # noqa: F401


def test_no_event_frame_follows_the_close_frame_after_the_peer_closes(factory):  # noqa: F811
    """Once the server has sent its close frame, room messages are no longer written to it."""
    alice = connect(factory, "?nick=alice&rooms=dev")
    bob = connect(factory, "?nick=bob&rooms=dev")
    alice.poll(), bob.messages()
    alice.send(struct.pack("!H", 1000), CLOSE)  # TCP stays up until the reactor drops it
    bob.send({"op": "say", "room": "dev", "text": "late"})
    opcodes = [opcode for opcode, _, _ in alice.poll()]
    assert opcodes == [CLOSE]
