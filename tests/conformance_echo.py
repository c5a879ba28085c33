"""A WebSocket echo endpoint for the Autobahn|Testsuite (`scripts/conformance`); test-only.

Rules:
- Built with `chathub.websocket.configure_factory`, the one options function of `/ws`, and
  mounted the way `web.make_root` mounts `/ws` (a `WebSocketResource` at `/ws` of a twisted.web
  Site), with the same origin check; only `onMessage` differs: it echoes instead of chatting.
- Never part of the real Site: the real `/ws` speaks JSON and refuses binary messages, which
  the testsuite's echo cases need.
- `--max-message` is the one setting changed from `/ws`'s defaults (as `--ws-max-message` does
  for the real process): the testsuite's case 9 sends messages of up to 16 MiB.

Run: `python -m tests.conformance_echo --ports-file PATH [--max-message BYTES]`; it listens on
127.0.0.1 port 0 and writes `{"web": PORT}` to PATH once listening.
"""

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionRequest
from twisted.web.resource import Resource
from twisted.web.server import Site

from chathub.websocket import (
    DEFAULT_MAX_MESSAGE,
    WebSocketSettings,
    check_origin,
    configure_factory,
)


class EchoConnection(WebSocketServerProtocol):  # type: ignore[misc]
    """Sends every message back as it came, text as text and binary as binary."""

    def onConnect(self, request: ConnectionRequest) -> None:
        check_origin(self, request)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.sendMessage(payload, isBinary)


def make_echo_site(reactor: Any, settings: WebSocketSettings) -> Site:
    """A Site with the echo endpoint at `/ws`, its factory set up by `configure_factory`."""
    factory = WebSocketServerFactory(reactor=reactor)
    factory.protocol = EchoConnection
    configure_factory(factory, settings)
    root = Resource()
    root.putChild(b"ws", WebSocketResource(factory))
    return Site(root)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="conformance_echo", description=__doc__.split("\n")[0])
    parser.add_argument("--ports-file", required=True, help="where to write the bound port")
    parser.add_argument("--max-message", type=int, default=DEFAULT_MAX_MESSAGE, metavar="BYTES")
    args = parser.parse_args(argv)

    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ServerEndpoint

    site = make_echo_site(reactor, WebSocketSettings(max_message=args.max_message))

    def listening(port: Any) -> None:
        temporary = f"{args.ports_file}.tmp"
        with open(temporary, "w") as file:
            json.dump({"web": port.getHost().port}, file)
        os.replace(temporary, args.ports_file)
        print(f"conformance_echo: ws://127.0.0.1:{port.getHost().port}/ws", file=sys.stderr)

    def failed(failure: Any) -> None:
        print(f"conformance_echo: cannot listen: {failure.value}", file=sys.stderr)
        reactor.stop()

    endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
    endpoint.listen(site).addCallbacks(listening, failed)
    reactor.run()


if __name__ == "__main__":
    main()
