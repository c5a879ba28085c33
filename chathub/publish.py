"""`POST /api/rooms/ROOM/messages`: scripts publish as their API token's bot.

Rules:
- `Authorization: Bearer TOKEN` names the token (tokens.py); none or unknown is 401, a room the
  token may not publish to is 403.
- The body is JSON: `{"text": ..., "kind": "message"|"action"}` or an array of 1 to 100 of them.
  Malformed is 400; over 100 items or a text over the message limit is 413. The answer is 201
  `{"room", "id", "ts"}` (an array: `"ids": [...]`).
- `Idempotency-Key: KEY` (1 to 64 printable ASCII characters): a repeat with the same key and
  token within 10 minutes gets the first answer again and publishes nothing, so a script that
  lost the answer may retry; a repeat that comes while the first is still under way waits for
  its answer. The keys kept are bounded (the oldest go first).
- Each token has its own rate (`rate` a second, a burst of twice that); past it 429 with
  `Retry-After`. While history cannot keep up (or the room cannot be opened), 503 with
  `Retry-After`: nothing was published.
- Every error is JSON `{"error": CODE, "message": TEXT}`.
"""

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from twisted.web.server import Request

from chathub import feeds
from chathub.events import Error, Event, EventKind
from chathub.hub import Hub
from chathub.limits import TokenBucket
from chathub.respond import Reply, answer
from chathub.text import normalize_room
from chathub.tokens import Token, TokenTable

MAX_ITEMS = 100
IDEMPOTENCY_SECONDS = 600.0
IDEMPOTENCY_KEYS = 10_000  # answers remembered at most, all tokens together
KINDS: tuple[EventKind, ...] = ("message", "action")

# (status, body, extra headers)
Answer = tuple[int, dict[str, Any], dict[bytes, bytes]]


def _error(
    status: int, code: str, message: str, retry_after: int = 0, authenticate: bool = False
) -> Answer:
    headers: dict[bytes, bytes] = {}
    if retry_after:
        headers[b"retry-after"] = str(retry_after).encode()
    if authenticate:
        headers[b"www-authenticate"] = b"Bearer"
    return status, {"error": code, "message": message}, headers


class Publisher:
    """Checks and carries out publish requests for one hub and its tokens."""

    def __init__(
        self, hub: Hub, tokens: TokenTable, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.hub = hub
        self.tokens = tokens
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._answers: OrderedDict[tuple[str, str], tuple[float, Answer]] = OrderedDict()
        # Keys whose first request is being published: repeats wait here for its answer.
        self._under_way: dict[tuple[str, str], list[Callable[[Answer], None]]] = {}

    def render(self, request: Request, name: str) -> bytes | int:
        token, refusal = self._authorize(request)
        if refusal is not None:
            return _send(request, refusal)
        assert token is not None
        room = normalize_room(name)
        if room is None:
            return _send(request, _error(400, "bad-room", f"{name[:40]!r} is not a valid room"))
        if not token.allows(room):
            message = f"token {token.name} may not publish to {room}"
            return _send(request, _error(403, "forbidden", message))
        key = _header(request, b"idempotency-key")
        if key is not None and not _good_key(key):
            message = "Idempotency-Key is 1 to 64 printable ASCII characters"
            return _send(request, _error(400, "bad-idempotency-key", message))
        remembered = self._remembered(token, key)
        if remembered is not None:
            return _send(request, remembered)
        repeats = self._under_way.get((token.name, key)) if key is not None else None
        if repeats is not None:  # the first is still being published: its answer is ours
            waiting = repeats

            def await_first(reply: Reply) -> None:
                waiting.append(lambda outcome: reply(_send(request, outcome)))

            return answer(request, await_first)
        parsed = _posts(request.content.read() if request.content is not None else b"")
        if not isinstance(parsed[0], list):
            return _send(request, parsed)
        posts, many = parsed
        bucket = self._bucket(token)
        now = self.clock()
        if not bucket.take_many(len(posts), now):
            wait = max(1, math.ceil(bucket.wait_for(len(posts), now)))
            message = f"at most {token.rate:g} messages a second for token {token.name}"
            return _send(request, _error(429, "rate-limited", message, retry_after=wait))

        if key is not None:
            self._under_way[(token.name, key)] = []

        def start(reply: Reply) -> None:
            def published(result: tuple[Event, ...] | Error) -> None:
                outcome = _outcome(room, result, many)
                repeats = self._under_way.pop((token.name, key), []) if key is not None else []
                if outcome[0] < 500:
                    self._remember(token, key, outcome)
                reply(_send(request, outcome))
                for repeat in repeats:
                    repeat(outcome)

            feeds.publish(self.hub, token.nick, room, posts, published)

        return answer(request, start)

    def _authorize(self, request: Request) -> tuple[Token | None, Answer | None]:
        header = _header(request, b"authorization") or ""
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            message = "send Authorization: Bearer TOKEN"
            return None, _error(401, "unauthorized", message, authenticate=True)
        token = self.tokens.find(secret.strip())
        if token is None:
            return None, _error(401, "unauthorized", "unknown token", authenticate=True)
        return token, None

    def _bucket(self, token: Token) -> TokenBucket:
        bucket = self._buckets.get(token.name)
        if bucket is None:
            burst = max(1, int(token.rate * 2))
            bucket = self._buckets[token.name] = TokenBucket(token.rate, burst, self.clock())
        return bucket

    def _remembered(self, token: Token, key: str | None) -> Answer | None:
        if key is None:
            return None
        now = self.clock()
        while self._answers:  # the oldest first: drop what has expired
            oldest_key, (expires, _) = next(iter(self._answers.items()))
            if expires > now:
                break
            del self._answers[oldest_key]
        entry = self._answers.get((token.name, key))
        return entry[1] if entry is not None else None

    def _remember(self, token: Token, key: str | None, outcome: Answer) -> None:
        if key is None:
            return
        self._answers[(token.name, key)] = (self.clock() + IDEMPOTENCY_SECONDS, outcome)
        while len(self._answers) > IDEMPOTENCY_KEYS:
            self._answers.popitem(last=False)


def _header(request: Request, name: bytes) -> str | None:
    value = request.getHeader(name)
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _good_key(key: str) -> bool:
    return 1 <= len(key) <= 64 and key.isascii() and key.isprintable()


def _posts(body: bytes) -> "tuple[list[feeds.Post], bool] | Answer":
    """The messages a body asks to publish, and whether it was an array; or the refusal."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return _error(400, "bad-json", 'the body must be JSON: {"text": ...} or an array of them')
    items = data if isinstance(data, list) else [data]
    if not items:
        return _error(400, "bad-request", "an empty array publishes nothing")
    if len(items) > MAX_ITEMS:
        return _error(413, "too-large", f"at most {MAX_ITEMS} messages in one request")
    posts: list[feeds.Post] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            return _error(400, "bad-request", 'each message is an object with a string "text"')
        kind = item.get("kind", "message")
        if kind not in KINDS:
            return _error(400, "bad-request", '"kind" is "message" or "action"')
        unknown = set(item) - {"text", "kind"}
        if unknown:
            return _error(400, "bad-request", f"unknown field {sorted(unknown)[0]!r}")
        posts.append(feeds.Post(kind, item["text"]))
    return posts, isinstance(data, list)


def _outcome(room: str, result: tuple[Event, ...] | Error, many: bool) -> Answer:
    if isinstance(result, Error):
        if result.code == "unavailable":
            return _error(503, "unavailable", "history is busy; try again", retry_after=1)
        if result.code == "too-long":
            return _error(413, "too-large", result.message)
        if result.code == "room-closed":
            return _error(403, result.code, result.message)
        return _error(400, result.code, result.message)
    ts = result[0].ts
    if many:
        return 201, {"room": room, "ids": [event.id for event in result], "ts": ts}, {}
    return 201, {"room": room, "id": result[0].id, "ts": ts}, {}


def _send(request: Request, outcome: Answer) -> bytes:
    status, body, headers = outcome
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    for name, value in headers.items():
        request.setHeader(name, value)
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
