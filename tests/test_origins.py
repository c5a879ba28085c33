"""The origin policy's pure functions."""

from chathub.origins import origin_allowed, parse_origin


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
