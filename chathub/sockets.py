"""Listening sockets shared by workers: bound once by the supervisor, adopted by every worker.

Rules:
- The listener's endpoint string is read by Twisted's own parser on both sides, so `tcp:`,
  `tcp6:`, `ssl:` and `unix:` mean what they always mean. The supervisor's reactor stand-in
  (`Binder`) turns `listenTCP`/`listenSSL`/`listenUNIX` into a bound, listening socket of its
  own (with the endpoint's backlog), and hands its descriptor to the workers; a worker's
  (`Adopter`) turns the same calls into `adoptStreamPort` on the inherited descriptor (TLS is
  added around the factory there, with the endpoint's certificate).
- The kernel shares the accept queue: each connection is accepted by one worker, whichever is
  free first; port 0 works (the port is bound once, before any worker starts).
- A socket that cannot be bound is the service's usual `BindError` (one line, exit 1).
"""

import os
import socket
from typing import Any

from twisted.internet import abstract
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer

from chathub.internals import fair_accepts

SHARED_ACCEPTS = 8  # connections a worker accepts a turn from a socket the workers share


@implementer(IListeningPort)
class BoundPort:
    """A listening socket the supervisor holds for its workers."""

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock

    def fileno(self) -> int:
        return self.socket.fileno()

    def getHost(self) -> Any:
        return self.socket.getsockname()

    def startListening(self) -> None:
        """Bound and listening from the start."""

    def stopListening(self) -> None:
        self.socket.close()


def _tcp_socket(port: int, backlog: int, interface: str) -> socket.socket:
    family = socket.AF_INET6 if abstract.isIPv6Address(interface) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((interface or ("::" if family == socket.AF_INET6 else "0.0.0.0"), port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class Binder:
    """A stand-in reactor for parsing a listener: binds its socket and keeps it."""

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self.sockets: list[socket.socket] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)

    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> BoundPort:
        return self._keep(_tcp_socket(port, backlog, interface))

    def listenSSL(
        self,
        port: int,
        factory: Any,
        contextFactory: Any,
        backlog: int = 50,
        interface: str = "",
    ) -> BoundPort:
        return self._keep(_tcp_socket(port, backlog, interface))

    def listenUNIX(
        self, address: str, factory: Any, backlog: int = 50, mode: int = 0o666, wantPID: int = 0
    ) -> BoundPort:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(address) and not _answers(address):
            os.unlink(address)  # a socket file left behind by a process that is gone
        sock.bind(address)
        os.chmod(address, mode)
        sock.listen(backlog)
        sock.setblocking(False)
        return self._keep(sock)

    def _keep(self, sock: socket.socket) -> BoundPort:
        sock.set_inheritable(True)
        self.sockets.append(sock)
        return BoundPort(sock)


def _answers(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


class Adopter:
    """A stand-in reactor for a worker's listener: its socket is the one inherited as `fd`."""

    def __init__(self, reactor: Any, fd: int) -> None:
        self._reactor = reactor
        self.fd = fd

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)

    def _adopt(self, factory: Any) -> IListeningPort:
        with socket.socket(fileno=os.dup(self.fd)) as inherited:
            family = inherited.family
        port: IListeningPort = self._reactor.adoptStreamPort(self.fd, family, factory)
        fair_accepts(port, SHARED_ACCEPTS)
        return port

    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> IListeningPort:
        return self._adopt(factory)

    def listenSSL(
        self,
        port: int,
        factory: Any,
        contextFactory: Any,
        backlog: int = 50,
        interface: str = "",
    ) -> IListeningPort:
        return self._adopt(TLSMemoryBIOFactory(contextFactory, False, factory))

    def listenUNIX(
        self, address: str, factory: Any, backlog: int = 50, mode: int = 0o666, wantPID: int = 0
    ) -> IListeningPort:
        return self._adopt(factory)


async def bind(reactor: Any, description: str) -> tuple[socket.socket, int | str | None]:
    """Bind the socket `description` names; the socket and its port (or path)."""
    binder = Binder(reactor)
    endpoint = serverFromString(binder, description)
    port = await endpoint.listen(None)  # no factory: not served here
    host = port.getHost()
    [sock] = binder.sockets
    bound = host[1] if isinstance(host, tuple) else host
    return sock, bound
