// Contoso Mail: a demo webmail that connects Microsoft 365 through mailconnect exactly the way a
// real webmail would, by importing the npm package (copied to /pkg by scripts/build-web.sh) and
// talking to the mailconnect edge served on its own origin under /oauth.
//
// Views: /?view=settings (the Extensions list, default), /?view=inbox, /?view=calendar,
// /?view=compose (with `mailto=<mailto: URL>` when the browser hands over a mailto: link), and the
// message that a message link from another app names (/?folder=…&uidvalidity=…&uid=… or /?mid=…,
// see mailbox.js). Any deep link may add `connect=<extension id>` to start connecting on arrival
// (as an onboarding mail's "Set up Teams" link would); there is no click then, so browsers block
// the popup and mailconnect falls back to a full-page redirect that returns to the same deep link.
//
// With the stack's demo back end (users.js) the webmail has its own sign-in, as Ada or Grace:
// mailconnect then gets a `ticket` function, so the edge session belongs to the signed-in user,
// and signing out ends it (`endSession`) before the back end's own sign-out.

import init, { Connector, endSession } from "/pkg/mailconnect.js";
import { linkedMessage, registerMailtoHandler } from "/pkg/links.js";
import { mountTeamsMeetings } from "/calendar.js";
import { escapeHtml } from "/html.js";
import { LINK_BASE, openMessage, renderCompose, renderInbox, renderMessage } from "/mailbox.js";
import { demoBackend, initials, renderSignIn } from "/users.js";

const EDGE = `${location.origin}/oauth`;

const EXTENSIONS = [
  {
    id: "teams",
    name: "Microsoft Teams",
    blurb: "Add Teams meetings to calendar events, and see them in your calendar.",
    api: "graph",
    icon: `<svg viewBox="0 0 32 32" aria-hidden="true"><rect x="3" y="7" width="18" height="18" rx="3" fill="#5059c9"/><path d="M8 12h8v2.2h-2.8V21h-2.4v-6.8H8z" fill="#fff"/><circle cx="24.5" cy="9.5" r="3.5" fill="#7b83eb"/><rect x="19" y="14" width="11" height="10" rx="4" fill="#7b83eb"/></svg>`,
  },
  {
    id: "outlook-mail",
    name: "Outlook mail",
    blurb: "Read and send your Microsoft 365 mail here, over IMAP, POP and SMTP.",
    api: "xoauth2",
    icon: `<svg viewBox="0 0 32 32" aria-hidden="true"><rect x="10" y="6" width="19" height="20" rx="2" fill="#28a8ea"/><path d="M10 13l9.5 6L29 13v11a2 2 0 0 1-2 2H12a2 2 0 0 1-2-2z" fill="#0078d4"/><rect x="3" y="10" width="13" height="13" rx="2" fill="#0364b8"/><circle cx="9.5" cy="16.5" r="3.6" fill="none" stroke="#fff" stroke-width="2"/></svg>`,
  },
];

// An error's `action`, in words a user can act on.
const ACTIONS = {
  reconnect: "Connect again",
  consent: "Ask your admin to grant consent",
  interaction: "Sign in again",
  configuration: "Ask your admin to check the connector settings",
  retry: "Try again in a moment",
  none: "Something went wrong",
};

// Microsoft Graph per national cloud, keyed by the sign-in host the edge's connector uses. Any
// other host is the local test server, which serves a Graph look-alike under /graph.
const GRAPH_BY_LOGIN_HOST = {
  "login.microsoftonline.com": "https://graph.microsoft.com",
  "login.microsoftonline.us": "https://graph.microsoft.us",
  "login.chinacloudapi.cn": "https://microsoftgraph.chinacloudapi.cn",
};

// `message` is reached by a message link only, so it has no entry in the navigation.
const VIEWS = {
  inbox: { title: "Inbox", render: renderInbox },
  compose: { title: "New message", render: renderCompose },
  calendar: { title: "Calendar", render: renderCalendar },
  settings: { title: "Settings", render: renderSettings },
  message: { title: "Message", render: renderMessage, linkOnly: true },
};

const EVENTS = [
  { id: 41, title: "Weekly sync", when: "Mon 10:00 – 10:30" },
  { id: 42, title: "Design review: analytical engine", when: "Thu 14:00 – 15:00" },
  { id: 43, title: "1:1 with Grace", when: "Fri 11:00 – 11:30" },
];

/** One extension: its mailconnect Connector and the parts of the page that show it. */
class Extension {
  /** `ticket`: the back end's ticket function, when the webmail has users. */
  constructor(def, ticket) {
    this.def = def;
    this.ticket = ticket;
    this.connector = null;
    this.api = null;
    this.account = null;
    this.expiresAt = 0;
    this.state = "loading";
  }

  /** Loads the connector from the edge, then asks the edge session whether it is connected. */
  async start() {
    try {
      this.connector = await Connector.load({ edge: EDGE, connector: this.def.id, ticket: this.ticket });
      // Any tab of this webmail (this one included) connected or disconnected, or the grant died.
      this.connector.addEventListener("change", ({ detail }) => this.changed(detail));
      ({ api: this.api, adminConsentUrl: this.adminConsentUrl } = await publicSettings(this.def));
    } catch (err) {
      this.fail(err);
      return;
    }
    await this.sync();
  }

  /**
   * Re-reads the connection from the edge session (after a reload, or another tab's change). Not
   * during a sign-in: the session says "not connected" until it ends, and connect() shows its end.
   */
  async sync() {
    if (!this.connector || this.state === "connecting") return;
    try {
      const status = await this.connector.status();
      if (status.connected) {
        this.show("connected", status.account);
        if (this.expiresAt <= Date.now()) await this.fetchToken();
      } else {
        this.expiresAt = 0;
        this.show("disconnected");
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /** A `change` event's status: shown at once; a new connection's token comes from memory. */
  changed(status) {
    if (!status.connected) {
      this.expiresAt = 0;
      this.show("disconnected");
    } else if (this.state !== "connected") {
      this.show("connected", status.account);
      this.fetchToken();
    }
  }

  /**
   * Must run inside the user's click: connect() opens the popup before it returns, so nothing
   * may be awaited before it.
   */
  connect(mode = "auto") {
    const pending = this.connector.connect({ mode });
    this.show("connecting");
    pending.then(
      async (status) => {
        this.show("connected", status.account);
        await this.fetchToken();
      },
      (err) => this.fail(err),
    );
  }

  async disconnect() {
    this.show("disconnecting");
    try {
      await this.connector.disconnect();
      this.expiresAt = 0;
      this.show("disconnected");
    } catch (err) {
      this.fail(err);
    }
  }

  async fetchToken() {
    try {
      const token = await this.connector.accessToken();
      this.expiresAt = token.expiresAt;
      if (token.account) this.account = token.account;
      this.render();
      return token;
    } catch (err) {
      this.fail(err);
      return null;
    }
  }

  /** "Call API": a fresh token from mailconnect (refreshed by the edge when needed), then the API. */
  async callApi() {
    const card = this.card();
    const out = card?.querySelector(".api-result");
    if (out) {
      out.hidden = false;
      out.textContent = "Calling…";
      delete out.dataset.ok; // set once the outcome is known
    }
    const token = await this.fetchToken();
    if (!out) return;
    if (!token) {
      out.hidden = true; // the error box says why
      return;
    }
    try {
      if (this.api.kind === "graph") {
        const res = await fetch(this.api.url, { headers: { authorization: `Bearer ${token.accessToken}` } });
        const body = await res.json();
        out.dataset.ok = String(res.ok);
        out.textContent = res.ok
          ? `GET ${this.api.url} → ${res.status}\n${body.displayName} <${body.userPrincipalName}>\njob title: ${body.jobTitle ?? "—"}\nid: ${body.id}`
          : `GET ${this.api.url} → ${res.status}\n${body.error?.code}: ${body.error?.message}`;
      } else {
        const login = await this.imapLogin(token);
        out.dataset.ok = String(login.ok);
        out.textContent = `C: A1 AUTHENTICATE XOAUTH2 ${login.xoauth2.slice(0, 24)}…\nS: ${login.response}${login.reason ? `\n   (${login.reason})` : ""}`;
      }
    } catch (err) {
      out.dataset.ok = "false";
      out.textContent = `The API did not answer: ${err.message}`;
    }
  }

  /**
   * What the webmail's mail backend does with an Outlook mail token: an IMAP login with SASL
   * XOAUTH2 (RFC 7628 form), here at the local server's stand-in for Exchange Online.
   */
  async imapLogin(token) {
    const user = this.account?.username ?? "";
    const xoauth2 = btoa(`user=${user}\x01auth=Bearer ${token.accessToken}\x01\x01`);
    const res = await fetch(this.api.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ protocol: "IMAP", xoauth2 }) });
    const body = await res.json();
    return { xoauth2, ok: body.ok === true, response: body.response, reason: body.reason };
  }

  /**
   * Signs in to the mailbox with a fresh token, as reading a message does: `{ok, reason}`. Only the
   * local server offers the login check over HTTP, so against Microsoft a token is all it takes.
   */
  async mailboxLogin() {
    const token = await this.fetchToken();
    if (!token) return { ok: false, reason: this.error?.message ?? "no access token" };
    if (!this.api?.url) return { ok: true };
    try {
      return await this.imapLogin(token);
    } catch (err) {
      return { ok: false, reason: `the mail server did not answer: ${err.message}` };
    }
  }

  fail(err) {
    this.error = { code: err?.code ?? "error", action: err?.action ?? "none", message: err?.message ?? String(err), codes: err?.errorCodes };
    // A failed connect leaves the extension disconnected, a failed disconnect leaves it connected,
    // and a grant the edge no longer has (`reconnect`) means it is disconnected.
    if (["loading", "connecting"].includes(this.state) || err?.action === "reconnect") this.state = "disconnected";
    else if (this.state === "disconnecting") this.state = "connected";
    if (this.state === "disconnected") {
      this.account = null;
      this.expiresAt = 0;
    }
    this.render();
  }

  show(state, account) {
    this.state = state;
    if (state === "connected" && account) this.account = account;
    if (state === "disconnected") this.account = null;
    if (state === "connecting" || state === "connected") this.error = null;
    this.render();
  }

  card() {
    return document.querySelector(`.ext[data-connector="${this.def.id}"]`);
  }

  render() {
    const pill = document.querySelector(`.pill[data-connector="${this.def.id}"]`);
    if (pill) {
      pill.dataset.state = this.state;
      pill.textContent = `${this.def.name}${this.state === "connected" ? ` · ${this.account?.name ?? "connected"}` : ""}`;
    }
    const card = this.card();
    if (!card) return;
    const connected = this.state === "connected";
    card.dataset.state = this.state;
    const toggle = card.querySelector(".connect-toggle");
    toggle.checked = connected || this.state === "connecting";
    toggle.disabled = !this.connector || this.state === "connecting" || this.state === "disconnecting";
    card.querySelector(".status").textContent = {
      loading: "Checking…",
      connecting: "Connecting… finish signing in in the Microsoft window",
      disconnecting: "Disconnecting…",
      connected: "Connected",
      disconnected: "Not connected",
    }[this.state];
    const account = card.querySelector(".account");
    account.hidden = !connected;
    account.querySelector(".account-name").textContent = this.account?.name ?? "";
    account.querySelector(".account-username").textContent = this.account?.username ?? "";
    card.querySelector(".details").hidden = !connected;
    card.querySelector(".call-api").hidden = !this.api?.url;
    if (!connected) card.querySelector(".api-result").hidden = true;
    this.renderLifetime();

    const box = card.querySelector(".error");
    box.hidden = !this.error;
    if (this.error) {
      box.dataset.code = this.error.code;
      box.dataset.action = this.error.action;
      box.querySelector(".error-action").textContent = ACTIONS[this.error.action] ?? ACTIONS.none;
      // For missing consent, the words become a link an admin can open to consent for everyone.
      const consentLink = box.querySelector(".error-admin-consent");
      consentLink.hidden = !(this.error.action === "consent" && this.adminConsentUrl);
      box.querySelector(".error-action").hidden = !consentLink.hidden;
      if (!consentLink.hidden) consentLink.href = this.adminConsentUrl;
      box.querySelector(".error-message").textContent = this.error.message;
      box.querySelector(".error-code").textContent = [this.error.code, ...(this.error.codes ?? []).map((n) => `AADSTS${n}`)].join(" · ");
      box.querySelector(".error-retry").hidden = !["reconnect", "interaction", "consent"].includes(this.error.action);
    }
  }

  renderLifetime() {
    const el = this.card()?.querySelector(".lifetime");
    if (!el) return;
    const left = Math.round((this.expiresAt - Date.now()) / 1000);
    el.dataset.seconds = String(Math.max(left, 0));
    el.textContent = !this.expiresAt ? "—"
      : left > 0 ? `expires in ${left >= 60 ? `${Math.floor(left / 60)} min ${left % 60} s` : `${left} s`}`
        : "expired: the next call gets a fresh one";
  }
}

/**
 * What the demo learns from the connector's public settings (GET /oauth/connectors/{id}): where
 * "Call API" goes, from the sign-in host (production-shaped), and the admin consent page.
 */
async function publicSettings(def) {
  const res = await fetch(`${EDGE}/connectors/${encodeURIComponent(def.id)}`, { credentials: "include" });
  if (!res.ok) return { api: { kind: def.api, url: null }, adminConsentUrl: null };
  const info = await res.json();
  const login = new URL(info.authorize_url);
  const cloud = GRAPH_BY_LOGIN_HOST[login.host];
  const adminConsentUrl = info.admin_consent_url ?? null;
  if (def.api === "graph") return { api: { kind: "graph", url: `${cloud ?? `${login.origin}/graph`}/v1.0/me` }, adminConsentUrl };
  // In production the mail backend checks XOAUTH2 against Exchange Online itself; only the
  // local test server offers the same check over HTTP.
  return { api: { kind: "xoauth2", url: cloud ? null : `${login.origin}/outlook/xoauth2` }, adminConsentUrl };
}

/** `user`: who is signed in to the webmail, when it has users. */
function renderShell(viewName, user) {
  const nav = Object.entries(VIEWS).filter(([, v]) => !v.linkOnly).map(([name, v]) =>
    `<a href="/?view=${name}" class="nav-item" ${name === viewName ? 'aria-current="page"' : ""}>${escapeHtml(v.title)}</a>`).join("");
  const pills = EXTENSIONS.map((e) => `<span class="pill" data-connector="${e.id}" data-state="loading">${escapeHtml(e.name)}</span>`).join("");
  document.getElementById("app").outerHTML = `
  <div class="app" id="app">
    <header class="topbar">
      <div class="brand"><span class="brand-mark">C</span> Contoso Mail</div>
      <div class="pills" aria-label="Connected services">${pills}</div>
      ${user
        ? `<div class="me" data-user="${escapeHtml(user.id)}" title="${escapeHtml(user.name)}"><span class="avatar">${escapeHtml(initials(user.name))}</span> <button type="button" class="signout secondary">Sign out</button></div>`
        : '<div class="me" title="Ada Lovelace"><span class="avatar">AL</span></div>'}
    </header>
    <nav class="rail" aria-label="Views">${nav}</nav>
    <main class="content" id="content" data-view="${viewName}"></main>
  </div>`;
}

function renderCalendar(root, params) {
  const focus = Number(params.get("event"));
  root.innerHTML = `<h1>Calendar</h1><p class="hint">Events can carry a Teams meeting once Microsoft Teams is connected in <a href="/?view=settings">Settings → Extensions</a>.</p>
  <ul class="events">${EVENTS.map((e) => `
    <li class="event" data-event="${e.id}" ${e.id === focus ? 'aria-current="true"' : ""}><span class="when">${escapeHtml(e.when)}</span><span class="title">${escapeHtml(e.title)}</span></li>`).join("")}</ul>`;
}

function renderSettings(root) {
  root.innerHTML = `<h1>Settings</h1><h2 class="section">Extensions</h2>
  <p class="hint">Connect the services you use. Contoso Mail never sees your Microsoft password, and the long-lived grant stays on our server.</p>
  <div class="extensions">${EXTENSIONS.map((e) => `
    <article class="ext" data-connector="${e.id}" data-state="loading">
      <div class="ext-icon">${e.icon}</div>
      <div class="ext-main">
        <div class="ext-head">
          <h3>${escapeHtml(e.name)}</h3>
          <span class="status">Checking…</span>
        </div>
        <p class="blurb">${escapeHtml(e.blurb)}</p>
        <p class="account" hidden>Connected as <b class="account-name"></b> <span class="account-username"></span></p>
        <div class="details" hidden>
          <p class="token">Access token <span class="lifetime">—</span></p>
          <div class="buttons">
            <button type="button" class="call-api">Call API</button>
            <button type="button" class="disconnect secondary">Disconnect</button>
          </div>
          <pre class="api-result" hidden></pre>
        </div>
        <div class="error" role="alert" hidden>
          <p><b class="error-action"></b><a class="error-admin-consent" target="_blank" rel="noopener" hidden>${ACTIONS.consent}</a> <button type="button" class="error-retry link">Connect again</button></p>
          <p class="error-message"></p>
          <p class="error-code"></p>
        </div>
      </div>
      <label class="switch" title="Connect ${escapeHtml(e.name)}">
        <input type="checkbox" role="switch" class="connect-toggle" aria-label="Connect ${escapeHtml(e.name)}" disabled>
        <span class="track"><span class="thumb"></span></span>
      </label>
    </article>`).join("")}</div>
  <h2 class="section">Email links</h2>
  <p class="hint">Open <code>mailto:</code> links from any site in Contoso Mail instead of a desktop mail program.</p>
  <p><button type="button" class="register-mailto secondary">Open email links in Contoso Mail</button> <span class="mailto-result" aria-live="polite"></span></p>`;
  root.querySelector(".register-mailto").addEventListener("click", () => {
    const result = root.querySelector(".mailto-result");
    try {
      // The browser puts the whole mailto: URL, percent-encoded, where %s is.
      registerMailtoHandler(`${location.origin}/?view=compose&mailto=%s`);
      result.dataset.outcome = "asked";
      result.textContent = "Your browser asks you to confirm.";
    } catch (err) {
      result.dataset.outcome = err.code;
      result.textContent = err.message;
    }
  });
}

function wire(extensions) {
  for (const ext of extensions) {
    const card = ext.card();
    if (!card) continue;
    card.querySelector(".connect-toggle").addEventListener("change", (event) => {
      if (event.target.checked) ext.connect();
      else ext.disconnect();
    });
    card.querySelector(".error-retry").addEventListener("click", () => ext.connect());
    card.querySelector(".call-api").addEventListener("click", () => ext.callApi());
    card.querySelector(".disconnect").addEventListener("click", () => ext.disconnect());
  }
  setInterval(() => extensions.forEach((e) => e.renderLifetime()), 1000);
  document.addEventListener("visibilitychange", async () => {
    if (document.visibilityState !== "visible") return;
    await Promise.all(extensions.map((e) => e.sync()));
    // How many of these re-reads have finished, so that a test can wait for one.
    const app = document.getElementById("app");
    app.dataset.synced = String(Number(app.dataset.synced ?? 0) + 1);
  });
}

/** Sign out: mailconnect forgets the edge session in every tab, then the back end its own. */
async function signOut(backend) {
  await endSession({ edge: EDGE });
  await backend.signOut();
  location.reload();
}

async function main() {
  // First: the link functions are the wasm module's too.
  await init();
  const backend = await demoBackend();
  if (backend && !backend.user) {
    renderSignIn(backend, EDGE);
    return;
  }
  const params = new URLSearchParams(location.search);
  let link;
  let linkError;
  try {
    link = linkedMessage(LINK_BASE);
  } catch (err) {
    linkError = err;
  }
  const asked = VIEWS[params.get("view")] && !VIEWS[params.get("view")].linkOnly ? params.get("view") : "settings";
  const viewName = link || linkError ? "message" : asked;
  // The deep link to return to is this one without its `connect` request.
  const connectTo = params.get("connect");
  if (connectTo) {
    params.delete("connect");
    history.replaceState(null, "", `${location.pathname}${params.size ? `?${params}` : ""}${location.hash}`);
  }
  renderShell(viewName, backend?.user);
  document.querySelector(".signout")?.addEventListener("click", () => signOut(backend));
  document.title = `${VIEWS[viewName].title} · Contoso Mail`;
  VIEWS[viewName].render(document.getElementById("content"), params);

  const extensions = EXTENSIONS.map((def) => new Extension(def, backend?.ticket));
  wire(extensions);
  await Promise.all(extensions.map((e) => e.start()));
  // The calendar's Teams meetings go to the Graph the Teams connector signs in for.
  const teams = extensions.find((e) => e.def.id === "teams");
  if (viewName === "calendar" && teams.api?.url) {
    mountTeamsMeetings(document.getElementById("content"), { tokens: teams.connector, graphBase: teams.api.url.replace(/\/me$/, "") });
  }
  if (viewName === "message") {
    const mail = extensions.find((e) => e.def.id === "outlook-mail");
    await openMessage(document.getElementById("content"), { link, linkError, mail });
  }
  document.getElementById("app").dataset.ready = "true";

  const wanted = extensions.find((e) => e.def.id === connectTo);
  if (wanted?.connector && wanted.state === "disconnected") wanted.connect();
}

main().catch((err) => {
  document.getElementById("app").textContent = `Contoso Mail could not start: ${err.message}`;
});
