"""One bench connection's opening and readiness (`chathub/bench/conn.py`), without sockets."""

import socket

import pytest

from chathub.bench.conn import Conn, Endpoint, Plan, counter_for, is_ready, opening, ready_at_once
from chathub.bench.wire import AnswerCounter, PatternCounter

ENDPOINT = Endpoint("127.0.0.1", telnet=1, web=2, token="chathub_t")


def conn(wire: str, publisher: bool = False, head: bytes = b"") -> Conn:
    made = Conn(socket.socket(), wire, "lobby", publisher, counter_for(wire), head=head)
    made.sock.close()
    return made


def test_an_event_stream_reader_opens_with_its_room_s_get_and_is_ready_at_200() -> None:
    """`sse`: a GET of the room's events; ready once the answer's head is whole and a 200."""
    assert opening("sse", "bench2", ENDPOINT, False).startswith(
        b"GET /api/rooms/bench2/events HTTP/1.1\r\n"
    )
    assert not is_ready(conn("sse", head=b"HTTP/1.1 200 OK\r\nContent-Type: text/event-"))
    assert is_ready(conn("sse", head=b"HTTP/1.1 200 OK\r\n\r\n: chathub event stream\n\n"))
    with pytest.raises(ConnectionError, match=r"event stream refused: HTTP/1\.1 503"):
        is_ready(conn("sse", head=b"HTTP/1.1 503 Service Unavailable\r\n\r\n{}"))


def test_an_http_publisher_sends_nothing_first_and_is_ready_at_once() -> None:
    """Its requests carry everything; its answers are tallied, never counted as deliveries."""
    publisher = conn("http", publisher=True)
    assert opening("http", "lobby", ENDPOINT, True) == b""
    assert ready_at_once(publisher) and ready_at_once(conn("redis", publisher=True))
    assert not ready_at_once(conn("sse"))
    assert isinstance(publisher.counter, AnswerCounter)
    assert isinstance(counter_for("sse"), PatternCounter)


def test_the_plan_puts_every_subscriber_on_sse_when_asked() -> None:
    assert Plan(10, 1, 1, "sse", "http", 64).subscriber_wire(3) == "sse"
