"""Private conversations kept by the server (`conversations` and `pm_history`), as the page
shows them to a logged-in user: after a reload in a browser that kept nothing, the
conversation is back from the server. Skipped on a server without those ops (the page then
keeps to what the browser saved, tested in test_page_defects.py)."""

from pathlib import Path

import pytest

from tests.e2e.accounts import PASSWORD, registered, start_with_operator, web
from tests.e2e.test_browser import WAIT_MS, browser, expect, open_chat, shot

__all__ = ["browser"]  # the module's Chromium, shared with test_browser.py

FORGET_PMS = """() => {
  for (const key of Object.keys(localStorage)) {
    if (key.startsWith('chathub.pms')) localStorage.removeItem(key);
  }
}"""


def test_a_logged_in_user_gets_its_conversations_back_from_the_server(browser, tmp_path: Path):
    """A private message to a logged-in page is kept by the server: with the browser's copy
    gone, a reload lists the conversation and opening it shows the message, once."""
    hub = start_with_operator(tmp_path)
    try:
        probe = web(hub)
        probe.expect(lambda message: message.get("type") == "welcome")
        probe.send(op="conversations", ref=1)
        answer = probe.expect(lambda message: message.get("ref") == 1)
        probe.close()
        if answer.get("code") == "unknown-op":
            pytest.skip("this server keeps no private messages (conversations is unknown)")

        bob = registered(hub, "bob")
        chat = open_chat(browser, hub.base_url + "/")
        chat.set_nick("alice")
        chat.page.locator("#account-panel summary").click()
        chat.page.fill("#login-password", PASSWORD)
        chat.page.click("#register-button")
        expect(chat.page.locator("#login-message")).to_contain_text("remembers", timeout=WAIT_MS)
        bob.send("/msg alice kept on the server")
        convo = chat.page.locator('#convo-list button[data-convo="@bob"]')
        expect(convo).to_be_visible(timeout=WAIT_MS)

        chat.page.evaluate(FORGET_PMS)
        chat.page.reload()
        chat.wait_connected("alice")
        expect(convo).to_be_visible(timeout=WAIT_MS)
        convo.click()
        lines = chat.page.locator('#log .lines[data-convo="@bob"] li.pm')
        expect(lines.filter(has_text="kept on the server")).to_have_count(1, timeout=WAIT_MS)
        expect(lines).to_have_count(1)
        shot(chat, "page-pms-from-server.png")
        assert chat.errors == []
        chat.page.context.close()
        bob.close()
    finally:
        hub.stop()
