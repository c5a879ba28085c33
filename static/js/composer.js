// The message box (Enter sends, Shift+Enter breaks the line, a counter past 3,500
// characters) and the page's buttons and links.
import { COUNT_FROM, MAX_TEXT, MAX_TEXT_LINES, NICK_NAME, ROOM_NAME, TYPING_EVERY_MS, normalizeRoom, sameNick, state, ui } from "./base.js";
import { HIDDEN_START, joinRoom, openConvo, submit } from "./commands.js";
import { connect, hashTarget, send } from "./connection.js";
import { currentView, nearBottom, nearTop, placeUnreadMarker, scrollToEnd, systemLine } from "./log.js";
import { loadOlder } from "./receive.js";
import { renderConvos, renderRooms, showView } from "./view.js";

// --- the composer: a textarea (Enter sends, Shift+Enter breaks the line) -------------------

export function composerState() {
  const value = ui.messageInput.value;
  const chars = [...value].length;
  const lines = value.split("\n").length;
  return { chars, lines, over: chars > MAX_TEXT || lines > MAX_TEXT_LINES };
}

export function composerChanged() {
  const { chars, lines, over } = composerState();
  ui.sendButton.disabled = over;
  ui.charCount.hidden = chars < COUNT_FROM && lines <= MAX_TEXT_LINES;
  ui.charCount.classList.toggle("over", over);
  ui.charCount.textContent =
    lines > MAX_TEXT_LINES
      ? `${lines} / ${MAX_TEXT_LINES} lines`
      : `${chars.toLocaleString("en")} / ${MAX_TEXT.toLocaleString("en")}`;
  ui.charCount.title = over ? "Too long to send: shorten it first" : "characters";
  // The box grows with its text, up to a third of the screen; empty, it is one row.
  ui.messageInput.style.height = "";
  if (!ui.messageInput.value.includes("\n") && ui.messageInput.scrollHeight <= ui.messageInput.clientHeight + 2) return;
  ui.messageInput.style.height = "auto";
  ui.messageInput.style.height = `${Math.min(ui.messageInput.scrollHeight + 2, window.innerHeight / 3)}px`;
}

export function sendComposer() {
  if (composerState().over) {
    systemLine(`That is too long to send: at most ${MAX_TEXT.toLocaleString("en")} characters and ${MAX_TEXT_LINES} lines.`, "error");
    return;
  }
  if (submit(ui.messageInput.value)) {
    ui.messageInput.value = "";
    composerChanged();
  }
}

ui.messageForm.addEventListener("submit", (event) => {
  event.preventDefault();
  sendComposer();
});

ui.messageInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendComposer();
    return;
  }
  if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
  const names = [...state.rooms.keys()];
  if (!names.length) return;
  event.preventDefault();
  const step = event.key === "ArrowUp" ? -1 : 1;
  const index = names.indexOf(state.current);
  showView(names[(index + step + names.length) % names.length]);
});

ui.messageInput.addEventListener("input", () => {
  composerChanged();
  // Tell the room we are typing, at most every 3 s, and never for a command.
  const view = currentView();
  const text = ui.messageInput.value.replace(HIDDEN_START, "");
  if (!view || view.kind !== "room" || !text || text.startsWith("/")) return;
  const now = Date.now();
  if (now - view.typingSent < TYPING_EVERY_MS) return;
  view.typingSent = now;
  send({ op: "typing", room: view.name }, { show: false });
});

ui.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  if (joinRoom(ui.joinInput.value)) ui.joinInput.value = "";
  ui.messageInput.focus();
});

ui.nickForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const nick = ui.nickInput.value.trim();
  if (nick && !sameNick(nick, state.nick)) send({ op: "nick", nick });
});

ui.roomList.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-room]");
  if (!button) return;
  joinRoom(button.dataset.room);
  ui.messageInput.focus();
});

ui.convoList.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-convo]");
  if (!button) return;
  showView(button.dataset.convo);
  ui.messageInput.focus();
});

ui.memberList.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  const view = currentView();
  if (!button || !view) return;
  const nick = button.dataset.nick;
  if (button.dataset.action === "msg") openConvo(nick);
  else if (button.dataset.action === "kick") send({ op: "kick", room: view.name, nick, reason: "" });
  else if (button.dataset.action === "ban") send({ op: "ban", room: view.name, mask: nick, reason: "" });
});

ui.part.addEventListener("click", () => {
  const view = currentView();
  if (!view) return;
  if (view.kind === "room") {
    send({ op: "part", room: view.name });
    return;
  }
  // Closing a conversation only takes it off screen; it stays in the list.
  const names = [...state.rooms.keys()];
  showView(names.length ? names[names.length - 1] : null);
});

ui.log.addEventListener("scroll", () => {
  ui.jump.hidden = nearBottom();
  if (nearTop()) loadOlder();
});

// At the top already (or a log too short to scroll), scrolling up still asks for more.
ui.log.addEventListener("wheel", (event) => {
  if (event.deltaY < 0 && nearTop()) loadOlder();
}, { passive: true });
ui.log.addEventListener("keydown", (event) => {
  if ((event.key === "PageUp" || event.key === "Home" || event.key === "ArrowUp") && nearTop()) loadOlder();
});

ui.jump.addEventListener("click", () => {
  scrollToEnd();
  ui.messageInput.focus();
});

// The address names the room on screen: editing it (#engineering) joins or shows that room.
window.addEventListener("hashchange", () => {
  const target = hashTarget();
  if (!target || !state.welcomed) return;
  if (target.startsWith("@")) {
    if (NICK_NAME.test(target.slice(1))) openConvo(target.slice(1));
    return;
  }
  const room = normalizeRoom(target);
  if (room !== state.current && ROOM_NAME.test(room)) joinRoom(room);
});

// The skip link moves focus without touching location.hash (which names the room on screen).
document.querySelector(".skip")?.addEventListener("click", (event) => {
  event.preventDefault();
  ui.messageInput.focus();
});

ui.retry.addEventListener("click", () => connect());
window.addEventListener("online", () => state.socket || connect());
document.addEventListener("visibilitychange", () => {
  const view = currentView();
  if (!view) return;
  if (document.hidden) {
    if (view.kind === "room") view.seenId = view.lastId;
    return;
  }
  // Coming back to a tab with unread messages on screen: they are read now, under a marker.
  if (view.unread) {
    if (view.kind === "room") placeUnreadMarker(view);
    view.unread = 0;
    if (view.kind === "room") view.seenId = view.lastId;
    renderRooms();
    renderConvos();
  }
});
