"""The baseline for `chathub bench`: the plain Twisted chat server a tutorial would give.

Rules:
- Kept for the benchmark only; nothing else imports it. It is deliberately the obvious code:
  a `LineReceiver` chat calling `sendLine` for each client and an Autobahn protocol calling
  `sendMessage` for each client, sharing one set of clients. One room, no nicks to speak of,
  no history, no limits: it is what every chathub figure is divided by.
- Run it as `python -m chathub.bench.baseline --ports-file PATH`; it writes
  `{"telnet": N, "web": N}` like chathub does, listening on loopback port 0 by default.
"""

import argparse
import json
import os
import sys
from typing import Any

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import reactor as global_reactor
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver


class ChatLine(LineReceiver):
    """A telnet chatter."""

    delimiter = b"\r\n"

    def __init__(self, clients: set[Any], name: str) -> None:
        self.clients = clients
        self.name = name

    def connectionMade(self) -> None:
        # Not in the tutorial, but chathub does it and Autobahn does it for the WebSocket side:
        # without it Nagle's algorithm and delayed ACKs, not the code, would set the latency.
        transport: Any = self.transport
        transport.setTcpNoDelay(True)
        self.clients.add(self)
        self.sendLine(f"* welcome, {self.name}".encode())  # type: ignore[no-untyped-call]

    def connectionLost(self, reason: object = None) -> None:
        self.clients.discard(self)

    def lineReceived(self, line: bytes) -> None:
        broadcast(self.clients, self.name, line.decode("utf-8", "replace"))

    def send_text(self, name: str, text: str, as_json: bytes) -> None:
        self.sendLine(f"<{name}> {text}".encode())  # type: ignore[no-untyped-call]


class ChatWebSocket(WebSocketServerProtocol):
    """A browser chatter: JSON `{"text": ...}` in, `{"type":"event","nick":...,"text":...}` out."""

    def __init__(self, clients: set[Any], name: str) -> None:
        super().__init__()
        self.clients = clients
        self.name = name

    def onOpen(self) -> None:
        self.clients.add(self)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.clients.discard(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        try:
            text = str(json.loads(payload)["text"])
        except (ValueError, KeyError, TypeError):
            return
        broadcast(self.clients, self.name, text)

    def send_text(self, name: str, text: str, as_json: bytes) -> None:
        self.sendMessage(as_json)  # type: ignore[no-untyped-call]


def broadcast(clients: set[Any], name: str, text: str) -> None:
    """What the tutorial does: for each client, send."""
    as_json = json.dumps({"type": "event", "nick": name, "text": text}).encode()
    for client in clients:
        client.send_text(name, text, as_json)


class Counter:
    def __init__(self) -> None:
        self.number = 0

    def next_name(self) -> str:
        self.number += 1
        return f"guest-{self.number}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chathub.bench.baseline")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--telnet-port", type=int, default=0)
    parser.add_argument("--web-port", type=int, default=0)
    parser.add_argument("--ports-file")
    args = parser.parse_args(argv)

    reactor: Any = global_reactor  # the module is this process's entry point
    clients: set[Any] = set()
    names = Counter()
    line_factory = Factory.forProtocol(lambda: ChatLine(clients, names.next_name()))

    class Protocol(ChatWebSocket):
        def __init__(self) -> None:
            super().__init__(clients, names.next_name())

    ws_factory = WebSocketServerFactory()
    ws_factory.protocol = Protocol
    telnet = reactor.listenTCP(args.telnet_port, line_factory, 1024, args.host)
    web = reactor.listenTCP(args.web_port, ws_factory, 1024, args.host)
    if args.ports_file:
        ports = {"telnet": telnet.getHost().port, "web": web.getHost().port}
        temporary = f"{args.ports_file}.{os.getpid()}.tmp"
        with open(temporary, "w") as file:
            file.write(json.dumps(ports))
        os.replace(temporary, args.ports_file)
    print(f"baseline: telnet {telnet.getHost().port}, web {web.getHost().port}", file=sys.stderr)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
