// The demo's mailbox: its messages (as the webmail's IMAP backend would list them), the message
// view that message links from other apps open, and the compose view that mailto: links open,
// both through mailconnect/links. app.js picks the view and hands over the Outlook mail extension.

import { messageLinkUrl, parseMailto } from "/pkg/links.js";
import { escapeHtml } from "/html.js";

/** Message links point at the webmail's root: `/?folder=…&uidvalidity=…&uid=…` or `/?mid=…`. */
export const LINK_BASE = `${location.origin}/`;
const FOLDER = "INBOX";
/** The INBOX's UIDVALIDITY: a link made under another one no longer names the same message. */
const UIDVALIDITY = 1700000000;

const MESSAGES = [
  {
    uid: 101, messageId: "compiler-notes.4711@contoso.dev", from: "Grace Hopper", time: "09:12",
    subject: "Compiler notes for Thursday", preview: "I've annotated the draft, see page 3…",
    body: "I've annotated the draft, see page 3 for the part about subroutines.\n\nCan we go through it on Thursday?\n\nGrace",
  },
  {
    uid: 102, messageId: "engine-budget.1822@contoso.dev", from: "Charles Babbage", time: "Yesterday",
    subject: "Difference engine: budget", preview: "The committee wants a revised estimate before…",
    body: "The committee wants a revised estimate before the end of the month.\n\nCharles",
  },
  {
    uid: 103, messageId: "teams-setup.2026@contoso.dev", from: "Contoso IT", time: "Mon",
    subject: "Set up Microsoft Teams in your calendar", preview: "Connect Teams once and every event can carry a meeting link.",
    body: "Connect Teams once in Settings → Extensions, and every event can carry a meeting link.",
  },
];

const linkTo = (m) => messageLinkUrl({ folder: FOLDER, uidvalidity: UIDVALIDITY, uid: m.uid }, LINK_BASE);

/** The message a link names, if this mailbox still has it under that name. */
function find(link) {
  if ("messageId" in link) return MESSAGES.find((m) => m.messageId === link.messageId);
  return link.folder === FOLDER && link.uidvalidity === UIDVALIDITY ? MESSAGES.find((m) => m.uid === link.uid) : undefined;
}

export function renderInbox(root) {
  root.innerHTML = `<h1>Inbox</h1><ul class="messages">${MESSAGES.map((m) => `
    <li><a class="message" href="${escapeHtml(linkTo(m))}" data-uid="${m.uid}"><span class="from">${escapeHtml(m.from)}</span><span class="subject">${escapeHtml(m.subject)}</span>
    <span class="preview">${escapeHtml(m.preview)}</span><span class="time">${escapeHtml(m.time)}</span></a></li>`).join("")}</ul>`;
}

/** The message view's frame; `openMessage` fills it once the extensions are loaded. */
export function renderMessage(root) {
  root.innerHTML = `<h1>Message</h1><article class="message-view" data-state="opening" aria-live="polite"><p class="hint">Opening…</p></article>`;
}

/**
 * Shows the message `link` names (or `linkError`, a damaged link). Reading mail needs the Outlook
 * mail connection, whose token the webmail's IMAP login uses; without it the view offers to
 * connect. A tab opened from another app's link exists for that message, so the sign-in is a
 * full-page redirect: it comes back to this address (connect()'s default `returnTo`), which is
 * the link, and the message opens.
 */
export async function openMessage(root, { link, linkError, mail }) {
  const view = root.querySelector(".message-view");
  const show = (state, html) => {
    view.dataset.state = state;
    view.innerHTML = html;
  };
  if (linkError) return show("invalid", `<p class="notice">${escapeHtml(linkError.message)}</p><p><a href="/?view=inbox">Go to the inbox</a></p>`);
  const message = find(link);
  if (!message) {
    return show("missing", '<p class="notice">This message is no longer in your mailbox under this link: it was moved, deleted or the folder was rebuilt.</p><p><a href="/?view=inbox">Go to the inbox</a></p>');
  }
  if (!mail.connector) return show("error", `<p class="notice">Outlook mail is not available: ${escapeHtml(mail.error?.message ?? "its connector did not load")}</p>`);
  if (mail.state !== "connected") {
    show("needs-connection", `<p class="notice">Connect Outlook mail to read this message.</p><button type="button" class="connect-mail">Connect Outlook mail</button>`);
    view.querySelector(".connect-mail").addEventListener("click", () => mail.connect("redirect"));
    return undefined;
  }
  const login = await mail.mailboxLogin();
  if (!login.ok) return show("error", `<p class="notice">The mail server refused the sign-in: ${escapeHtml(login.reason)}</p>`);
  document.title = `${message.subject} · Contoso Mail`;
  return show("open", `
    <h2 class="subject">${escapeHtml(message.subject)}</h2>
    <p class="meta"><b class="from">${escapeHtml(message.from)}</b> · <span class="time">${escapeHtml(message.time)}</span> · <span class="message-id">&lt;${escapeHtml(message.messageId)}&gt;</span></p>
    <div class="body">${escapeHtml(message.body)}</div>`);
}

/** A new message, filled in from `?mailto=` when a mailto: link opened the webmail. */
export function renderCompose(root, params) {
  let draft = { to: [], cc: [], bcc: [], subject: "", body: "" };
  let problem = "";
  if (params.has("mailto")) {
    try {
      draft = parseMailto(params.get("mailto"));
    } catch (err) {
      problem = err.message;
    }
  }
  const field = (name, label, value) => `<label>${label} <input name="${name}" value="${escapeHtml(value)}"></label>`;
  root.innerHTML = `<h1>New message</h1>
  ${problem ? `<p class="notice" role="alert">${escapeHtml(problem)}</p>` : ""}
  <form class="compose-form">
    ${field("to", "To", draft.to.join(", "))}
    ${field("cc", "Cc", draft.cc.join(", "))}
    ${field("bcc", "Bcc", draft.bcc.join(", "))}
    ${field("subject", "Subject", draft.subject)}
    <label>Message <textarea name="body" rows="8">${escapeHtml(draft.body)}</textarea></label>
  </form>`;
}
