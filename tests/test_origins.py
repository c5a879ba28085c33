"""The host and origin policies' pure functions."""

import pytest

from chathub.origins import host_name, host_pattern, host_served, origin_allowed, parse_origin


def test_origin_allowed_uses_the_default_port_of_the_scheme():
    """A Host without a port means the scheme's default port."""
    assert origin_allowed("https://chat.example", "chat.example", True, ())
    assert origin_allowed("http://chat.example:80", "chat.example", False, ())
    assert not origin_allowed("http://chat.example", "chat.example:8080", False, ())


def test_parse_origin_fills_in_the_default_port_and_lowercases():
    """`HTTPS://Chat.Example` is ("https", "chat.example", 443); junk is None."""
    assert parse_origin("HTTPS://Chat.Example") == ("https", "chat.example", 443)
    assert parse_origin("http://[::1]:8080") == ("http", "::1", 8080)
    assert parse_origin("chat.example") is None
    assert parse_origin("http://host:99999") is None


def test_allowed_list_entries_and_wildcards():
    """Listed origins, `null` and `*` widen the policy; an unlisted site stays refused."""
    page = "chat.example:8080"
    assert origin_allowed("https://app.example", page, False, ["https://app.example"])
    assert not origin_allowed("https://app.example:444", page, False, ["https://app.example"])
    assert origin_allowed("null", page, False, ["null"])
    assert not origin_allowed("null", page, False, [])
    assert origin_allowed("http://anything.example", page, False, ["*"])
    assert origin_allowed("", page, False, [])


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8080", "localhost"),
        ("Chat.Example.", "chat.example"),
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]:8080", "::1"),
        ("[::1]", "::1"),
        ("::1", None),  # an IPv6 address needs its brackets
        ("[::1", None),
        ("evil.example:x", None),
        ("evil.example:123456", None),
        ("a b", None),
        ("", None),
    ],
)
def test_host_name_reads_a_host_header(header, name):
    """The name or address of a Host header, lower-cased; None when malformed."""
    assert host_name(header) == name


def test_addresses_and_loopback_names_are_served_without_a_list():
    """IP literals, localhost and *.localhost need no --allow-host; other names do."""
    for header in ("127.0.0.1:8080", "[::1]:8080", "192.0.2.7", "localhost:1", "a.localhost"):
        assert host_served(header, ()), header
    assert not host_served("evil.example:8080", ())
    assert not host_served("localhost.evil.example", ())
    assert not host_served("", ())


def test_allowed_names_wildcards_and_star():
    """A listed name, a name under a `*.` entry, and anything with `*`."""
    allowed = ("chat.example", "*.example.org")
    assert host_served("CHAT.example:443", allowed)
    assert host_served("a.b.example.org", allowed)
    assert not host_served("example.org", allowed)
    assert not host_served("chat.example.evil", allowed)
    assert host_served("anything.example", ("*",))
    assert host_served("not a host", ("*",))


@pytest.mark.parametrize(
    ("entry", "normal"),
    [
        ("Chat.Example", "chat.example"),
        ("*.Example.org", "*.example.org"),
        ("*", "*"),
        ("192.0.2.7", "192.0.2.7"),
        ("[::1]", "::1"),
    ],
)
def test_host_pattern_normalizes_entries(entry, normal):
    """--allow-host entries are lower-cased; an address loses its brackets."""
    assert host_pattern(entry) == normal


@pytest.mark.parametrize("entry", ["", "a b", "chat.example:8080", "*.1.2.3.4", "http://x"])
def test_host_pattern_refuses_what_is_no_name(entry):
    """A port, a URL, spaces or a wildcard over an address are refused with the entry named."""
    with pytest.raises(ValueError, match="is not a host name"):
        host_pattern(entry)
