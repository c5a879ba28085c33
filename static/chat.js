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
// - No build step, no dependencies: plain modern JavaScript, loaded with `defer`.
"use strict";

(() => {
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const ROOMS_POLL_MS = 30000;
  const NICK_RETRIES = 5;
  const MAX_LINES = 2000; // per room; older lines leave the page, they stay in history
  const MAX_TEXT = 4000; // characters (code points), as the server counts them
  const MAX_TEXT_LINES = 100;
  const COUNT_FROM = 3500; // the counter shows from here on, so it is not noise
  const TYPING_EVERY_MS = 3000; // the server drops sooner signals anyway
  const TYPING_SHOWN_MS = 5000;
  const OLDER_PAGE = 50;
  const PM_KEPT = 200; // per conversation, in localStorage
  const ROOM_NAME = /^#?[a-z0-9_-]{1,32}$/i;
  const NICK_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,23}$/;
  const GUEST_NICK = /^guest-\d+$/i;
  const KEYS = {
    session: "chathub.session",
    visited: "chathub.visited",
    quiet: "chathub.hide-presence",
    notify: "chathub.notify",
    pms: "chathub.pms",
  };

  const body = document.body;
  const wsPath = body.dataset.wsPath || "/ws";
  const defaultRoom = body.dataset.defaultRoom || "lobby";
  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $("status"),
    statusText: $("status-text"),
    retry: $("retry-button"),
    roomList: $("room-list"),
    convoList: $("convo-list"),
    convoPanel: $("convo-panel"),
    joinForm: $("join-form"),
    joinInput: $("join-input"),
    nickForm: $("nick-form"),
    nickInput: $("nick-input"),
    accountPanel: $("account-panel"),
    whoami: $("whoami"),
    loginForm: $("login-form"),
    loginNick: $("login-nick"),
    loginPassword: $("login-password"),
    registerButton: $("register-button"),
    logoutButton: $("logout-button"),
    loginMessage: $("login-message"),
    settings: $("settings-panel"),
    quietToggle: $("quiet-toggle"),
    notifyButton: $("notify-button"),
    welcomeForm: $("welcome-form"),
    welcomeNick: $("welcome-nick"),
    welcomeSkip: $("welcome-skip"),
    roomTitle: $("room-title"),
    roomMeta: $("room-meta"),
    part: $("part-button"),
    log: $("log"),
    jump: $("jump-button"),
    typing: $("typing"),
    messageForm: $("message-form"),
    messageInput: $("message-input"),
    sendButton: $("send-button"),
    charCount: $("char-count"),
    membersPanel: $("members-panel"),
    memberList: $("member-list"),
    memberCount: $("member-count"),
  };

  // --- what survives a reload ---------------------------------------------------------------

  const saved = {
    get(key, fallback) {
      try {
        const raw = localStorage.getItem(key);
        return raw == null ? fallback : JSON.parse(raw);
      } catch {
        return fallback; // storage turned off, or a damaged value: start afresh
      }
    },
    set(key, value) {
      try {
        localStorage.setItem(key, JSON.stringify(value));
      } catch {
        // full or turned off: the page works without it
      }
    },
  };

  const normalizeRoom = (name) => String(name).trim().replace(/^#/, "").toLowerCase();
  const sameNick = (a, b) => a != null && b != null && a.toLowerCase() === b.toLowerCase();
  const byNick = (a, b) => a.toLowerCase().localeCompare(b.toLowerCase());
  const convoKey = (nick) => "@" + nick.toLowerCase();
  const isConvo = (key) => typeof key === "string" && key.startsWith("@");

  const query = new URLSearchParams(location.search);
  const lastSession = saved.get(KEYS.session, {}) || {};
  const roomsFrom = (list) => list.map(normalizeRoom).filter((name) => ROOM_NAME.test(name));

  const state = {
    socket: null,
    nick: null, // the nick the server says we have
    account: null, // the account this connection is identified as, or null
    wantNick: query.get("nick") || (typeof lastSession.nick === "string" ? lastSession.nick : null),
    wantRooms: roomsFrom((query.get("rooms") || "").split(",")),
    rooms: new Map(), // joined rooms, in join order: name -> room record
    convos: new Map(), // "@nick" -> private conversation record
    current: null, // the view on screen: a room name, "@nick" for a conversation, or null
    directory: new Map(), // name -> member count, from the last `rooms` answer
    welcomed: false, // true once any connection got its welcome
    attempt: 0,
    retryTimer: null,
    countdown: null,
    retryAt: 0,
    pollTimer: null,
    nextRef: 1,
    pending: new Map(), // ref -> {show, quiet, onError, onReply}
    serverPms: false, // the server keeps an identified user's private messages
  };
  if (!state.wantRooms.length && Array.isArray(lastSession.rooms)) {
    state.wantRooms = roomsFrom(lastSession.rooms.filter((name) => typeof name === "string"));
  }

  function saveSession() {
    const nick = state.nick && !GUEST_NICK.test(state.nick) ? state.nick : state.wantNick;
    saved.set(KEYS.session, {
      nick: nick && !GUEST_NICK.test(nick) ? nick : null,
      rooms: [...state.rooms.keys()],
      current: state.current,
    });
  }

  // --- small helpers ----------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function hidden(text) {
    return el("span", "visually-hidden", text);
  }

  const plural = (n, one, many = one + "s") => `${n} ${n === 1 ? one : many}`;

  // Ten hues far enough apart to tell nicks apart at a glance; FNV-1a picks one per nick.
  const HUES = [0, 25, 45, 130, 165, 195, 215, 255, 285, 320];
  function nickHue(nick) {
    let hash = 0x811c9dc5;
    for (const ch of nick.toLowerCase()) hash = Math.imul(hash ^ ch.codePointAt(0), 0x01000193) >>> 0;
    return HUES[hash % HUES.length];
  }

  function nickEl(nick) {
    const node = el("span", "nick", nick);
    node.style.setProperty("--hue", String(nickHue(nick)));
    if (sameNick(nick, state.nick)) node.classList.add("me");
    return node;
  }

  // The sender of a message: its nick, and a "bot" tag for what a script published.
  function senderEl(event) {
    if (!event.bot) return nickEl(event.nick);
    const node = el("span", "sender");
    const tag = el("span", "tag bot", "bot");
    tag.title = "published by a script";
    node.append(nickEl(event.nick), " ", tag);
    return node;
  }

  const dayKey = (when) => `${when.getFullYear()}-${when.getMonth() + 1}-${when.getDate()}`;
  const fullDate = (when) => when.toLocaleString([], { dateStyle: "full", timeStyle: "medium" });

  function dated(item, ts) {
    const when = new Date((ts || Date.now() / 1000) * 1000);
    item.dataset.ts = String(when.getTime() / 1000);
    item.dataset.day = dayKey(when);
    return item;
  }

  // The time of a line; its title is the full date (and the id, which is also shown on hover).
  function timeEl(ts, id = null) {
    const when = new Date((ts || Date.now() / 1000) * 1000);
    const node = el("time", "", when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }));
    node.dateTime = when.toISOString();
    node.title = id == null ? fullDate(when) : `#${id} · ${fullDate(when)}`;
    if (id != null) node.append(el("span", "msg-id", ` #${id}`));
    return node;
  }

  // --- message text: links and mentions, built with DOM calls ---------------------------------

  const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"'`]+/gi;
  const TRAILING = /[.,;:!?'")\]}>]+$/;

  function mentionPattern() {
    if (!state.nick) return null;
    const escaped = state.nick.replace(/[-_]/g, "\\$&");
    return new RegExp(`(^|[^A-Za-z0-9_-])(${escaped})(?![A-Za-z0-9_-])`, "gi");
  }

  function mentions(text) {
    const pattern = mentionPattern();
    return pattern !== null && pattern.test(text);
  }

  function appendPlain(parent, text, pattern) {
    if (!pattern) return parent.append(text);
    let at = 0;
    pattern.lastIndex = 0;
    for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
      const start = match.index + match[1].length;
      parent.append(text.slice(at, start), el("mark", "mention-nick", match[2]));
      at = start + match[2].length;
    }
    parent.append(text.slice(at));
    return undefined;
  }

  // A link only for an address that parses as http or https; its text is what was typed.
  function linkEl(raw) {
    let url;
    try {
      url = new URL(raw);
    } catch {
      return null;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    const link = el("a", "link", raw);
    link.href = url.href;
    link.rel = "noopener noreferrer nofollow";
    link.target = "_blank";
    return link;
  }

  function textEl(text, { mention = true } = {}) {
    const node = el("span", "text");
    const pattern = mention ? mentionPattern() : null;
    let at = 0;
    for (const match of text.matchAll(URL_IN_TEXT)) {
      let raw = match[0];
      // Sentence punctuation after an address is not part of it; a ")" is when "(" is in it.
      const tail = raw.match(TRAILING);
      if (tail) {
        let cut = tail[0];
        if (cut.startsWith(")") && raw.includes("(")) cut = cut.slice(1);
        raw = raw.slice(0, raw.length - cut.length);
      }
      const link = raw.length > 8 ? linkEl(raw) : null;
      if (!link) continue;
      appendPlain(node, text.slice(at, match.index), pattern);
      node.append(link);
      at = match.index + raw.length;
    }
    appendPlain(node, text.slice(at), pattern);
    return node;
  }

  // --- the log ------------------------------------------------------------------------------

  const noRoomList = el("ol", "lines");
  noRoomList.hidden = true;
  ui.log.append(noRoomList);

  function makeList(kind, name) {
    const list = el("ol", "lines");
    list.hidden = true;
    list.dataset[kind] = name;
    ui.log.append(list);
    return list;
  }

  function makeRoom(name) {
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

  function dropRoom(name) {
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

  function nearBottom() {
    return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 48;
  }

  function scrollToEnd() {
    ui.log.scrollTop = ui.log.scrollHeight;
    ui.jump.hidden = true;
  }

  function addLine(list, item, beforeNode = null, trim = true) {
    const stick = nearBottom();
    list.insertBefore(item, beforeNode);
    if (trim) while (list.childElementCount > MAX_LINES) list.firstElementChild.remove();
    markDays(list);
    if (list.hidden) return;
    if (stick) scrollToEnd();
    else if (beforeNode === null) ui.jump.hidden = false; // news below what is being read
  }

  // Day separators: recomputed once per batch of lines (a replay is one batch), after it.
  const dirtyDays = new Set();
  function markDays(list) {
    if (!dirtyDays.size) queueMicrotask(placeDays);
    dirtyDays.add(list);
  }

  function dayLabel(when) {
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (dayKey(when) === dayKey(today)) return "Today";
    if (dayKey(when) === dayKey(yesterday)) return "Yesterday";
    return when.toLocaleDateString([], { weekday: "long", year: "numeric", month: "long", day: "numeric" });
  }

  function placeDays() {
    const stick = nearBottom();
    for (const list of dirtyDays) {
      for (const old of list.querySelectorAll(":scope > li.day")) old.remove();
      let previous = null;
      for (const item of [...list.children]) {
        const day = item.dataset.day;
        if (!day || day === previous) continue;
        previous = day;
        const when = new Date(Number(item.dataset.ts) * 1000);
        const separator = el("li", "line day");
        separator.setAttribute("role", "separator");
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

  function currentView() {
    if (state.current === null) return null;
    return isConvo(state.current) ? state.convos.get(state.current) || null : state.rooms.get(state.current) || null;
  }

  function currentList() {
    return currentView()?.list || noRoomList;
  }

  // A line from the server or the page itself (a notice, an error, a listing).
  function systemLine(text, kind = "notice", list = currentList(), ts = null) {
    const item = dated(el("li", `line ${kind}`), ts);
    item.append(timeEl(ts), el("span", "text", text));
    addLine(list, item);
    return item;
  }

  // Joins, parts and nick changes in a row are one line: "3 joined, 1 left", which unfolds.
  function presenceLine(room, kind, text, ts, people = 1) {
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

  function messageLine(event) {
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
  function placeFor(room, event) {
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

  function placeAtEnd(room, event) {
    let before = null;
    let above = room.list.lastElementChild;
    while (above && !above.dataset.id && Number(above.dataset.ts) > event.ts) {
      before = above;
      above = above.previousElementSibling;
    }
    return before;
  }

  // Show a stored message unless this room already shows its id; `live` counts it as unread.
  function addMessage(event, live) {
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

  function isElsewhere(view) {
    const key = view.kind === "room" ? view.name : view.key;
    return key !== state.current || document.hidden;
  }

  // "new since you left": a line above the first message not seen yet.
  function placeUnreadMarker(room) {
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

  // --- private conversations --------------------------------------------------------------

  // Guests keep their conversations in this browser; an account's are kept per account.
  function pmStoreKey() {
    return state.account ? `${KEYS.pms}.account.${state.account.toLowerCase()}` : `${KEYS.pms}.guest`;
  }

  function makeConvo(nick) {
    const key = convoKey(nick);
    let convo = state.convos.get(key);
    if (convo) return convo;
    convo = { kind: "convo", key, with: nick, list: makeList("convo", key), unread: 0, seen: new Set(), messages: [], loaded: false, lastTs: 0 };
    state.convos.set(key, convo);
    return convo;
  }

  function pmIdentity(pm) {
    return pm.id != null ? `id:${pm.id}` : `${pm.ts}|${pm.from}|${pm.text}`;
  }

  function pmLine(pm) {
    const outgoing = sameNick(pm.from, state.nick) && !sameNick(pm.to, state.nick);
    const item = dated(el("li", "line pm" + (outgoing ? " mine" : "")), pm.ts);
    if (pm.id != null) item.dataset.id = String(pm.id);
    item.append(timeEl(pm.ts, pm.id), el("span", "tag", outgoing ? `to ${pm.to}` : "private"), nickEl(pm.from), textEl(pm.text));
    return item;
  }

  // Add a private message to its conversation once, in time order; false when already there.
  function addPm(pm, live) {
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

  function savePms() {
    const all = {};
    for (const convo of state.convos.values()) all[convo.with] = convo.messages;
    saved.set(pmStoreKey(), all);
  }

  function loadSavedPms() {
    const all = saved.get(pmStoreKey(), {}) || {};
    for (const messages of Object.values(all)) {
      if (!Array.isArray(messages)) continue;
      for (const pm of messages) {
        if (pm && typeof pm.text === "string" && typeof pm.from === "string") addPm(pm, false);
      }
    }
    renderConvos();
  }

  function forgetConvos() {
    for (const convo of state.convos.values()) convo.list.remove();
    state.convos.clear();
    if (isConvo(state.current)) state.current = null;
  }

  function onPrivate(data) {
    if (addPm(data, true)) {
      savePms();
      renderConvos();
      renderTitle();
    }
  }

  // The server keeps an identified user's conversations (`conversations`, `pm_history`); an
  // older server answers `unknown-op`, and the page keeps to what this browser saved.
  function askConversations() {
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

  function askPmHistory(convo) {
    if (!state.serverPms || convo.loaded) return;
    convo.loaded = true;
    send({ op: "pm_history", with: convo.with, limit: 100 }, { show: false, onError: () => {} });
  }

  function onPmHistory(data) {
    let added = false;
    for (const pm of data.messages || []) added = addPm(pm, false) || added;
    if (added) {
      savePms();
      renderConvos();
    }
  }

  // --- desktop notifications (opt-in) -------------------------------------------------------

  function notificationsOn() {
    return "Notification" in window && Notification.permission === "granted" && saved.get(KEYS.notify, false) === true;
  }

  function notify(title, text, key) {
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

  function renderNotifyButton() {
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

  // --- what is on screen --------------------------------------------------------------------

  function showView(key) {
    const leaving = currentView();
    if (leaving && leaving.kind === "room") leaving.seenId = leaving.lastId;
    let view = null;
    if (isConvo(key)) view = state.convos.get(key) || null;
    else if (key !== null) view = state.rooms.get(key) || null;
    state.current = view ? key : null;
    for (const room of state.rooms.values()) room.list.hidden = room !== view;
    for (const convo of state.convos.values()) convo.list.hidden = convo !== view;
    noRoomList.hidden = view !== null;
    let marker = null;
    if (view === null) {
      ui.roomTitle.textContent = "No room";
      ui.messageInput.placeholder = "Join a room first: /join ROOM";
      history.replaceState(null, "", location.pathname + location.search);
      if (!noRoomList.querySelector(".no-room")) {
        systemLine("You are in no room. Join one from the list, or type /join ROOM.", "notice no-room", noRoomList);
      }
    } else if (view.kind === "room") {
      marker = placeUnreadMarker(view);
      view.unread = 0;
      view.seenId = view.lastId;
      ui.roomTitle.textContent = "#" + view.name;
      ui.messageInput.placeholder = `Message #${view.name}, or /help`;
      history.replaceState(null, "", location.pathname + location.search + "#" + view.name);
    } else {
      view.unread = 0;
      ui.roomTitle.textContent = "@" + view.with;
      ui.messageInput.placeholder = `Private message to ${view.with}`;
      history.replaceState(null, "", location.pathname + location.search + "#@" + view.with);
      askPmHistory(view);
    }
    ui.part.hidden = view === null;
    ui.part.textContent = view && view.kind === "convo" ? "Close" : "Leave";
    if (marker) {
      ui.log.scrollTop = Math.max(0, marker.offsetTop - ui.log.offsetTop - 40);
      ui.jump.hidden = nearBottom();
    } else {
      scrollToEnd();
    }
    renderRooms();
    renderConvos();
    renderMembers();
    renderTyping();
    saveSession();
  }

  function renderTitle() {
    let unread = 0;
    for (const room of state.rooms.values()) unread += room.unread;
    for (const convo of state.convos.values()) unread += convo.unread;
    const view = currentView();
    const where = view ? `${view.kind === "room" ? "#" + view.name : "@" + view.with} · chathub` : "chathub";
    document.title = unread ? `(${unread}) ${where}` : where;
  }

  // What the sidebar says a joined room holds: until `who` answers, the events seen so far
  // may be fewer people than the last room list counted, so the larger is shown.
  function memberCount(name) {
    const room = state.rooms.get(name);
    if (!room) return state.directory.get(name) || 0;
    return room.synced ? room.members.size : Math.max(room.members.size, state.directory.get(name) || 0);
  }

  function renderRooms() {
    const names = [...state.rooms.keys()];
    const others = [...state.directory.keys()].filter((name) => !state.rooms.has(name));
    const items = [];
    for (const name of [...names, ...others]) {
      const room = state.rooms.get(name);
      const button = el("button", "room" + (room ? " joined" : ""));
      button.type = "button";
      button.dataset.room = name;
      if (name === state.current) button.setAttribute("aria-current", "true");
      button.append(el("span", "room-name", "#" + name));
      const members = el("span", "count");
      members.title = "people here";
      members.append(hidden(", people here: "), String(memberCount(name)));
      button.append(members);
      if (room && room.unread) {
        const badge = el("span", "badge");
        badge.append(hidden(", unread: "), String(room.unread));
        button.append(badge);
      }
      if (!room) button.append(hidden(" (not joined)"));
      const item = el("li");
      item.append(button);
      items.push(item);
    }
    if (!items.length) items.push(el("li", "empty", "No rooms yet."));
    ui.roomList.replaceChildren(...items);
    renderTitle();
  }

  function renderConvos() {
    const convos = [...state.convos.values()].sort((a, b) => b.lastTs - a.lastTs);
    ui.convoPanel.hidden = convos.length === 0;
    ui.convoList.replaceChildren(
      ...convos.map((convo) => {
        const button = el("button", "room convo joined");
        button.type = "button";
        button.dataset.convo = convo.key;
        if (convo.key === state.current) button.setAttribute("aria-current", "true");
        button.append(el("span", "room-name", "@" + convo.with));
        if (convo.unread) {
          const badge = el("span", "badge");
          badge.append(hidden(", unread: "), String(convo.unread));
          button.append(badge);
        }
        const item = el("li");
        item.append(button);
        return item;
      }),
    );
    renderTitle();
  }

  function renderMembers() {
    const view = currentView();
    const room = view && view.kind === "room" ? view : null;
    let members = room ? [...room.members].sort(byNick) : [];
    if (view && view.kind === "convo") members = [state.nick, view.with].filter(Boolean);
    ui.memberCount.textContent = view ? String(members.length) : "";
    const topic = room && room.topic ? ` · ${room.topic}` : "";
    ui.roomMeta.textContent = room ? `${members.length} here${topic}` : view ? "private conversation" : "";
    ui.memberList.replaceChildren(
      ...members.map((nick) => {
        const item = el("li");
        item.append(nickEl(nick));
        if (sameNick(nick, state.nick)) {
          item.append(el("span", "you", " (you)"));
        } else {
          const actions = el("span", "member-actions");
          const talk = el("button", "quiet member-action", "Message");
          talk.type = "button";
          talk.dataset.action = "msg";
          talk.dataset.nick = nick;
          talk.setAttribute("aria-label", `Private message to ${nick}`);
          actions.append(talk);
          // Only an identified user can hold a room role; the server says no to the others.
          if (room && state.account) {
            for (const action of ["kick", "ban"]) {
              const button = el("button", "quiet member-action", action === "kick" ? "Kick" : "Ban");
              button.type = "button";
              button.dataset.action = action;
              button.dataset.nick = nick;
              button.setAttribute("aria-label", `${action === "kick" ? "Kick" : "Ban"} ${nick} from #${room.name}`);
              actions.append(button);
            }
          }
          item.append(actions);
        }
        return item;
      }),
    );
  }

  function renderTyping() {
    const view = currentView();
    const now = Date.now();
    let nicks = [];
    if (view && view.kind === "room") {
      for (const [nick, until] of view.typing) if (until <= now) view.typing.delete(nick);
      nicks = [...view.typing.keys()];
    }
    if (!nicks.length) ui.typing.textContent = "";
    else if (nicks.length === 1) ui.typing.textContent = `${nicks[0]} is typing…`;
    else if (nicks.length <= 3) ui.typing.textContent = `${nicks.slice(0, -1).join(", ")} and ${nicks[nicks.length - 1]} are typing…`;
    else ui.typing.textContent = `${nicks.length} people are typing…`;
  }

  function renderAccount() {
    const who = state.nick || "…";
    ui.whoami.replaceChildren();
    if (state.account) {
      ui.whoami.append("Logged in as ", el("strong", "", state.account));
      if (!sameNick(state.account, who)) ui.whoami.append(` (nick ${who})`);
    } else {
      ui.whoami.append("Guest: ", el("strong", "", who));
    }
    ui.loginForm.hidden = state.account !== null;
    ui.logoutButton.hidden = state.account === null;
    if (!ui.loginNick.value && state.nick && !GUEST_NICK.test(state.nick)) ui.loginNick.value = state.nick;
    ui.registerButton.disabled = !state.nick || GUEST_NICK.test(state.nick);
    ui.registerButton.title = ui.registerButton.disabled ? "Pick a nick first: a guest- nick cannot be registered" : `Make ${who} your account`;
  }

  function loginMessage(text, kind = "error") {
    ui.loginMessage.textContent = text;
    ui.loginMessage.dataset.kind = kind;
    ui.loginMessage.hidden = !text;
  }

  // --- the connection -----------------------------------------------------------------------

  function setStatus(kind, text) {
    ui.status.dataset.state = kind;
    ui.statusText.textContent = text;
    ui.retry.hidden = kind !== "offline";
  }

  function hashTarget() {
    try {
      return decodeURIComponent(location.hash.slice(1)).trim();
    } catch {
      return ""; // a malformed %-escape in the address
    }
  }

  function initialRoom() {
    const asked = normalizeRoom(hashTarget());
    return ROOM_NAME.test(asked) ? asked : null;
  }

  function connectUrl() {
    let names = [...state.rooms.keys()];
    let current = state.current && state.rooms.has(state.current) ? state.current : null;
    if (!state.welcomed) {
      names = [...state.wantRooms];
      const asked = initialRoom();
      if (asked && !names.includes(asked)) names.push(asked);
      current = asked || (names.includes(lastSession.current) ? lastSession.current : null);
    }
    if (current) {
      // The server's current room is the last one joined: keep it the one on screen.
      names = names.filter((name) => name !== current);
      names.push(current);
    }
    if (!names.length) names.push(defaultRoom);
    const params = new URLSearchParams();
    if (state.wantNick) params.set("nick", state.wantNick);
    params.set("rooms", names.join(","));
    const since = names
      .filter((name) => state.rooms.get(name)?.lastId > 0)
      .map((name) => `${name}:${state.rooms.get(name).lastId}`);
    if (since.length) params.set("since", since.join(","));
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${wsPath}?${params}`;
  }

  function connect() {
    clearTimeout(state.retryTimer);
    clearInterval(state.countdown);
    state.retryTimer = null;
    if (state.socket) return;
    setStatus("connecting", state.welcomed ? "reconnecting…" : "connecting…");
    const socket = new WebSocket(connectUrl());
    state.socket = socket;
    socket.addEventListener("message", (message) => {
      if (state.socket !== socket) return;
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return; // not ours to show: the server only sends JSON
      }
      receive(data);
    });
    socket.addEventListener("close", () => {
      if (state.socket !== socket) return;
      state.socket = null;
      state.pending.clear();
      clearInterval(state.pollTimer);
      scheduleReconnect();
    });
  }

  // A new connection at once (after logging in, so that the cookie identifies it).
  function reconnectNow() {
    const old = state.socket;
    state.socket = null;
    state.pending.clear();
    clearInterval(state.pollTimer);
    if (old) old.close(1000);
    state.attempt = 0;
    connect();
  }

  function scheduleReconnect() {
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** state.attempt);
    const jittered = Math.round(delay * (0.8 + 0.4 * Math.random()));
    state.attempt += 1;
    state.retryAt = Date.now() + jittered;
    state.retryTimer = setTimeout(connect, jittered);
    // The time left is counted down on screen, so "retrying in 8 s" is true a second later.
    const tick = () => {
      const seconds = Math.max(1, Math.ceil((state.retryAt - Date.now()) / 1000));
      setStatus("offline", `offline, retrying in ${seconds} s`);
    };
    clearInterval(state.countdown);
    tick();
    state.countdown = setInterval(tick, 250);
  }

  function send(op, { show = true, quiet = !show, onError = null, onReply = null, older = false } = {}) {
    const socket = state.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN || !state.nick) {
      if (show) systemLine("Not connected: nothing was sent. Try again in a moment.", "error");
      return false;
    }
    const ref = state.nextRef++;
    state.pending.set(ref, { show, quiet, onError, onReply, older, limit: op.limit });
    socket.send(JSON.stringify({ ...op, ref }));
    return true;
  }

  // The pending request a reply answers (and forget it: each ref gets exactly one reply).
  function answered(data) {
    if (data.ref == null) return null;
    const request = state.pending.get(data.ref) || null;
    state.pending.delete(data.ref);
    return request;
  }

  // --- what the server sends ----------------------------------------------------------------

  function receive(data) {
    const request = answered(data);
    const show = request ? request.show : true;
    if (request && request.onReply && data.type !== "error") request.onReply(data);
    switch (data.type) {
      case "welcome":
        return onWelcome(data);
      case "event":
        return onEvent(data);
      case "who":
        return onWho(data, request !== null && show);
      case "rooms":
        return onRooms(data, request !== null && show);
      case "history":
        return onHistory(data, request);
      case "pm":
        return onPrivate(data);
      case "pm_history":
        return onPmHistory(data);
      case "account":
        return onAccount(data);
      case "topic":
        return onTopicReply(data);
      case "modes":
        return systemLine(data.modes ? `modes of #${data.room}: ${data.modes}` : `#${data.room} has no modes set`);
      case "bans":
        return onBans(data);
      case "invite":
        return systemLine(`${data.from} invited you to #${data.room}; /join ${data.room}`);
      case "error":
        return onError(data, request);
      case "notice":
        return systemLine(String(data.text || ""));
      default:
        return undefined; // `ok`, or something newer than this page: nothing to show
    }
  }

  function onError(data, request) {
    if (request && request.onError) return request.onError(data);
    if (request && request.quiet) return undefined;
    if (data.code === "nick-registered" || data.code === "nick-taken" || data.code === "bad-nick") {
      ui.nickInput.value = state.nick || ""; // the box shows the nick we really have
      if (data.code === "nick-registered") offerLogIn(data.nick);
    }
    return systemLine(data.message || data.code || "error", "error");
  }

  function onWelcome(data) {
    const again = state.welcomed;
    state.welcomed = true;
    state.attempt = 0;
    state.nick = data.nick;
    const accountChanged = (data.account || null) !== state.account;
    state.account = data.account || null;
    ui.nickInput.value = data.nick;
    if (state.wantNick && !sameNick(state.wantNick, data.nick) && !state.account) {
      retryNick(state.wantNick, NICK_RETRIES); // our old connection may still hold it
    } else {
      state.wantNick = data.nick;
    }
    for (const name of data.rooms || []) {
      const room = state.rooms.get(name) || makeRoom(name);
      if (again) systemLine("reconnected", "notice marker", room.list);
    }
    for (const [name, topic] of Object.entries(data.topics || {})) {
      const room = state.rooms.get(name);
      if (room) room.topic = String(topic);
    }
    setStatus("connected", `connected as ${data.nick}`);
    if (!again || accountChanged) {
      forgetConvos();
      loadSavedPms();
    }
    if (state.current === null || !currentView()) {
      const names = [...state.rooms.keys()];
      const asked = initialRoom();
      const last = lastSession.current;
      let key = names[names.length - 1] ?? null;
      if (asked && names.includes(asked)) key = asked;
      else if (!again && last && (names.includes(last) || state.convos.has(last))) key = last;
      showView(key);
    }
    if (!again && data.motd) systemLine(data.motd, "notice motd");
    for (const name of state.rooms.keys()) send({ op: "who", room: name }, { show: false });
    send({ op: "rooms" }, { show: false });
    askConversations();
    clearInterval(state.pollTimer);
    state.pollTimer = setInterval(() => send({ op: "rooms" }, { show: false }), ROOMS_POLL_MS);
    renderAccount();
    renderMembers();
    saveSession();
    offerNick();
  }

  function retryNick(nick, left) {
    setTimeout(() => {
      if (sameNick(state.nick, nick) || !state.socket) return;
      send(
        { op: "nick", nick },
        {
          show: false,
          onError: (error) => {
            if (error.code === "nick-taken" && left > 1) return retryNick(nick, left - 1);
            state.wantNick = state.nick;
            ui.nickInput.value = state.nick;
            if (error.code === "nick-registered") offerLogIn(nick);
            systemLine(`Could not get back the nick ${nick}: ${error.message}`, "error");
          },
        },
      );
    }, 1000);
  }

  function onAccount(data) {
    state.account = data.account || null;
    if (data.nick && !sameNick(data.nick, state.nick)) {
      state.nick = data.nick;
      ui.nickInput.value = data.nick;
    }
    state.wantNick = state.nick;
    setStatus("connected", `connected as ${state.nick}`);
    systemLine(state.account ? `you are identified as ${state.account}` : "you are no longer identified");
    forgetConvos();
    loadSavedPms();
    askConversations();
    renderAccount();
    renderMembers();
    saveSession();
  }

  function onEvent(event) {
    const room = state.rooms.get(event.room);
    switch (event.kind) {
      case "message":
      case "action":
        return addMessage(event, true);
      case "join":
        return onJoin(event);
      case "part":
        return onPart(event);
      case "nick":
        return onNick(event);
      case "typing":
        return onTyping(event);
      case "kick":
        return onKick(event);
      case "close":
        return onClose(event);
      case "edit":
        return onEdit(event);
      case "delete":
        return onDelete(event);
      default: {
        const text = eventText(event);
        if (event.kind === "topic" && room) {
          room.topic = String(event.text || "");
          renderMembers();
        }
        return systemLine(text, `notice ${event.kind}`, room ? room.list : currentList(), event.ts);
      }
    }
  }

  function eventText(event) {
    const reason = event.text ? ` (${event.text})` : "";
    switch (event.kind) {
      case "topic":
        return event.text ? `${event.nick} set the topic: ${event.text}` : `${event.nick} cleared the topic`;
      case "mode":
        return `${event.nick} set mode ${event.text}${event.target ? " " + event.target : ""}`;
      case "ban": {
        const until = event.until ? ` until ${new Date(event.until * 1000).toLocaleString()}` : "";
        return `${event.nick} banned ${event.target}${until}${reason}`;
      }
      case "unban":
        return `${event.nick} lifted the ban on ${event.target}`;
      default:
        return String(event.text || "");
    }
  }

  // A join or part may name several nicks (a crowd arriving at once): `nicks` lists them all,
  // or the first of them with `count` saying how many there were.
  function nicksOf(event) {
    return Array.isArray(event.nicks) ? event.nicks.map(String) : [String(event.nick)];
  }

  function namesText(nicks, count = nicks.length) {
    if (count > nicks.length) return `${nicks.slice(0, 3).join(", ")} and ${count - 3} others`;
    if (nicks.length <= 4) return nicks.length === 1 ? nicks[0] : `${nicks.slice(0, -1).join(", ")} and ${nicks[nicks.length - 1]}`;
    return `${nicks.slice(0, 3).join(", ")} and ${nicks.length - 3} others`;
  }

  function onJoin(event) {
    const nicks = nicksOf(event);
    const count = Math.max(Number(event.count) || 0, nicks.length);
    const mine = nicks.some((nick) => sameNick(nick, state.nick));
    let room = state.rooms.get(event.room);
    const arrived = !room;
    if (!room) {
      if (!mine) return;
      room = makeRoom(event.room); // a room we just joined: show it
      if (typeof event.topic === "string") room.topic = event.topic;
      showView(room.name);
    }
    for (const nick of nicks) room.members.add(nick);
    const others = nicks.filter((nick) => !sameNick(nick, state.nick));
    // Your own arrival is not noise: it stays a line of its own, never folded or hidden.
    if (mine && room.fresh) systemLine(`you joined #${room.name}`, "notice join", room.list, event.ts);
    if (others.length) presenceLine(room, "join", `${namesText(others, count - (mine ? 1 : 0))} joined`, event.ts, count - (mine ? 1 : 0));
    room.fresh = false;
    // Events name who arrives, not who was there: ask. A crowd named in part asks too.
    if (arrived || count > nicks.length) {
      room.synced = false;
      send({ op: "who", room: room.name }, { show: false });
    }
    renderRooms();
    if (room.name === state.current) renderMembers();
    saveSession();
  }

  function leftRoom(room, text) {
    dropRoom(room.name);
    systemLine(text, "notice part");
    renderRooms();
  }

  function onPart(event) {
    const room = state.rooms.get(event.room);
    if (!room) return;
    const nicks = nicksOf(event);
    const count = Math.max(Number(event.count) || 0, nicks.length);
    if (nicks.some((nick) => sameNick(nick, state.nick))) {
      leftRoom(room, `you left #${room.name}`);
      return;
    }
    for (const nick of nicks) {
      room.members.delete(nick);
      room.typing.delete(nick);
    }
    if (count > nicks.length) send({ op: "who", room: room.name }, { show: false });
    const why = event.text ? ` (${event.text})` : "";
    presenceLine(room, "part", `${namesText(nicks, count)} left${why}`, event.ts, count);
    noteCount(room);
    renderRooms();
    if (room.name === state.current) {
      renderMembers();
      renderTyping();
    }
  }

  function onKick(event) {
    const room = state.rooms.get(event.room);
    const why = event.text ? ` (${event.text})` : "";
    if (sameNick(event.target, state.nick)) {
      if (room) leftRoom(room, `you were kicked from #${room.name} by ${event.nick}${why}`);
      return;
    }
    if (!room) return;
    room.members.delete(event.target);
    systemLine(`${event.target} was kicked by ${event.nick}${why}`, "notice part kick", room.list, event.ts);
    noteCount(room);
    renderRooms();
    if (room.name === state.current) renderMembers();
  }

  function onClose(event) {
    const room = state.rooms.get(event.room);
    if (!room) return;
    const why = event.text ? ` (${event.text})` : "";
    leftRoom(room, `#${room.name} was closed by ${event.nick}${why}`);
  }

  function onEdit(event) {
    const room = state.rooms.get(event.room);
    const item = room && room.list.querySelector(`:scope > li[data-id="${Number(event.message_id)}"]`);
    if (!item) return;
    const text = item.querySelector(":scope > .text");
    if (text) {
      const fresh = textEl(String(event.text || ""));
      if (item.classList.contains("action")) fresh.prepend("* ", ...[...text.childNodes].slice(1, 2), " ");
      text.replaceWith(fresh);
    }
    if (!item.querySelector(":scope > .edited")) item.append(el("span", "edited", "(edited)"));
  }

  function onDelete(event) {
    const room = state.rooms.get(event.room);
    if (!room) return;
    room.list.querySelector(`:scope > li[data-id="${Number(event.message_id)}"]`)?.remove();
    systemLine(`${event.nick} deleted #${event.message_id}`, "notice delete", room.list, event.ts);
  }

  function onTyping(event) {
    const room = state.rooms.get(event.room);
    if (!room || sameNick(event.nick, state.nick)) return;
    room.typing.set(event.nick, Date.now() + TYPING_SHOWN_MS);
    if (room.name === state.current) renderTyping();
    setTimeout(renderTyping, TYPING_SHOWN_MS + 50);
  }

  function noteCount(room) {
    if (room.synced) state.directory.set(room.name, room.members.size);
  }

  function onNick(event) {
    const old = event.old;
    const mine = sameNick(old, state.nick);
    if (mine) {
      state.nick = event.nick;
      state.wantNick = event.nick;
      ui.nickInput.value = event.nick;
      setStatus("connected", `connected as ${event.nick}`);
      renderAccount();
      saveSession();
    }
    const text = mine ? `you are now known as ${event.nick}` : `${old} is now known as ${event.nick}`;
    let shown = false;
    for (const room of state.rooms.values()) {
      const holder = [...room.members].find((nick) => sameNick(nick, old));
      if (holder === undefined) continue;
      room.members.delete(holder);
      room.members.add(event.nick);
      presenceLine(room, "nick", text, event.ts);
      shown = true;
    }
    if (!shown) systemLine(text, "notice nick", currentList(), event.ts);
    renderMembers();
  }

  function onWho(data, show) {
    const room = state.rooms.get(data.room);
    const members = data.members || [];
    if (room) {
      room.members = new Set(members);
      room.synced = true;
      noteCount(room);
      renderRooms();
      if (room.name === state.current) renderMembers();
    }
    if (show) systemLine(`people in #${data.room}: ${members.join(", ") || "nobody"}`);
  }

  function onRooms(data, show) {
    state.directory = new Map((data.rooms || []).map((room) => [room.name, room.members]));
    for (const room of state.rooms.values()) noteCount(room);
    renderRooms();
    // The list holds the busiest rooms only: say how many there are in all.
    const total = Number(data.total) || 0;
    const listed = (data.rooms || []).length;
    const note = document.getElementById("room-total");
    if (note) {
      note.hidden = total <= listed;
      note.firstChild.textContent = `The busiest ${listed} of ${total} rooms; `;
    }
    if (show) {
      const listing = (data.rooms || []).map((room) => `#${room.name} (${room.members})`);
      systemLine(`rooms: ${listing.join(", ") || "none"}`);
    }
  }

  function onHistory(data, request) {
    const events = (data.events || []).filter((event) => event.kind === "message" || event.kind === "action");
    const room = state.rooms.get(data.room);
    const older = request && request.older;
    const height = ui.log.scrollHeight;
    const top = ui.log.scrollTop;
    for (const event of events) addMessage({ ...event, room: event.room || data.room }, false);
    if (older && room) {
      placeDays();
      // Keep the lines being read where they were: the older ones grew the log above them.
      if (!room.list.hidden) ui.log.scrollTop = top + (ui.log.scrollHeight - height);
      room.older = events.length < request.limit ? "done" : "idle";
      if (room.older === "done" && !room.list.querySelector(".history-start")) {
        const start = dated(el("li", "line notice history-start"), events[0]?.ts ?? Number(room.list.querySelector("li[data-ts]")?.dataset.ts));
        start.append(el("span", "text", `the beginning of #${room.name}`));
        room.list.prepend(start);
      }
      return;
    }
    if (request !== null && request.show) {
      const where = state.rooms.has(data.room) ? "" : " (join the room to read them)";
      systemLine(`${plural(data.events ? data.events.length : 0, "stored message")} of #${data.room}${where}`);
    }
  }

  function onTopicReply(data) {
    const room = state.rooms.get(data.room);
    if (room) {
      room.topic = String(data.topic || "");
      renderMembers();
    }
    const by = data.by ? ` (set by ${data.by})` : "";
    systemLine(data.topic ? `topic of #${data.room}: ${data.topic}${by}` : `#${data.room} has no topic`);
  }

  function onBans(data) {
    const bans = data.bans || [];
    const where = data.room ? `bans of #${data.room}` : "server bans";
    if (!bans.length) return systemLine(`${where}: none`);
    systemLine(`${where}:`);
    for (const ban of bans) {
      const until = ban.until ? ` until ${new Date(ban.until * 1000).toLocaleString()}` : "";
      systemLine(`  ${ban.mask} by ${ban.by}${until}${ban.reason ? ": " + ban.reason : ""}`);
    }
    return undefined;
  }

  // Scrolling to the top of a room asks for the page of messages before the oldest shown.
  function loadOlder() {
    const view = currentView();
    if (!view || view.kind !== "room" || view.older !== "idle") return;
    const oldest = view.list.querySelector(":scope > li[data-id]");
    if (!oldest) return;
    const before = Number(oldest.dataset.id);
    if (before <= 1) {
      view.older = "done";
      return;
    }
    const request = { op: "history", room: view.name, before, limit: OLDER_PAGE };
    const asked = send(request, {
      show: false,
      older: true,
      onError: () => {
        view.older = "done";
      },
    });
    if (asked) view.older = "loading";
  }

  // --- what the user does -------------------------------------------------------------------

  const HELP = [
    "text: say it in this room (//text says /text); Shift+Enter starts a new line",
    "/nick NAME: change your nick",
    "/join ROOM: join a room and show it",
    "/part [ROOM] [REASON]: leave a room (default: this one)",
    "/me ACTION: act in this room",
    "/msg NICK TEXT: send a private message (it opens a conversation)",
    "/who [ROOM]: list who is in a room",
    "/rooms: list the rooms",
    "/history [N]: fetch the last N messages of this room",
    "/since ID: fetch the messages of this room after id ID",
    "/register PASSWORD, /identify [NICK] PASSWORD, /logout: your account",
    "operators: /topic [TEXT], /kick NICK [REASON], /ban MASK [DURATION] [REASON], /unban MASK, /bans,",
    "  /op NICK, /deop NICK, /voice NICK, /devoice NICK, /invite NICK, /mode [+|-][ims], /edit ID TEXT, /delete ID",
    "Alt+Up / Alt+Down: previous / next room",
  ];

  function needRoom() {
    const view = currentView();
    if (view && view.kind === "room") return view.name;
    if (!view && state.current === null) systemLine("You are in no room: /join one first.", "error");
    else systemLine("This is a private conversation: go to a room first.", "error");
    return null;
  }

  function joinRoom(name) {
    const room = normalizeRoom(name);
    if (!ROOM_NAME.test(room)) {
      systemLine(`"${name}" is not a room name: 1 to 32 of a-z, 0-9, _ and -.`, "error");
      return true;
    }
    if (state.rooms.has(room)) {
      showView(room);
      return true;
    }
    return send({ op: "join", room });
  }

  function openConvo(nick) {
    const convo = makeConvo(nick);
    convo.lastTs = convo.lastTs || Date.now() / 1000;
    renderConvos();
    showView(convo.key);
  }

  // What shows nothing where a line starts: spaces, controls, zero-width and bidi marks, a BOM,
  // combining marks with nothing to sit on, blank letters. A line is a command when its first
  // visible character is "/", as on telnet, so a pasted "\u200b/msg bob secret" stays private.
  const HIDDEN_START = /^[\s\p{C}\p{Z}\p{Mn}\p{Me}\u115f\u1160\u3164\uffa0\u2800]+/u;
  const DURATION = /^(\d+[smhdw]?)$/i;

  // Say what was typed, or put it back in the box when the server refuses it (too long, not
  // allowed to speak), so nothing typed is lost.
  function sendText(op, typed) {
    return send(op, {
      onError: (error) => {
        if (!ui.messageInput.value) {
          ui.messageInput.value = typed;
          composerChanged();
        }
        systemLine(error.message || error.code, "error");
      },
    });
  }

  // Run what the user typed; false when it could not be sent (so the text stays in the box).
  function submit(typed) {
    const text = typed.replace(HIDDEN_START, "");
    if (!text.trim()) return true;
    const view = currentView();
    if (!text.startsWith("/") || text.startsWith("//")) {
      const said = text.startsWith("//") ? text.slice(1) : typed;
      if (view && view.kind === "convo") return sendText({ op: "msg", to: view.with, text: said }, typed);
      const room = needRoom();
      return room ? sendText({ op: "say", room, text: said }, typed) : true;
    }
    const [, command, rest = ""] = /^\/(\S+)\s*([\s\S]*)$/.exec(text) || [];
    const arg = rest.trim();
    let words = arg ? arg.split(/\s+/) : [];
    const usage = (line) => (systemLine("usage: " + line, "error"), true);
    // Room commands take the room from a first word "#room", as on telnet.
    const roomArg = () => {
      if (words.length && words[0].startsWith("#")) {
        const room = normalizeRoom(words[0]);
        words = words.slice(1);
        return room;
      }
      return needRoom();
    };
    switch ((command || "").toLowerCase()) {
      case "nick":
        return words.length === 1 ? send({ op: "nick", nick: words[0] }) : usage("/nick NAME");
      case "join":
      case "j":
        return words.length === 1 ? joinRoom(words[0]) : usage("/join ROOM");
      case "part":
      case "leave": {
        const room = words.length ? normalizeRoom(words[0]) : needRoom();
        if (!room) return true;
        const reason = words.slice(1).join(" ");
        return send(reason ? { op: "part", room, reason } : { op: "part", room });
      }
      case "me": {
        const room = needRoom();
        if (!room) return true;
        return arg ? sendText({ op: "me", room, text: arg }, typed) : usage("/me ACTION");
      }
      case "msg":
      case "query": {
        const match = /^(\S+)(?:\s+([\s\S]+))?$/.exec(arg);
        if (!match) return usage("/msg NICK TEXT");
        if (!match[2]) {
          openConvo(match[1]);
          return true;
        }
        return sendText({ op: "msg", to: match[1], text: match[2] }, typed);
      }
      case "who": {
        const room = words.length ? normalizeRoom(words[0]) : needRoom();
        return room ? send({ op: "who", room }) : true;
      }
      case "rooms":
      case "list":
        return send({ op: "rooms" });
      case "history": {
        const room = needRoom();
        if (!room) return true;
        if (words.length && !/^\d+$/.test(words[0])) return usage("/history [N]");
        return send(words.length ? { op: "history", room, limit: Number(words[0]) } : { op: "history", room });
      }
      case "since": {
        if (!words.length || !/^\d+$/.test(words[0])) return usage("/since ID [ROOM]");
        const room = words[1] ? normalizeRoom(words[1]) : needRoom();
        return room ? send({ op: "history", room, since: Number(words[0]) }) : true;
      }
      case "register":
        return arg ? send({ op: "register", password: arg }) : usage("/register PASSWORD");
      case "identify": {
        if (!arg) return usage("/identify [NICK] PASSWORD");
        const match = /^(\S+)\s+([\s\S]+)$/.exec(arg);
        return send(match && NICK_NAME.test(match[1]) && words.length > 1 ? { op: "identify", nick: match[1], password: match[2] } : { op: "identify", password: arg });
      }
      case "logout":
        logOut();
        return true;
      case "password":
        return words.length === 2 ? send({ op: "password", old: words[0], new: words[1] }) : usage("/password OLD NEW");
      case "topic": {
        const room = roomArg();
        if (!room) return true;
        const topic = words.join(" ");
        return send(topic ? { op: "topic", room, text: topic === "-" ? "" : topic } : { op: "topic", room });
      }
      case "kick": {
        const room = roomArg();
        if (!room) return true;
        if (!words.length) return usage("/kick NICK [REASON]");
        return send({ op: "kick", room, nick: words[0], reason: words.slice(1).join(" ") });
      }
      case "ban": {
        const room = roomArg();
        if (!room) return true;
        if (!words.length) return usage("/ban MASK [DURATION] [REASON]");
        const op = { op: "ban", room, mask: words[0] };
        let reason = words.slice(1);
        if (reason.length && DURATION.test(reason[0])) {
          op.duration = reason[0];
          reason = reason.slice(1);
        }
        op.reason = reason.join(" ");
        return send(op);
      }
      case "unban": {
        const room = roomArg();
        if (!room) return true;
        return words.length === 1 ? send({ op: "unban", room, mask: words[0] }) : usage("/unban MASK");
      }
      case "bans": {
        const room = roomArg();
        return room ? send({ op: "bans", room }) : true;
      }
      case "op":
      case "deop":
      case "voice":
      case "devoice":
      case "invite": {
        const room = roomArg();
        if (!room) return true;
        return words.length === 1 ? send({ op: command.toLowerCase(), room, nick: words[0] }) : usage(`/${command} NICK`);
      }
      case "mode": {
        const room = roomArg();
        if (!room) return true;
        return send(words.length ? { op: "mode", room, modes: words[0] } : { op: "mode", room });
      }
      case "edit": {
        const match = /^(\d+)\s+([\s\S]+)$/.exec(arg);
        const room = needRoom();
        if (!room) return true;
        return match ? send({ op: "edit", room, id: Number(match[1]), text: match[2] }) : usage("/edit ID TEXT");
      }
      case "delete": {
        const room = needRoom();
        if (!room) return true;
        return /^\d+$/.test(arg) ? send({ op: "delete", room, id: Number(arg) }) : usage("/delete ID");
      }
      case "kill":
        return words.length ? send({ op: "kill", nick: words[0], reason: words.slice(1).join(" ") }) : usage("/kill NICK [REASON]");
      case "help":
        for (const line of HELP) systemLine(line);
        return true;
      default:
        systemLine(`unknown command /${command || ""}: /help lists them`, "error");
        return true;
    }
  }

  // --- the composer: a textarea (Enter sends, Shift+Enter breaks the line) -------------------

  function composerState() {
    const value = ui.messageInput.value;
    const chars = [...value].length;
    const lines = value.split("\n").length;
    return { chars, lines, over: chars > MAX_TEXT || lines > MAX_TEXT_LINES };
  }

  function composerChanged() {
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

  function sendComposer() {
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
    if (ui.log.scrollTop < 120) loadOlder();
  });

  // At the top already (or a log too short to scroll), scrolling up still asks for more.
  ui.log.addEventListener("wheel", (event) => {
    if (event.deltaY < 0 && ui.log.scrollTop < 120) loadOlder();
  }, { passive: true });
  ui.log.addEventListener("keydown", (event) => {
    if ((event.key === "PageUp" || event.key === "Home" || event.key === "ArrowUp") && ui.log.scrollTop < 120) loadOlder();
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

  // --- accounts: register, log in, log out --------------------------------------------------

  function offerLogIn(nick) {
    if (nick) ui.loginNick.value = nick;
    ui.accountPanel.open = true;
    loginMessage(`${nick || "That nick"} is registered: log in with its password.`, "info");
  }

  async function postSession(nick, password) {
    const response = await fetch("/api/session", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ nick, password }),
      credentials: "same-origin",
    });
    let answer = {};
    try {
      answer = await response.json();
    } catch {
      // not JSON: the status says enough
    }
    return { ok: response.ok, status: response.status, answer };
  }

  ui.loginForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const nick = ui.loginNick.value.trim() || state.nick;
    const password = ui.loginPassword.value;
    if (!nick || !password) return loginMessage("Type your nick and password.");
    loginMessage("Logging in…", "info");
    let result;
    try {
      result = await postSession(nick, password);
    } catch {
      return loginMessage("Could not reach the server: try again.");
    }
    if (!result.ok) return loginMessage(result.answer.message || `Log-in refused (${result.status}).`);
    ui.loginPassword.value = "";
    loginMessage("");
    // The cookie is set now: a new connection is identified by it and gets the account's nick.
    state.wantNick = result.answer.nick || nick;
    reconnectNow();
    return undefined;
  });

  ui.registerButton.addEventListener("click", () => {
    const password = ui.loginPassword.value;
    if (password.length < 8) return loginMessage("A password has 8 to 128 characters.");
    loginMessage("Registering…", "info");
    const nick = state.nick;
    send(
      { op: "register", password },
      {
        onError: (error) => loginMessage(error.message || error.code),
        onReply: async (data) => {
          if (data.type !== "account") return;
          ui.loginPassword.value = "";
          loginMessage("");
          // A log-in session too, so that the cookie keeps this account across reloads.
          try {
            const result = await postSession(data.account || nick, password);
            if (result.ok) loginMessage(`Registered: ${data.account || nick} is yours, and this browser remembers it.`, "info");
            else loginMessage(`Registered, but not remembered here: ${result.answer.message || result.status}`);
          } catch {
            loginMessage("Registered, but not remembered here: log in after a reload.");
          }
        },
      },
    );
    return undefined;
  });

  async function logOut() {
    try {
      await fetch("/api/session", { method: "DELETE", credentials: "same-origin" });
    } catch {
      // the server is away: the op below still logs this connection out
    }
    if (state.account) send({ op: "logout" }, { show: false, onError: () => {} });
    loginMessage("");
  }

  ui.logoutButton.addEventListener("click", () => logOut());

  // --- settings and the first visit ---------------------------------------------------------

  function applyQuiet() {
    const quiet = saved.get(KEYS.quiet, false) === true;
    ui.quietToggle.checked = quiet;
    body.classList.toggle("hide-presence", quiet);
  }

  ui.quietToggle.addEventListener("change", () => {
    saved.set(KEYS.quiet, ui.quietToggle.checked);
    applyQuiet();
  });

  // A first visit asks for a nick (a guest may skip it and keep guest-N).
  function offerNick() {
    const first = !saved.get(KEYS.visited, false) && !query.get("nick") && !lastSession.nick && !state.account;
    if (first && ui.welcomeForm.hidden && !ui.welcomeForm.dataset.done) {
      ui.welcomeForm.hidden = false;
      ui.welcomeNick.value = "";
    } else if (!first) {
      ui.welcomeForm.hidden = true;
    }
  }

  function closeWelcome() {
    saved.set(KEYS.visited, true);
    ui.welcomeForm.hidden = true;
    ui.welcomeForm.dataset.done = "1";
  }

  ui.welcomeForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = ui.welcomeNick.value.trim();
    if (!nick) return;
    if (!sameNick(nick, state.nick)) send({ op: "nick", nick });
    closeWelcome();
    ui.messageInput.focus();
  });

  ui.welcomeSkip.addEventListener("click", () => {
    closeWelcome();
    ui.messageInput.focus();
  });

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
})();
