"""`fastpath.write` on a real socket: sent at once when nothing waits, else Twisted's write."""

import socket
from collections.abc import Iterator

import pytest
from twisted.internet import tcp
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactor, MemoryReactorClock, StringTransport

from chathub import fastpath


class _Port:
    _realPortNumber = 0

    def getHost(self) -> None:
        return None


@pytest.fixture
def pair() -> Iterator[tuple[tcp.Server, socket.socket, MemoryReactor]]:
    """A Twisted TCP server transport on one end of a local socket pair, and the other end."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    reactor = MemoryReactor()
    transport = tcp.Server(ours, Protocol(), ("127.0.0.1", 1), _Port(), 1, reactor)
    yield transport, theirs, reactor
    ours.close()
    theirs.close()


def test_with_nothing_buffered_the_bytes_are_sent_at_once(pair) -> None:
    """Nothing is buffered in Twisted and no write is registered with the reactor."""
    transport, theirs, reactor = pair
    fastpath.write(transport, b"hello\r\n")
    assert theirs.recv(100) == b"hello\r\n"
    assert transport._tempDataLen == 0
    assert reactor.writers == set()


def test_with_output_already_buffered_new_bytes_queue_behind_it(pair) -> None:
    """Bytes Twisted holds go first: the new ones are buffered after them, never sent ahead."""
    transport, theirs, _ = pair
    transport.write(b"first ")
    fastpath.write(transport, b"second")
    assert transport._tempDataBuffer == [b"first ", b"second"]
    theirs.setblocking(False)
    with pytest.raises(BlockingIOError):
        theirs.recv(100)


def test_what_the_kernel_does_not_take_is_buffered_by_twisted(pair) -> None:
    """A full socket buffer leaves the rest to Twisted, in order, with nothing lost."""
    transport, theirs, _ = pair
    big = bytes(range(256)) * 40_000  # far more than a socket buffer holds
    fastpath.write(transport, big)
    buffered = b"".join(transport._tempDataBuffer)
    assert 0 < len(buffered) < len(big)
    sent = len(big) - len(buffered)
    received = b""
    while len(received) < sent:
        received += theirs.recv(1 << 20)
    assert received + buffered == big


def test_other_transports_get_an_ordinary_write() -> None:
    """A transport that is not a plain TCP connection is written the usual way."""
    transport = StringTransport()
    fastpath.write(transport, b"line\r\n")
    assert transport.value() == b"line\r\n"


def test_nothing_is_sent_after_an_abort() -> None:
    """An aborted connection's output is dropped, as Twisted drops it: nothing reaches the peer."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.setblocking(False)
    transport = tcp.Server(ours, Protocol(), ("127.0.0.1", 1), _Port(), 1, MemoryReactorClock())
    try:
        transport.abortConnection()
        fastpath.write(transport, b"after the abort")
        with pytest.raises(BlockingIOError):
            theirs.recv(100)
    finally:
        ours.close()
        theirs.close()
