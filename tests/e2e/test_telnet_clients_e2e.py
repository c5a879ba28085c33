"""The real `telnet` (netkit) and `nc` in tmux talking with a browser user: non-ASCII text is
intact both ways (issue 15, defect 1).

tests/e2e/test_terminals_e2e.py already shows `日本語 Ü 👋🏽` intact between telnet and nc; here
the other client is the chat page in Chromium. Skipped when telnet, nc, tmux or chromium is
missing, except under CI, where that is a failure.
"""

from typing import Any

import pytest

from tests.e2e import test_browser as shared
from tests.e2e import test_terminals_e2e as terminals
from tests.e2e.conftest import HubProcess

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the test extra installs it; test_browser skips then
    expect = None

browser = shared.browser  # one headless Chromium for the module, as in test_browser.py
tmux = terminals.tmux  # a tmux server of the test's own
TEXT = terminals.TEXT


@pytest.fixture
def chat(browser: Any, hub: HubProcess) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = shared.ChatPage(context.new_page())
    page.open(hub.base_url + "/")
    page.set_nick("webby")
    yield page
    context.close()
    assert page.errors == [], "the page threw script errors"


@pytest.mark.parametrize("client", ["telnet", "nc"])
def test_non_ascii_text_is_intact_between_a_terminal_client_and_the_page(
    tmux: "terminals.Tmux", hub: HubProcess, chat: Any, client: str
) -> None:
    """`日本語 Ü 👋🏽` typed in telnet (or nc) shows intact on the page, and the same text sent
    from the page shows intact on the terminal's screen, with no stray characters there."""
    tmux.open(client, f"{client} 127.0.0.1 {hub.telnet}")
    tmux.wait(client, terminals.has("type /help"))
    tmux.type(client, "/nick tuser")
    tmux.wait(client, terminals.has("is now known as tuser"))
    tmux.type(client, f"{TEXT} from {client}")
    expect(chat.messages("lobby", f"{TEXT} from {client}")).to_have_count(1)
    chat.type(f"{TEXT} from the page")
    rows = tmux.wait(client, terminals.has(f"[lobby] <webby> {TEXT} from the page"))
    terminals.no_stray(rows)
    assert any(row.endswith(f"[lobby] <tuser> {TEXT} from {client}") for row in rows), rows
