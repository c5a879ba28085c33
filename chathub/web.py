"""The HTTP adapter: one twisted.web Site for the page, the API, the counter and `/ws`.

Rules:
- Thin: resources read from the hub and render; they decide nothing.
- Plain text and JSON answers set their Content-Type and charset explicitly.
"""

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from autobahn.twisted.resource import WebSocketResource
from twisted.web import http
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from chathub.api import ApiResource
from chathub.hub import Hub
from chathub.page import PageResource, RoomResource, StaticResource, asset_dir, make_environment
from chathub.websocket import WebSocketFactory


def _send_json(request: Request, body: Any, code: int = 200) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


class CounterResource(Resource):
    """`GET /counter`: `I am request #N`, N counting requests to this path (kept by the store)."""

    isLeaf = True

    def __init__(self, hub: Hub) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.hub = hub

    def render_GET(self, request: Request) -> bytes:
        number = self.hub.store.bump_counter("counter")
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        return f"I am request #{number}".encode()


class HealthResource(Resource):
    """`GET /healthz`: a small JSON status; 503 (and `failing`) while history cannot be written."""

    isLeaf = True

    def __init__(self, hub: Hub) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.hub = hub

    def render_GET(self, request: Request) -> bytes:
        store = self.hub.store.health()
        status = {
            "status": "ok" if store.ok else "failing",
            "clients": len(self.hub.sessions),
            "rooms": len(self.hub.members),
            "store": {"ok": store.ok, "pending": store.pending, "error": store.error},
            "limits": asdict(self.hub.counters),  # how often each limit refused or cut something
        }
        return _send_json(request, status, 200 if store.ok else 503)


def make_root(
    hub: Hub, websocket: WebSocketFactory | None = None, api: ApiResource | None = None
) -> Resource:
    """The resource tree of the web port; `/ws` is mounted when a WebSocket factory is given."""
    root = Resource()
    root.putChild(b"counter", CounterResource(hub))
    root.putChild(b"healthz", HealthResource(hub))
    root.putChild(b"api", api or ApiResource(hub))
    pages = make_environment()
    root.putChild(b"", PageResource(hub, pages))
    root.putChild(b"rooms", RoomResource(hub, pages))
    root.putChild(b"static", StaticResource(str(asset_dir("static"))))
    if websocket is not None:
        root.putChild(b"ws", WebSocketResource(websocket))
    return root


class ChatSite(Site):
    """The web port's Site: each finished request is counted (`/metrics`), not logged (an
    access log line per request would carry the query, and a busy port would flood it)."""

    def __init__(self, root: Resource, count: Callable[[http.Request], None] | None = None) -> None:
        super().__init__(root)  # type: ignore[no-untyped-call]
        self.count = count
        self.noisy = False  # no log line each time it starts listening
        self.displayTracebacks = False  # a traceback is for the log, never for a visitor

    def log(self, request: http.Request) -> None:
        if self.count is not None:
            self.count(request)


def make_site(
    hub: Hub,
    websocket: WebSocketFactory | None = None,
    count: Callable[[http.Request], None] | None = None,
    api: ApiResource | None = None,
) -> Site:
    return ChatSite(make_root(hub, websocket, api), count)
