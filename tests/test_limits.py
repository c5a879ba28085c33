"""The pure counting rules behind the limits: time is passed in by hand."""

import pytest

from chathub.limits import ConnectionCounter, MinuteCounter, TokenBucket, address_group


def test_bucket_lets_a_burst_through_then_refuses():
    """A full bucket allows `burst` messages at once and refuses the next."""
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]


def test_bucket_refills_at_its_rate():
    """After the burst, one token comes back every 1/rate seconds."""
    bucket = TokenBucket(rate=10, burst=1, now=0.0)
    assert bucket.take(0.0)
    assert not bucket.take(0.05)
    assert bucket.take(0.1)
    assert not bucket.take(0.1)


def test_bucket_never_holds_more_than_its_burst():
    """A long quiet spell refills to `burst`, not beyond."""
    bucket = TokenBucket(rate=10, burst=2, now=0.0)
    assert [bucket.take(1000.0) for _ in range(3)] == [True, True, False]


def test_bucket_wait_says_when_the_next_token_comes():
    """`wait` is the time until one token is available, 0 when one is."""
    bucket = TokenBucket(rate=4, burst=1, now=0.0)
    assert bucket.wait(0.0) == 0.0
    bucket.take(0.0)
    assert bucket.wait(0.0) == pytest.approx(0.25)
    assert bucket.wait(0.125) == pytest.approx(0.125)


def test_bucket_with_rate_zero_is_off():
    """Rate 0 allows everything and never waits."""
    bucket = TokenBucket(rate=0, burst=0, now=0.0)
    assert all(bucket.take(0.0) for _ in range(10_000))
    assert bucket.wait(0.0) == 0.0


def test_bucket_ignores_a_clock_that_steps_back():
    """Time going backwards adds no tokens."""
    bucket = TokenBucket(rate=10, burst=1, now=100.0)
    assert bucket.take(100.0)
    assert not bucket.take(50.0)


def test_minute_counter_allows_the_limit_then_refuses():
    """At most `limit` events are counted within one minute."""
    counter = MinuteCounter(3)
    assert [counter.allow(float(t)) for t in range(4)] == [True, True, True, False]


def test_minute_counter_window_slides():
    """An event a full minute old no longer counts."""
    counter = MinuteCounter(2)
    assert counter.allow(0.0) and counter.allow(30.0)
    assert not counter.allow(59.9)
    assert counter.allow(60.0)
    assert not counter.allow(60.0)
    assert counter.allow(90.0)


def test_minute_counter_retry_after_is_when_the_oldest_expires():
    """`retry_after` is the time until the oldest counted event leaves the window."""
    counter = MinuteCounter(1)
    assert counter.retry_after(0.0) == 0.0
    counter.allow(10.0)
    assert counter.retry_after(25.0) == pytest.approx(45.0)


def test_minute_counter_refusals_are_not_counted():
    """A refused event does not push the window forward."""
    counter = MinuteCounter(1)
    counter.allow(0.0)
    for t in range(1, 60):
        assert not counter.allow(float(t))
    assert counter.allow(60.0)


def test_minute_counter_zero_is_unlimited():
    """Limit 0 allows everything."""
    counter = MinuteCounter(0)
    assert all(counter.allow(0.0) for _ in range(1000))
    assert counter.retry_after(0.0) == 0.0


def test_connection_counter_refuses_past_the_total():
    """Past `max_total` open connections the answer is "total"."""
    counter = ConnectionCounter(max_total=2)
    counter.open("a")
    counter.open("b")
    assert counter.refusal("c") == "total"
    counter.close("a")
    assert counter.refusal("c") is None


def test_connection_counter_refuses_past_the_per_peer_limit():
    """Past `max_per_peer` from one address the answer is "peer"; others still get in."""
    counter = ConnectionCounter(max_per_peer=1)
    counter.open("a")
    assert counter.refusal("a") == "peer"
    assert counter.refusal("b") is None


def test_connection_counter_forgets_peers_that_left():
    """Closing the last connection of a peer removes it; an unknown close changes nothing."""
    counter = ConnectionCounter()
    counter.open("a")
    counter.close("a")
    counter.close("a")
    counter.close("never")
    assert counter.total == 0
    assert counter.per_peer == {}


@pytest.mark.parametrize(
    ("peer", "group"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("local", "local"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("::1", "::/64"),
        ("not:an:address:at:all", "not:an:address:at:all"),
    ],
)
def test_address_group_is_the_slash_64_of_an_ipv6_address(peer, group):
    """IPv6 addresses count by their /64 (an IPv4-mapped one as its IPv4 address); IPv4
    addresses and other peers count as themselves."""
    assert address_group(peer) == group


def test_connection_counter_counts_a_slash_64_as_one_address():
    """Two addresses of one /64 share the per-address limit; another /64 does not, and the
    places are given back by address too."""
    counter = ConnectionCounter(max_per_peer=2)
    counter.open("2001:db8:1:2::1")
    counter.open("2001:db8:1:2::ffff")
    assert counter.refusal("2001:db8:1:2:aaaa::3") == "peer"
    assert counter.refusal("2001:db8:1:3::1") is None
    counter.close("2001:db8:1:2::1")
    counter.close("2001:db8:1:2::ffff")
    assert (counter.total, counter.per_peer) == (0, {})


def test_negative_limits_are_rejected():
    """Negative rates or limits are a programming error, reported at once."""
    with pytest.raises(ValueError):
        TokenBucket(rate=-1, burst=1, now=0.0)
    with pytest.raises(ValueError):
        MinuteCounter(-1)
