"""The counter and the health check, over treq's in-memory HTTP."""

import json

import pytest
from treq.testing import StubTreq

from chathub.hub import Hub
from chathub.store import MemoryStore, StoreHealth
from chathub.web import make_root


@pytest.fixture
def http() -> StubTreq:
    return StubTreq(make_root(Hub(MemoryStore())))


def fetch(http: StubTreq, path: str) -> tuple[int, dict[bytes, list[bytes]], bytes]:
    """GET `path` and return (status, headers, body), all synchronously."""
    results = []
    deferred = http.get("http://localhost" + path)
    deferred.addCallback(lambda r: http.content(r).addCallback(lambda b: results.append((r, b))))
    http.flush()
    response, body = results[0]
    return response.code, dict(response.headers.getAllRawHeaders()), body


def test_counter_counts_requests_to_its_path(http):
    """Each GET /counter answers `I am request #N` with N going up by one."""
    bodies = [fetch(http, "/counter")[2] for _ in range(3)]
    assert bodies == [b"I am request #1", b"I am request #2", b"I am request #3"]


def test_counter_is_plain_text_and_not_cached(http):
    """The counter is text/plain UTF-8 and tells caches not to keep it."""
    code, headers, _ = fetch(http, "/counter")
    assert code == 200
    assert headers[b"Content-Type"] == [b"text/plain; charset=utf-8"]
    assert headers[b"Cache-Control"] == [b"no-store"]


def test_other_paths_do_not_bump_the_counter(http):
    """Only requests to /counter are counted."""
    fetch(http, "/healthz")
    fetch(http, "/nothing-here")
    assert fetch(http, "/counter")[2] == b"I am request #1"


def test_healthz_reports_ok_as_json(http):
    """/healthz answers 200 with a JSON status."""
    code, headers, body = fetch(http, "/healthz")
    assert code == 200
    assert headers[b"Content-Type"] == [b"application/json"]
    assert json.loads(body)["status"] == "ok"


def test_healthz_shows_the_store(http):
    """/healthz includes the store's state: ok, its write backlog and its last error."""
    _, _, body = fetch(http, "/healthz")
    assert json.loads(body)["store"] == {"ok": True, "pending": 0, "error": None}


class FailingStore(MemoryStore):
    """A store whose writes are failing, as SqliteStore reports a full disk."""

    def health(self) -> StoreHealth:
        return StoreHealth(False, 12, "OperationalError: database or disk is full")


def test_healthz_fails_while_the_store_cannot_write():
    """A store that cannot write makes /healthz answer 503 `failing` with the error."""
    code, _, body = fetch(StubTreq(make_root(Hub(FailingStore()))), "/healthz")
    status = json.loads(body)
    assert code == 503
    assert status["status"] == "failing"
    assert status["store"] == {
        "ok": False,
        "pending": 12,
        "error": "OperationalError: database or disk is full",
    }
