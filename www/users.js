// The demo webmail's own sign-in, when the local stack runs with users (scripts/dev.sh, or
// startStack({ users: true })): the stack then serves /demo-backend.json naming the demo back end
// (tests/support/demo-backend.mjs), which signs Ada or Grace in and mints the tickets that bind
// the mailconnect edge session to her. Without that file (the browser-bound stack) there is no
// sign-in, and the webmail runs as today.

import { endSession } from "/pkg/mailconnect.js";
import { escapeHtml } from "/html.js";

/** The demo back end and who is signed in to it, or null when this stack has none. */
export async function demoBackend() {
  const found = await fetch("/demo-backend.json", { cache: "no-store" });
  if (!found.ok) return null;
  const { url } = await found.json();
  const call = async (path, body) => {
    const init = body ? { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) } : {};
    const res = await fetch(`${url}${path}`, { ...init, credentials: "include", cache: "no-store" });
    const answer = await res.json();
    if (!res.ok) throw new Error(`the webmail's back end answered ${res.status} ${answer.error}`);
    return answer;
  };
  const { user } = await call("/session");
  return {
    user,
    signIn: (name) => call("/signin", { user: name }),
    signOut: () => call("/signout", {}),
    /** A fresh ticket for the signed-in user: mailconnect's `ticket` option. */
    ticket: async () => (await call("/ticket", {})).ticket,
  };
}

/**
 * The sign-in page: one button per demo user; the page reloads signed in. The browser's session at
 * the mailconnect `edge` is ended first: the previous user may have left without signing out.
 */
export function renderSignIn(backend, edge) {
  const users = [["ada", "Ada Lovelace"], ["grace", "Grace Hopper"]];
  document.getElementById("app").outerHTML = `
  <div class="signin" id="app" data-ready="true" data-signed-in="false">
    <h1><span class="brand-mark">C</span> Contoso Mail</h1>
    <p class="hint">Sign in as one of the demo users. Each has her own connections, on every browser she uses.</p>
    ${users.map(([id, name]) => `<button type="button" class="signin-as" data-user="${id}">Sign in as ${escapeHtml(name)}</button>`).join("")}
  </div>`;
  for (const button of document.querySelectorAll(".signin-as")) {
    button.addEventListener("click", async () => {
      await endSession({ edge });
      await backend.signIn(button.dataset.user);
      location.reload();
    });
  }
}

/** Initials for the avatar. */
export const initials = (name) => name.split(/\s+/).map((w) => w[0]).join("").slice(0, 2).toUpperCase();
