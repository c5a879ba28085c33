"""`--redis URL`: the forms accepted, what they mean, and the refusals."""

import pytest

from chathub.redisurl import RedisAddress, parse_redis_url


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("redis://localhost", RedisAddress("redis", "localhost", 6379, db=0)),
        ("redis://10.0.0.5:6380/3", RedisAddress("redis", "10.0.0.5", 6380, db=3)),
        (
            "redis://chat:s%40cret@redis.example:6379/0",
            RedisAddress("redis", "redis.example", 6379, db=0, username="chat", password="s@cret"),
        ),
        ("redis://:pw@h/1", RedisAddress("redis", "h", 6379, db=1, password="pw")),
        ("rediss://h:6390", RedisAddress("rediss", "h", 6390)),
        ("redis://[::1]:7000/2", RedisAddress("redis", "::1", 7000, db=2)),
        ("unix:///run/redis.sock", RedisAddress("unix", path="/run/redis.sock")),
        ("unix:///tmp/r.sock?db=4", RedisAddress("unix", path="/tmp/r.sock", db=4)),
    ],
)
def test_a_redis_url_names_its_address(url, address):
    """Scheme, host, port (6379 by default), database, user and password are read."""
    assert parse_redis_url(url) == address


@pytest.mark.parametrize(
    "url",
    ["http://h", "redis://", "redis://h/x", "unix://relative/path", "redis://h:99999", "h:6379"],
)
def test_a_url_that_names_no_redis_is_refused_with_a_reason(url):
    """Another scheme, no host, a database that is not a number, a bad port: ValueError."""
    with pytest.raises(ValueError) as raised:
        parse_redis_url(url)
    assert str(raised.value)


def test_the_shown_url_masks_the_password():
    """Logs and errors show where Redis is, never the password."""
    assert parse_redis_url("redis://chat:secret@h:1/2").shown == "redis://chat:***@h:1/2"
    assert parse_redis_url("unix:///s.sock?db=1").shown == "unix:///s.sock?db=1"
    assert "secret" not in parse_redis_url("rediss://:secret@h").shown
