"""Writing to a TCP connection at once, without a reactor round trip, when nothing is waiting.

Rules:
- Only a plain, connected, non-TLS `twisted.internet.tcp.Server` with nothing buffered is
  written directly: `socket.send` now is what Twisted would do on the next writable event,
  minus registering for that event and dispatching it (two `epoll_ctl` calls, the reactor's
  logging context, `doWrite`): most of a fan-out delivery's cost in py-spy.
- Whatever the kernel does not take, and every other case (TLS, a UNIX socket, a test
  transport, output already buffered, a connection closing), goes to `transport.write`, so
  ordering, buffering, producers (`Outbox`) and connection loss stay Twisted's.
"""

from typing import Any

from twisted.internet.tcp import Server


def write(transport: Any, data: bytes) -> None:
    """`transport.write(data)`, sending at once when that cannot change what Twisted does."""
    if (
        type(transport) is Server
        and not transport.TLS
        and transport.connected
        and not transport.disconnecting
        and not transport._aborting  # abortConnection leaves `connected` set until next turn
        and not transport._tempDataLen
        and not transport.dataBuffer
    ):
        try:
            sent = transport.socket.send(data)
        except OSError:  # would block, or the peer is gone: Twisted finds out and handles it
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)
