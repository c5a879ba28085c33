// Message text as DOM nodes: http and https links and mentions of your nick, built with
// createElement and textContent, never innerHTML, so what a user typed is only ever text.
import { el, state } from "./base.js";

// --- message text: links and mentions, built with DOM calls ---------------------------------

export const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"'`]+/gi;
export const TRAILING = /[.,;:!?'")\]}>]+$/;

export function mentionPattern() {
  if (!state.nick) return null;
  const escaped = state.nick.replace(/[-_]/g, "\\$&");
  return new RegExp(`(^|[^A-Za-z0-9_-])(${escaped})(?![A-Za-z0-9_-])`, "gi");
}

export function mentions(text) {
  const pattern = mentionPattern();
  return pattern !== null && pattern.test(text);
}

export function appendPlain(parent, text, pattern) {
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
export function linkEl(raw) {
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

export function textEl(text, { mention = true } = {}) {
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
