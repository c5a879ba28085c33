"""A WebSocket echo endpoint for the Autobahn|Testsuite (`scripts/conformance`); test-only.

Rules:
- It is chathub's own `/ws` stack with the chat taken out: a `WebSocketFactory` (so
  `configure_factory`, the one options function, sets it up) making `WebSocketConnection`s, the
  origin check, admission, output fast path, ping handling and closing handshake included,
  mounted the way `web.make_root` mounts `/ws`. Only the message handling differs: a message is
  sent back as it came (text as text, binary as binary) instead of going to the hub, and what
  the hub sends (the welcome, join events) is not sent.
- Never part of the real Site: the real `/ws` speaks JSON and refuses binary messages, which
  the testsuite's echo cases need.
- Two settings differ from `/ws`'s defaults, as the command line can make them differ:
  `--max-message` (`--ws-max-message`; the testsuite's case 9 sends messages of up to 16 MiB),
  and no message rate limit (`--max-rate 0`; cases 9 and 12 send thousands of messages in a
  row, and slowing them is chat policy, not protocol).

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
from twisted.web.resource import Resource
from twisted.web.server import Site

from chathub.config import WebSocketSettings
from chathub.hub import Hub
from chathub.websocket import WebSocketConnection, WebSocketFactory


class EchoConnection(WebSocketConnection):
    """A `WebSocketConnection` that echoes every message and shows nothing from the hub."""

    def handle_input(self, message: tuple[bytes, bool]) -> None:
        payload, is_binary = message
        if self.state == self.STATE_OPEN:
            self.sendMessage(payload, is_binary)

    def write_rendered(self, data: bytes) -> None:
        pass  # the welcome and the lobby's join events would be unexpected messages


class EchoFactory(WebSocketFactory):
    protocol = EchoConnection


def make_echo_site(reactor: Any, settings: WebSocketSettings) -> Site:
    """A Site with the echo endpoint at `/ws`, on a hub of its own."""
    factory = EchoFactory(Hub(clock=reactor.seconds), reactor, settings)
    root = Resource()
    root.putChild(b"ws", WebSocketResource(factory))
    return Site(root)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="conformance_echo", description=__doc__.split("\n")[0])
    parser.add_argument("--ports-file", required=True, help="where to write the bound port")
    defaults = WebSocketSettings()
    parser.add_argument("--max-message", type=int, default=defaults.ws_max_message, metavar="BYTES")
    parser.add_argument("--max-frames", type=int, default=defaults.max_frames, metavar="N")
    parser.add_argument(
        "--message-timeout", type=float, default=defaults.message_timeout, metavar="SECONDS"
    )
    args = parser.parse_args(argv)

    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ServerEndpoint

    settings = WebSocketSettings(
        ws_max_message=args.max_message,
        max_frames=args.max_frames,
        message_timeout=args.message_timeout,
    )
    site = make_echo_site(reactor, settings)

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
