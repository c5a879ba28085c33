// What the user types: text for the room or conversation on screen, or a command as on
// telnet (the first visible character decides).
import { logOut } from "./account.js";
import { NICK_NAME, ROOM_NAME, normalizeRoom, state, ui } from "./base.js";
import { composerChanged } from "./composer.js";
import { send } from "./connection.js";
import { makeConvo } from "./convos.js";
import { currentView, systemLine } from "./log.js";
import { renderConvos, showView } from "./view.js";

// --- what the user does -------------------------------------------------------------------

export const HELP = [
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

export function needRoom() {
  const view = currentView();
  if (view && view.kind === "room") return view.name;
  if (!view && state.current === null) systemLine("You are in no room: /join one first.", "error");
  else systemLine("This is a private conversation: go to a room first.", "error");
  return null;
}

export function joinRoom(name) {
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

export function openConvo(nick) {
  const convo = makeConvo(nick);
  convo.lastTs = convo.lastTs || Date.now() / 1000;
  renderConvos();
  showView(convo.key);
}

// What shows nothing where a line starts: spaces, controls, zero-width and bidi marks, a BOM,
// combining marks with nothing to sit on, blank letters. A line is a command when its first
// visible character is "/", as on telnet, so a pasted "\u200b/msg bob secret" stays private.
export const HIDDEN_START = /^[\s\p{C}\p{Z}\p{Mn}\p{Me}\u115f\u1160\u3164\uffa0\u2800]+/u;
export const DURATION = /^(\d+[smhdw]?)$/i;

// Say what was typed, or put it back in the box when the server refuses it (too long, not
// allowed to speak), so nothing typed is lost.
export function sendText(op, typed) {
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
export function submit(typed) {
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
