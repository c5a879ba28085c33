// Private conversations (kept in localStorage, and by the server for an identified user when
// it knows `conversations` and `pm_history`) and opt-in desktop notifications.
import { KEYS, PM_KEPT, body, convoKey, dated, el, isConvo, nickEl, sameNick, saved, state, timeEl, ui } from "./base.js";
import { send } from "./connection.js";
import { addLine, currentView, isElsewhere, makeList } from "./log.js";
import { onError } from "./receive.js";
import { textEl } from "./text.js";
import { renderConvos, renderTitle, showView } from "./view.js";

// --- private conversations --------------------------------------------------------------

// Guests keep their conversations in this browser; an account's are kept per account.
export function pmStoreKey() {
  return state.account ? `${KEYS.pms}.account.${state.account.toLowerCase()}` : `${KEYS.pms}.guest`;
}

export function makeConvo(nick) {
  const key = convoKey(nick);
  let convo = state.convos.get(key);
  if (convo) return convo;
  convo = { kind: "convo", key, with: nick, list: makeList("convo", key), unread: 0, seen: new Set(), messages: [], loaded: false, lastTs: 0 };
  state.convos.set(key, convo);
  return convo;
}

export function pmIdentity(pm) {
  return pm.id != null ? `id:${pm.id}` : `${pm.ts}|${pm.from}|${pm.text}`;
}

export function pmLine(pm) {
  const outgoing = sameNick(pm.from, state.nick) && !sameNick(pm.to, state.nick);
  const item = dated(el("li", "line pm" + (outgoing ? " mine" : "")), pm.ts);
  if (pm.id != null) item.dataset.id = String(pm.id);
  item.append(timeEl(pm.ts, pm.id), el("span", "tag", outgoing ? `to ${pm.to}` : "private"), nickEl(pm.from), textEl(pm.text));
  return item;
}

// Add a private message to its conversation once, in time order; false when already there.
export function addPm(pm, live) {
  const outgoing = sameNick(pm.from, state.nick) && !sameNick(pm.to, state.nick);
  const peer = outgoing ? pm.to : pm.from;
  if (!peer) return false;
  const convo = makeConvo(peer);
  const identity = pmIdentity(pm);
  if (convo.seen.has(identity)) return false;
  convo.seen.add(identity);
  const record = { id: pm.id ?? null, from: pm.from, to: pm.to, text: pm.text, ts: pm.ts || Date.now() / 1000 };
  convo.messages.push(record);
  convo.messages.sort((a, b) => a.ts - b.ts);
  if (convo.messages.length > PM_KEPT) convo.messages.splice(0, convo.messages.length - PM_KEPT);
  const later = [...convo.list.children].find((node) => node.dataset.ts && Number(node.dataset.ts) > record.ts);
  addLine(convo.list, pmLine(record), later || null, !later);
  convo.lastTs = Math.max(convo.lastTs, record.ts);
  if (live && !outgoing && isElsewhere(convo)) convo.unread += 1;
  if (live && !outgoing) notify(`${pm.from} (private)`, pm.text, convo.key);
  return true;
}

export function savePms() {
  const all = {};
  for (const convo of state.convos.values()) all[convo.with] = convo.messages;
  saved.set(pmStoreKey(), all);
}

export function loadSavedPms() {
  const all = saved.get(pmStoreKey(), {}) || {};
  for (const messages of Object.values(all)) {
    if (!Array.isArray(messages)) continue;
    for (const pm of messages) {
      if (pm && typeof pm.text === "string" && typeof pm.from === "string") addPm(pm, false);
    }
  }
  renderConvos();
}

export function forgetConvos() {
  for (const convo of state.convos.values()) convo.list.remove();
  state.convos.clear();
  if (isConvo(state.current)) state.current = null;
}

export function onPrivate(data) {
  if (addPm(data, true)) {
    savePms();
    renderConvos();
    renderTitle();
  }
}

// The server keeps an identified user's conversations (`conversations`, `pm_history`); an
// older server answers `unknown-op`, and the page keeps to what this browser saved.
export function askConversations() {
  if (!state.account) return;
  send(
    { op: "conversations" },
    {
      show: false,
      onError: () => {
        state.serverPms = false;
      },
      onReply: (data) => {
        if (data.type !== "conversations") return;
        state.serverPms = true;
        for (const item of data.conversations || []) {
          if (typeof item.with !== "string") continue;
          const convo = makeConvo(item.with);
          convo.lastTs = Math.max(convo.lastTs, Number(item.ts) || 0);
        }
        renderConvos();
        const convo = currentView();
        if (convo && convo.kind === "convo") askPmHistory(convo);
      },
    },
  );
}

export function askPmHistory(convo) {
  if (!state.serverPms || convo.loaded) return;
  convo.loaded = true;
  send({ op: "pm_history", with: convo.with, limit: 100 }, { show: false, onError: () => {} });
}

export function onPmHistory(data) {
  let added = false;
  for (const pm of data.messages || []) added = addPm(pm, false) || added;
  if (added) {
    savePms();
    renderConvos();
  }
}

// --- desktop notifications (opt-in) -------------------------------------------------------

export function notificationsOn() {
  return "Notification" in window && Notification.permission === "granted" && saved.get(KEYS.notify, false) === true;
}

export function notify(title, text, key) {
  if (!notificationsOn()) return;
  if (key === state.current && !document.hidden) return; // it is on screen already
  try {
    const note = new Notification(title, { body: text.slice(0, 200), tag: key });
    note.onclick = () => {
      window.focus();
      showView(key);
    };
  } catch {
    // some browsers only notify from a service worker: the badge and title still tell
  }
}

export function renderNotifyButton() {
  if (!("Notification" in window)) {
    ui.notifyButton.disabled = true;
    ui.notifyButton.textContent = "Desktop notifications: not available";
    return;
  }
  const on = notificationsOn();
  ui.notifyButton.setAttribute("aria-pressed", String(on));
  ui.notifyButton.textContent = on ? "Desktop notifications: on" : "Desktop notifications: off";
  if (Notification.permission === "denied") ui.notifyButton.textContent = "Desktop notifications: blocked by the browser";
}

ui.notifyButton.addEventListener("click", async () => {
  if (!("Notification" in window)) return;
  if (notificationsOn()) {
    saved.set(KEYS.notify, false);
  } else {
    const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
    saved.set(KEYS.notify, permission === "granted");
  }
  renderNotifyButton();
});
