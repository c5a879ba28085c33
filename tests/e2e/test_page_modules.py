"""The page's script is native ES modules (static/chat.js imports static/js/*.js): it runs
under the Content-Security-Policy, and the modules, imported without a content hash, are
revalidated on every load so that no browser runs an old one beside a new chat.js."""

import re
import urllib.request

from tests.e2e.conftest import HubProcess
from tests.e2e.test_browser import WAIT_MS, browser, chat, expect

__all__ = ["browser", "chat"]  # fixtures shared with test_browser.py


def test_the_page_loads_its_modules_and_runs(chat, hub: HubProcess):
    """The entry script is a module with a content hash; every module it imports loads, and
    the page connects without a script error."""
    entry = chat.page.locator('script[type="module"]')
    expect(entry).to_have_count(1)
    assert re.fullmatch(r"/static/chat\.js\?v=[0-9a-f]{12}", entry.get_attribute("src") or "")
    assert chat.page.evaluate("typeof window.chathub.state") == "object"
    expect(chat.page.locator("#message-form")).to_be_visible(timeout=WAIT_MS)


def test_modules_are_revalidated_and_linked_files_cached(hub: HubProcess):
    """static/js/*.js is JavaScript sent with `no-cache`; chat.js keeps a day's cache."""
    with urllib.request.urlopen(hub.base_url + "/static/js/base.js", timeout=10) as response:
        assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-cache"
        assert b"export " in response.read()
    with urllib.request.urlopen(hub.base_url + "/static/chat.js", timeout=10) as response:
        assert response.headers["Cache-Control"] == "public, max-age=86400"
