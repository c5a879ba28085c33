// The log of each room: lines in id order (de-duplicated), day separators, folded joins and
// parts, the "new since you left" marker.
import { MAX_LINES, dated, dayKey, el, isConvo, plural, sameNick, saveSession, senderEl, state, timeEl, ui } from "./base.js";
import { notify } from "./convos.js";
import { mentions, textEl } from "./text.js";
import { renderRooms, renderTyping, showView } from "./view.js";

// --- the log ------------------------------------------------------------------------------

export const noRoomList = el("ol", "lines");
noRoomList.hidden = true;
ui.log.append(noRoomList);

export function makeList(kind, name) {
  const list = el("ol", "lines");
  list.hidden = true;
  list.dataset[kind] = name;
  ui.log.append(list);
  return list;
}

export function makeRoom(name) {
  const room = {
    kind: "room",
    name,
    members: new Set(),
    synced: false, // members came from a `who` answer, not only from events
    lastId: 0,
    seenId: 0, // the last id shown while the room was on screen
    ids: new Set(),
    unread: 0,
    list: makeList("room", name),
    fresh: true,
    typing: new Map(), // nick -> when its "is typing" ends
    typingSent: 0,
    older: "idle", // scrolling back: idle, loading, done
    topic: "",
  };
  state.rooms.set(name, room);
  return room;
}

export function dropRoom(name) {
  const room = state.rooms.get(name);
  if (!room) return;
  room.list.remove();
  state.rooms.delete(name);
  if (state.current === name) {
    const names = [...state.rooms.keys()];
    showView(names.length ? names[names.length - 1] : null);
  }
  saveSession();
}

// The stylesheet may anchor the log at its end (a column-reverse scroller: scrollTop is 0 at
// the end and negative above it) or not (0 at the top): these measure either way.
function anchoredAtEnd() {
  return getComputedStyle(ui.log).flexDirection === "column-reverse";
}

export function fromEnd() {
  const log = ui.log;
  return anchoredAtEnd() ? -log.scrollTop : log.scrollHeight - log.scrollTop - log.clientHeight;
}

export function fromTop() {
  const log = ui.log;
  return anchoredAtEnd() ? log.scrollHeight - log.clientHeight + log.scrollTop : log.scrollTop;
}

export function nearBottom() {
  return fromEnd() < 48;
}

export function nearTop() {
  return fromTop() < 120;
}

export function scrollToEnd() {
  ui.log.scrollTop = anchoredAtEnd() ? 0 : ui.log.scrollHeight;
  ui.jump.hidden = true;
}

export function addLine(list, item, beforeNode = null, trim = true) {
  const stick = nearBottom();
  list.insertBefore(item, beforeNode);
  if (trim) while (list.childElementCount > MAX_LINES) list.firstElementChild.remove();
  markDays(list);
  if (list.hidden) return;
  if (stick) scrollToEnd();
  else if (beforeNode === null) ui.jump.hidden = false; // news below what is being read
}

// Day separators: recomputed once per batch of lines (a replay is one batch), after it.
export const dirtyDays = new Set();
export function markDays(list) {
  if (!dirtyDays.size) queueMicrotask(placeDays);
  dirtyDays.add(list);
}

export function dayLabel(when) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(when) === dayKey(today)) return "Today";
  if (dayKey(when) === dayKey(yesterday)) return "Yesterday";
  return when.toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

export function placeDays() {
  const stick = nearBottom();
  for (const list of dirtyDays) {
    for (const old of list.querySelectorAll(":scope > li.day")) old.remove();
    let previous = null;
    for (const item of [...list.children]) {
      const day = item.dataset.day;
      if (!day || day === previous) continue;
      previous = day;
      const when = new Date(Number(item.dataset.ts) * 1000);
      // A plain list item (a list holds only items: axe's "list" rule); the time says the day.
      const separator = el("li", "line day");
      const label = el("time", "text", dayLabel(when));
      label.dateTime = when.toISOString().slice(0, 10);
      label.title = when.toLocaleDateString([], { dateStyle: "full" });
      separator.append(label);
      list.insertBefore(separator, item);
    }
  }
  dirtyDays.clear();
  if (stick) scrollToEnd();
}

export function currentView() {
  if (state.current === null) return null;
  return isConvo(state.current) ? state.convos.get(state.current) || null : state.rooms.get(state.current) || null;
}

export function currentList() {
  return currentView()?.list || noRoomList;
}

// A line from the server or the page itself (a notice, an error, a listing).
export function systemLine(text, kind = "notice", list = currentList(), ts = null) {
  const item = dated(el("li", `line ${kind}`), ts);
  item.append(timeEl(ts), el("span", "text", text));
  addLine(list, item);
  return item;
}

// Joins, parts and nick changes in a row are one line: "3 joined, 1 left", which unfolds.
export function presenceLine(room, kind, text, ts, people = 1) {
  const list = room.list;
  let group = list.lastElementChild;
  if (!group || !group.classList.contains("presence")) {
    group = dated(el("li", "line notice presence"), ts);
    const details = el("details", "text");
    const summary = el("summary", "presence-summary");
    const items = el("ul", "presence-items");
    details.append(summary, items);
    group.append(timeEl(ts), details);
    group.counts = { join: 0, part: 0, nick: 0 };
    addLine(list, group);
  }
  const items = group.querySelector(".presence-items");
  items.append(el("li", `presence-item ${kind}`, text));
  group.counts[kind] += people;
  const entries = items.childElementCount;
  const summary = group.querySelector(".presence-summary");
  if (entries === 1) {
    summary.textContent = text;
    group.classList.add(kind);
  } else {
    group.classList.remove("join", "part", "nick");
    const parts = [];
    if (group.counts.join) parts.push(`${group.counts.join} joined`);
    if (group.counts.part) parts.push(`${group.counts.part} left`);
    if (group.counts.nick) parts.push(plural(group.counts.nick, "nick change"));
    summary.textContent = parts.join(", ");
  }
  items.hidden = entries === 1;
  if (!list.hidden && nearBottom()) scrollToEnd();
}

export function messageLine(event) {
  const mine = sameNick(event.nick, state.nick);
  const item = dated(el("li", `line ${event.kind}${mine ? " mine" : ""}`), event.ts);
  item.dataset.id = String(event.id);
  if (!mine && mentions(event.text)) item.classList.add("mention");
  item.append(timeEl(event.ts, event.id));
  if (event.kind === "action") {
    const text = textEl(" " + event.text);
    text.prepend("* ", senderEl(event));
    item.append(text);
  } else {
    item.append(senderEl(event), textEl(event.text));
  }
  if (event.edited) item.append(el("span", "edited", "(edited)"));
  return item;
}

// Where a message older than the newest shown goes: before the first later one, and before
// the notices just above that are newer than it, so the log stays in time order.
export function placeFor(room, event) {
  let before = null;
  for (const node of room.list.children) {
    if (node.dataset.id && Number(node.dataset.id) > event.id) {
      before = node;
      break;
    }
  }
  while (before) {
    const above = before.previousElementSibling;
    if (!above || above.dataset.id || !(Number(above.dataset.ts) > event.ts)) break;
    before = above;
  }
  return before;
}

export function placeAtEnd(room, event) {
  let before = null;
  let above = room.list.lastElementChild;
  while (above && !above.dataset.id && Number(above.dataset.ts) > event.ts) {
    before = above;
    above = above.previousElementSibling;
  }
  return before;
}

// Show a stored message unless this room already shows its id; `live` counts it as unread.
export function addMessage(event, live) {
  const room = state.rooms.get(event.room);
  if (!room || typeof event.id !== "number" || room.ids.has(event.id)) return;
  room.ids.add(event.id);
  const item = messageLine(event);
  if (event.id > room.lastId) {
    const caughtUp = room.lastId > 0; // a replay after a reconnect is news too
    room.lastId = event.id;
    // A replay goes above the notices that are newer than it ("you joined"), in time order.
    addLine(room.list, item, live ? null : placeAtEnd(room, event));
    if (room.typing.delete(event.nick)) renderTyping();
    const others = !sameNick(event.nick, state.nick);
    if (isElsewhere(room) && (live || caughtUp) && others) {
      room.unread += 1;
      renderRooms();
    } else if (!isElsewhere(room)) {
      room.seenId = event.id;
    }
    if (live && others && item.classList.contains("mention")) {
      notify(`${event.nick} in #${room.name}`, event.text, room.name);
    }
  } else {
    addLine(room.list, item, placeFor(room, event), false);
  }
}

export function isElsewhere(view) {
  const key = view.kind === "room" ? view.name : view.key;
  return key !== state.current || document.hidden;
}

// "new since you left": a line above the first message not seen yet.
export function placeUnreadMarker(room) {
  for (const old of room.list.querySelectorAll(":scope > li.unread-marker")) old.remove();
  if (!room.unread || room.kind !== "room") return null;
  let first = null;
  for (const node of room.list.children) {
    if (node.dataset.id && Number(node.dataset.id) > room.seenId) {
      first = node;
      break;
    }
  }
  if (!first) return null;
  const marker = el("li", "line unread-marker");
  marker.append(el("span", "text", "new since you left"));
  room.list.insertBefore(marker, first);
  return marker;
}
