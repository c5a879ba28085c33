// chathub's chat page: one WebSocket to /ws speaking the JSON protocol of PROTOCOL.md.
//
// Rules:
// - Text from the server (anyone's nick, message, room name) reaches the page only through
//   textContent and attributes, never innerHTML: what a user types is shown as text. Links are
//   built with DOM calls, for http and https addresses only.
// - A message with an id is shown once per room: de-duplicated by id and inserted in id order,
//   so a replay after a reconnect, /history and scrolling back can overlap what is shown.
// - A lost connection is retried with exponential backoff (with jitter), keeping the nick and
//   the rooms, and passing since=ROOM:ID (the last id seen per room) so that exactly the
//   missed messages come back.
// - What must survive a reload lives in localStorage: the nick and rooms (an account's nick
//   comes from the HttpOnly log-in cookie instead), private conversations, the settings.
// - No build step, no dependencies: native ES modules, one per concern under static/js/, and
//   this one, the entry, which wires them up and connects.

import { applyQuiet } from "./js/account.js";
import { state, ui } from "./js/base.js";
import { composerChanged } from "./js/composer.js";
import { connect } from "./js/connection.js";
import { renderNotifyButton } from "./js/convos.js";
import { renderAccount, renderRooms } from "./js/view.js";

// Phones: the member list starts folded so the messages get the screen.
if (window.matchMedia("(max-width: 720px)").matches) ui.membersPanel.open = false;

// For tests and the curious: `chathub.socket.close()` forces a reconnect.
window.chathub = {
  get socket() {
    return state.socket;
  },
  state,
  connect,
};

// The forms need this script: they stay hidden in the HTML until it runs.
document.documentElement.classList.add("js");
for (const node of document.querySelectorAll("[data-needs-js]")) node.hidden = false;
ui.convoPanel.hidden = true;
ui.roomList.replaceChildren(); // the server-rendered links are for pages without JavaScript
applyQuiet();
renderNotifyButton();
renderAccount();
composerChanged();
renderRooms();
connect();
