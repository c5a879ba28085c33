// What the server sends, by type and by event kind: each handler updates the state and
// redraws what changed.
import { offerLogIn, offerNick } from "./account.js";
import { NICK_RETRIES, OLDER_PAGE, ROOMS_POLL_MS, TYPING_SHOWN_MS, dated, el, lastSession, plural, sameNick, saveSession, state, ui } from "./base.js";
import { answered, initialRoom, send, setStatus } from "./connection.js";
import { askConversations, forgetConvos, loadSavedPms, onPmHistory, onPrivate } from "./convos.js";
import { addMessage, currentList, currentView, dropRoom, makeRoom, placeDays, presenceLine, systemLine } from "./log.js";
import { textEl } from "./text.js";
import { renderAccount, renderMembers, renderRooms, renderTyping, showView } from "./view.js";

// --- what the server sends ----------------------------------------------------------------

export function receive(data) {
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

export function onError(data, request) {
  if (request && request.onError) return request.onError(data);
  if (request && request.quiet) return undefined;
  if (data.code === "nick-registered" || data.code === "nick-taken" || data.code === "bad-nick") {
    ui.nickInput.value = state.nick || ""; // the box shows the nick we really have
    if (data.code === "nick-registered") offerLogIn(data.nick);
  }
  return systemLine(data.message || data.code || "error", "error");
}

export function onWelcome(data) {
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

export function retryNick(nick, left) {
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

export function onAccount(data) {
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

export function onEvent(event) {
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

export function eventText(event) {
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
export function nicksOf(event) {
  return Array.isArray(event.nicks) ? event.nicks.map(String) : [String(event.nick)];
}

export function namesText(nicks, count = nicks.length) {
  if (count > nicks.length) return `${nicks.slice(0, 3).join(", ")} and ${count - 3} others`;
  if (nicks.length <= 4) return nicks.length === 1 ? nicks[0] : `${nicks.slice(0, -1).join(", ")} and ${nicks[nicks.length - 1]}`;
  return `${nicks.slice(0, 3).join(", ")} and ${nicks.length - 3} others`;
}

export function onJoin(event) {
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

export function leftRoom(room, text) {
  dropRoom(room.name);
  systemLine(text, "notice part");
  renderRooms();
}

export function onPart(event) {
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

export function onKick(event) {
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

export function onClose(event) {
  const room = state.rooms.get(event.room);
  if (!room) return;
  const why = event.text ? ` (${event.text})` : "";
  leftRoom(room, `#${room.name} was closed by ${event.nick}${why}`);
}

export function onEdit(event) {
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

export function onDelete(event) {
  const room = state.rooms.get(event.room);
  if (!room) return;
  room.list.querySelector(`:scope > li[data-id="${Number(event.message_id)}"]`)?.remove();
  systemLine(`${event.nick} deleted #${event.message_id}`, "notice delete", room.list, event.ts);
}

export function onTyping(event) {
  const room = state.rooms.get(event.room);
  if (!room || sameNick(event.nick, state.nick)) return;
  room.typing.set(event.nick, Date.now() + TYPING_SHOWN_MS);
  if (room.name === state.current) renderTyping();
  setTimeout(renderTyping, TYPING_SHOWN_MS + 50);
}

export function noteCount(room) {
  if (room.synced) state.directory.set(room.name, room.members.size);
}

export function onNick(event) {
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

export function onWho(data, show) {
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

export function onRooms(data, show) {
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

export function onHistory(data, request) {
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

export function onTopicReply(data) {
  const room = state.rooms.get(data.room);
  if (room) {
    room.topic = String(data.topic || "");
    renderMembers();
  }
  const by = data.by ? ` (set by ${data.by})` : "";
  systemLine(data.topic ? `topic of #${data.room}: ${data.topic}${by}` : `#${data.room} has no topic`);
}

export function onBans(data) {
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
export function loadOlder() {
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
