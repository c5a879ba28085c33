// The events of rooms, by kind: messages, joins and parts (of several nicks at once), nick
// changes, typing, moderation (kick, ban, topic, mode, edit, delete, close).
import { closeWelcome } from "./account.js";
import { TYPING_SHOWN_MS, el, sameNick, saveSession, state, ui } from "./base.js";
import { send, setStatus } from "./connection.js";
import { addMessage, currentList, dropRoom, makeRoom, presenceLine, systemLine } from "./log.js";
import { textEl } from "./text.js";
import { renderAccount, renderMembers, renderRooms, renderTyping, showView } from "./view.js";

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
    // A nick picked another way (the nick box, /nick) answers the first visit's prompt too.
    if (!ui.welcomeForm.hidden) closeWelcome();
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
