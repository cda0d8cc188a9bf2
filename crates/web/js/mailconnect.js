// The public API of the mailconnect browser module (re-exported by the generated mailconnect.js)
// and all its browser plumbing: fetch to the edge, the sign-in popup and its timers,
// BroadcastChannel, Web Locks, storage. What must be right for security (state and PKCE, the
// authorize URL, the callback's state and issuer checks, returnTo, provider error classification)
// is the Rust half, `core`, which src/lib.rs binds here when the module is instantiated. Its calls
// are synchronous, so connect() opens the popup inside the click's task.
//
// Formats other code may meet (see crates/web/README.md, "How it works"):
// - popup: the callback page posts {type: "mailconnect:callback", state, params} to its opener and
//   on the BroadcastChannel "mailconnect:{state}"; the app answers {type: "mailconnect:ack", state}.
// - localStorage "mailconnect:busy:{edge}:{connector}" = "{expiresMs} {serial}" while a popup is open.
// - sessionStorage "mailconnect:redirect:{state}" = the pending redirect sign-in, single use.
// - tokens: the Web Lock and BroadcastChannel "mailconnect:{edge}:{connector}" carry {token}.

/** The Rust half: the class `Core` of src/lib.rs, whose functions are static. */
let core;

/** Called by lib.rs's start function with an instance of `Core`. */
export function bind(instance) {
  core = instance.constructor;
}

export class MailconnectError extends Error {
  // Spelled out: scripts/build-web.sh minifies this file, local names included.
  static name = "MailconnectError";

  constructor(message, code, action, retryable, errorCodes) {
    super(message);
    this.name = "MailconnectError";
    this.code = code;
    this.action = action;
    this.retryable = retryable;
    if (errorCodes) this.errorCodes = errorCodes;
  }
}

/** The action of each of this module's own codes (the README's table). */
const ACTION = {
  network_error: "retry",
  interaction_in_progress: "retry",
  popup_blocked: "interaction",
  popup_closed: "interaction",
  timeout: "interaction",
  configuration_error: "configuration",
  unknown_state: "reconnect",
  not_a_callback: "none",
  browser_unsupported: "none",
};

/** One of this module's own errors; `message` says what to do. */
function fail(code, message, action = ACTION[code]) {
  return new MailconnectError(message, code, action, action === "retry");
}

const misconfigured = (message) => fail("configuration_error", message);
const refused = (api) =>
  fail("browser_unsupported", `the browser refused ${api}: mailconnect needs it (check privacy settings and that the page is served over https or from localhost)`);
const popupClosed = () => fail("popup_closed", "the sign-in window was closed before sign-in finished: connect again");

/** The Rust half's errors (state_mismatch, issuer_mismatch, the provider's, ...), thrown by lib.rs. */
export function coreError(message, code, action, errorCodes) {
  return new MailconnectError(message, code, action, action === "retry", errorCodes.length ? Array.from(errorCodes) : undefined);
}

// ---- the edge ---------------------------------------------------------------------------------

// What the edge answers, field by field as serde writes crates/core/src/contract.rs (snake_case;
// `opt` for an Option, absent or null). Unknown fields are ignored, as serde does. The test
// `contract_types_of_core_read_as_the_module_expects` (tests/web.rs) serves core's own
// serialization of each type, so a field renamed there fails that test until it is renamed here.
const str = (v) => typeof v === "string";
const uint = (v) => Number.isSafeInteger(v) && v >= 0;
const opt = (kind) => (v) => v == null || kind(v);
const list = (kind) => (v) => Array.isArray(v) && v.every(kind);
const obj = (shape) => (v) => v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(shape).every((k) => shape[k](v[k]));

const ACCOUNT = { name: opt(str), username: opt(str), oid: opt(str), tid: opt(str) };
const CONTRACT = {
  ConnectorInfo: obj({
    id: str,
    authorize_url: str,
    client_id: str,
    scope: str,
    redirect_uris: list(str),
    prompt: opt(str),
    domain_hint: opt(str),
    issuer: opt(str),
  }),
  TokenResponse: obj({ access_token: str, token_type: str, expires_in: uint, expires_at: uint, scope: str, account: opt(obj(ACCOUNT)) }),
  Disconnected: obj({ status: str }),
  SessionInfo: obj({ connectors: list(obj({ id: str, account: opt(obj(ACCOUNT)) })) }),
  ErrorBody: obj({
    error: str,
    error_description: str,
    action: (v) => ["reconnect", "consent", "interaction", "configuration", "retry", "none"].includes(v),
    retryable: (v) => typeof v === "boolean",
    error_codes: opt(list(uint)),
  }),
};

/** An `Account` of the contract as the API's `Account`: its four fields, when present. */
function account(a) {
  const out = {};
  for (const k of Object.keys(ACCOUNT)) if (a[k] != null) out[k] = a[k];
  return out;
}

/**
 * One connector's routes at one edge (`base` with its /oauth prefix). Every request carries the
 * session cookie (`credentials: "include"`, so an edge on a sibling subdomain works too) and the
 * CSRF header `x-mailconnect: 1` (contract.rs `CSRF_HEADER`), which a cross-site form cannot send;
 * nothing is cached. A body outside the contract is dropped, not kept in an error: half-parsed,
 * it may still hold a token.
 */
class Edge {
  constructor(base, connector) {
    this.base = base.replace(/\/+$/, "");
    this.connector = connector;
    /** Names this connector's lock, channel and busy marker. */
    this.key = `${this.base}:${connector}`;
  }

  /** `{action}` of `/connectors/{id}` (GET without a body, POST with one), read as `answer`. */
  route(action, answer, body) {
    return this.call(`${this.base}/connectors/${encodeURIComponent(this.connector)}${action}`, answer, body);
  }

  /** `answer` is the CONTRACT entry a 2xx body must match; any other status carries an `ErrorBody`. */
  async call(url, answer, body) {
    const init = { method: body ? "POST" : "GET", credentials: "include", cache: "no-store", headers: { "x-mailconnect": "1" } };
    if (body) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch {
      throw fail("network_error", `could not reach the mailconnect edge at ${url}: check the network connection and the edge URL`);
    }
    const json = await response.json().catch(() => undefined);
    if (response.ok && answer(json)) return json;
    if (!response.ok && CONTRACT.ErrorBody(json)) {
      throw new MailconnectError(json.error_description || json.error, json.error, json.action, json.retryable, json.error_codes ?? undefined);
    }
    const status = response.status;
    const message = `${url} answered HTTP ${status} without the mailconnect contract: check that the edge URL points at the edge's /oauth prefix`;
    throw fail("bad_response", message, status >= 500 ? "retry" : "configuration");
  }

  info() {
    return this.route("", CONTRACT.ConnectorInfo);
  }

  /** Redeems an authorization code (a `TokenRequest`). */
  exchange(code, verifier, redirectUri) {
    return this.route("/token", CONTRACT.TokenResponse, { code, code_verifier: verifier, redirect_uri: redirectUri });
  }

  refresh() {
    return this.route("/refresh", CONTRACT.TokenResponse, {});
  }

  disconnect() {
    return this.route("/disconnect", CONTRACT.Disconnected, {});
  }

  session() {
    return this.call(`${this.base}/session`, CONTRACT.SessionInfo);
  }
}

// ---- browser APIs -----------------------------------------------------------------------------

/** `localStorage` or `sessionStorage`; some privacy modes refuse them. */
function storage(name) {
  try {
    if (globalThis[name]) return globalThis[name];
  } catch {
    // SecurityError: storage disabled.
  }
  throw refused(name);
}

function channel(name) {
  try {
    return new BroadcastChannel(name);
  } catch {
    throw refused("BroadcastChannel");
  }
}

/** Browsers keep timer delays in an int32: anything longer would fire at once. */
const delay = (ms) => Math.min(ms, 2 ** 31 - 1);

// ---- the Connector ----------------------------------------------------------------------------

const DEFAULT_MARGIN_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 5 * 60 * 1000;
/** How long the token lock outlives a refresh: far more than a message between tabs takes. */
const LINGER_MS = 100;
const CALLBACK = "mailconnect:callback";
const ACK = "mailconnect:ack";
const PROMPTS = ["login", "consent", "select_account", "none"];

/** Options as serde read them before: an object with only these keys, each of its type or absent. */
function options(value, shape) {
  return obj(shape)(value) && Object.keys(value).every((k) => k in shape);
}

/** Closes the token channel of a connector that was garbage-collected without `free()`. */
const finalizer = new FinalizationRegistry((tokens) => tokens.close());

export class Connector {
  static name = "Connector";
  #edge;
  #info;
  #redirectUri;
  #marginMs;
  /**
   * `{token}`: the access token, in memory only (a reloaded tab asks the edge, whose session cookie
   * is HttpOnly, again). A holder of its own, so the channel's listener does not keep `this` alive.
   */
  #memory = { token: undefined };
  /** Carries `{token}` (`null` after a disconnect) between the origin's tabs. */
  #tokens;

  /** Fetches the connector's public settings from the edge. */
  static async load(opts) {
    if (opts == null) throw misconfigured("Connector.load needs { edge, connector }");
    if (!options(opts, { edge: str, connector: str, redirectUri: opt(str), refreshMarginMs: opt((v) => typeof v === "number") })) {
      throw misconfigured(
        "invalid ConnectorOptions: expected { edge: string, connector: string, redirectUri?: string, refreshMarginMs?: number }",
      );
    }
    let base;
    try {
      base = new URL(opts.edge, location.href).href;
    } catch {
      throw misconfigured(`invalid edge URL "${opts.edge}"`);
    }
    const edge = new Edge(base, opts.connector);
    const info = await edge.info();
    // The edge is trusted, but nothing it sends may make this page navigate to script.
    if (!safeAuthorizeUrl(info.authorize_url)) {
      throw misconfigured(`the edge's authorize URL is not https:// (or http:// on localhost): ${info.authorize_url}`);
    }
    const uris = info.redirect_uris;
    const redirectUri = opts.redirectUri ?? uris[0];
    if (opts.redirectUri != null && !uris.includes(redirectUri)) {
      throw misconfigured(`${redirectUri} is not a redirect URI the edge accepts for ${info.id}: ${uris.join(", ")}`);
    }
    if (redirectUri === undefined) throw misconfigured(`the edge has no redirect URI for ${info.id}`);
    // The callback page talks to this page through same-origin channels only.
    if (originOf(redirectUri) !== location.origin) {
      throw misconfigured(
        `redirect URI ${redirectUri} is not on this page's origin ${location.origin}: serve the callback page from the app's origin`,
      );
    }
    return new Connector(edge, info, redirectUri, Math.max(opts.refreshMarginMs ?? DEFAULT_MARGIN_MS, 0) || 0);
  }

  /** @private Use `Connector.load`. */
  constructor(edge, info, redirectUri, marginMs) {
    this.#edge = edge;
    this.#info = info;
    this.#redirectUri = redirectUri;
    this.#marginMs = marginMs;
    this.#tokens = channel(`mailconnect:${edge.key}`);
    // A message that is not `{token}` is not ours; the channel is same-origin by construction.
    const memory = this.#memory;
    this.#tokens.onmessage = ({ data }) => {
      if (data && typeof data === "object" && "token" in data) memory.token = data.token ?? undefined;
    };
    finalizer.register(this, this.#tokens, this);
  }

  /** Stops listening to the other tabs. */
  free() {
    finalizer.unregister(this);
    this.#tokens.close();
  }

  /**
   * Signs in, in a popup or by redirect. Not `async` on purpose: everything up to `window.open`
   * runs in the caller's task, so the click's user activation still allows the popup.
   */
  connect(opts) {
    try {
      return this.#connect(opts ?? {});
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #connect(opts) {
    const shape = { mode: opt(str), timeoutMs: opt((v) => typeof v === "number"), returnTo: opt(str), prompt: opt(str), loginHint: opt(str), domainHint: opt(str) };
    if (!options(opts, shape) || ![undefined, null, "popup", "redirect", "auto"].includes(opts.mode)) {
      throw misconfigured(
        'invalid ConnectOptions: expected { mode?: "popup" | "redirect" | "auto", timeoutMs?: number, returnTo?: string, prompt?: string, loginHint?: string, domainHint?: string }',
      );
    }
    const mode = opts.mode ?? "auto";
    if (opts.prompt != null && !PROMPTS.includes(opts.prompt)) {
      throw misconfigured(`invalid prompt "${opts.prompt}": use login, consent, select_account or none`);
    }
    const returnTo = opts.returnTo != null ? core.returnTo(opts.returnTo) : here();
    if (!(opts.timeoutMs == null || opts.timeoutMs >= 1)) throw misconfigured("invalid timeoutMs: use a positive number of milliseconds");
    const timeoutMs = Math.floor(Math.min(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, 2 ** 32 - 1));

    const key = this.#edge.key;
    if (mode !== "redirect") {
      const joined = popups.reuse(key);
      if (joined) return joined;
      if (popups.busyElsewhere(key)) {
        const message = `another tab is already signing in to ${this.#edge.connector}: finish or close that sign-in window, then try again`;
        throw fail("interaction_in_progress", message);
      }
    }
    const info = this.#info;
    let random;
    try {
      random = crypto.getRandomValues(new Uint8Array(48));
    } catch {
      throw refused("crypto.getRandomValues");
    }
    const [state, verifier, url] = core
      .authorize(
      random,
      info.authorize_url,
      info.client_id,
      this.#redirectUri,
      info.scope,
      opts.prompt ?? info.prompt ?? undefined,
      opts.loginHint ?? undefined,
      opts.domainHint ?? info.domain_hint ?? undefined,
      )
      .split(" ");
    const issuer = info.issuer ?? undefined;
    if (mode !== "redirect") {
      const popup = popups.open(url);
      if (popup) {
        return popups.watch(key, popup, state, timeoutMs, async (params) => {
          const code = core.verify(params, state, issuer, verifier);
          const token = this.#store(await this.#edge.exchange(code, verifier, this.#redirectUri));
          return token.account ? { connected: true, account: token.account } : { connected: true };
        });
      }
      if (mode === "popup") throw fail("popup_blocked", 'the browser blocked the sign-in window: allow pop-ups for this site, or connect with mode "redirect"');
    }
    redirect.start(this.#edge, state, verifier, url, this.#redirectUri, issuer, returnTo);
    // The page is leaving for the provider: nothing will settle this.
    return new Promise(() => {});
  }

  /**
   * A token valid for at least the refresh margin: from memory, from another tab's refresh, or
   * from the edge, under the Web Lock shared by the origin's tabs.
   */
  async accessToken() {
    return this.#current() ?? withLock(`mailconnect:${this.#edge.key}`, async () => this.#current() ?? this.#store(await this.#edge.refresh()));
  }

  async status() {
    const session = await this.#edge.session();
    const connection = session.connectors.find((c) => c.id === this.#edge.connector);
    if (!connection) return { connected: false };
    return connection.account ? { connected: true, account: account(connection.account) } : { connected: true };
  }

  async disconnect() {
    await this.#edge.disconnect();
    this.#memory.token = undefined;
    this.#post(null);
  }

  /** A copy of the token in memory, if it outlives the margin. */
  #current() {
    const t = this.#memory.token;
    return t && t.expiresAt - this.#marginMs > Date.now() ? structuredClone(t) : undefined;
  }

  /** Keeps a `TokenResponse` as a `TokenInfo` and shares it with the other tabs. */
  #store(response) {
    // Expiry by this browser's clock (`expires_in`, not the edge's `expires_at`): immune to skew.
    const token = { accessToken: response.access_token, expiresAt: Date.now() + response.expires_in * 1000, scope: response.scope };
    if (response.account) token.account = account(response.account);
    this.#memory.token = token;
    this.#post(token);
    return structuredClone(token);
  }

  #post(token) {
    try {
      this.#tokens.postMessage({ token });
    } catch {
      // Closed by free(): nobody left to tell.
    }
  }
}

if (Symbol.dispose) Connector.prototype[Symbol.dispose] = Connector.prototype.free;

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

function safeAuthorizeUrl(url) {
  try {
    const u = new URL(url);
    return u.protocol === "https:" || (u.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(u.hostname));
  } catch {
    return false;
  }
}

/** This page's path, query and fragment, the default `returnTo`; a too-long address falls back to the path, then to the root. */
function here() {
  for (const target of [location.pathname + location.search + location.hash, location.pathname]) {
    try {
      return core.returnTo(target);
    } catch {
      // Next.
    }
  }
  return "/";
}

/**
 * Runs `f` under the exclusive Web Lock `name`, shared by the origin's tabs and released even
 * when a tab dies. The lock is kept LINGER_MS after `f` settles (its result is returned at
 * once), so the token `f` broadcast reaches the tabs queued on the lock before their turn.
 * Without Web Locks (plain http off localhost), `f` runs unlocked: correct, less economical.
 */
function withLock(name, f) {
  if (!navigator.locks) return f();
  return new Promise((resolve, reject) => {
    navigator.locks
      .request(name, () => {
        const run = f();
        run.then(resolve, reject);
        const linger = () => new Promise((r) => setTimeout(r, LINGER_MS));
        return run.then(linger, linger);
      })
      // Refused before `f` ran (an opaque origin): run it unlocked.
      .catch(() => f().then(resolve, reject));
  });
}

// ---- popup sign-in ----------------------------------------------------------------------------

// With Cross-Origin-Opener-Policy on the app (or on the provider's page) the browser severs the
// popup as soon as it shows the provider: `popup.closed` reads true although the window is open,
// and the callback page has no opener. A severed handle looks exactly like a closed one, so the
// watcher tells them apart by history: a window seen open on another origin and then closed was
// closed by the user (popup_closed); one that reads as closed without ever having been seen
// there was severed, and the watcher waits on the channel until the timeout. Calling connect()
// again replaces such a sign-in, so a user who closes a severed window is never stuck.

const POLL_MS = 250;
/** Lifetime of the cross-tab busy marker, renewed while the popup is open. */
const BUSY_TTL_MS = 5_000;
/** How long the callback page waits for the app's acknowledgement. */
const ACK_WAIT_MS = 3_000;

const popups = {
  /** key → this tab's sign-in waiting for a popup: {serial, popup, promise, cancel}. */
  pending: new Map(),
  serial: 0,

  /** Opens the sign-in window centred over this one; null when a blocker refused it. */
  open(url) {
    const [width, height] = [520, 680];
    // Integers, like the window's own coordinates (0 where a browser hides them).
    const left = Math.trunc((screenX || 0) + Math.max((outerWidth || 0) - width, 0) / 2);
    const top = Math.trunc((screenY || 0) + Math.max((outerHeight || 0) - height, 0) / 2);
    try {
      return window.open(url, "_blank", `popup,width=${width},height=${height},left=${left},top=${top}`);
    } catch {
      return null;
    }
  },

  /**
   * The promise of this tab's sign-in for `key` while its window is open (and focuses it). A
   * sign-in whose window reads as closed (closed, or severed) is cancelled with popup_closed, so
   * the caller starts afresh.
   */
  reuse(key) {
    const entry = this.pending.get(key);
    if (!entry) return undefined;
    if (isClosed(entry.popup)) {
      entry.cancel();
      return undefined;
    }
    try {
      entry.popup.focus();
    } catch {
      // A severed handle.
    }
    return entry.promise;
  },

  /**
   * Whether another tab has a sign-in window for `key` open right now. Its marker expires within
   * BUSY_TTL_MS of that tab closing, so it never wedges; without localStorage nothing blocks.
   */
  busyElsewhere(key) {
    const [expires] = readBusy(key).split(" ");
    return /^\d+$/.test(expires) && Number(expires) > Date.now();
  },

  /**
   * Waits for the callback page's response to the sign-in `state` in `popup`, then resolves with
   * `then(params)`. Listens at once, before the caller yields to the event loop. Window messages
   * count only from this origin (a BroadcastChannel is same-origin by construction) and for this
   * state; `then` verifies the response again in Rust before the code is used.
   */
  watch(key, popup, state, timeoutMs, then) {
    const serial = ++this.serial;
    const responses = channel(`mailconnect:${state}`);
    let done;
    const params = new Promise((resolve, reject) => {
      done = (error, params) => {
        if (!done) return;
        done = undefined;
        removeEventListener("message", onWindowMessage);
        clearInterval(poll);
        clearTimeout(timer);
        if (this.pending.get(key)?.serial === serial) this.pending.delete(key);
        clearBusy(key, serial);
        if (!error) responses.postMessage({ type: ACK, state });
        responses.close();
        // A severed handle ignores this; the callback page then closes itself.
        try {
          popup.close();
        } catch {
          // Nothing to close.
        }
        if (error) reject(error);
        else resolve(params);
      };
    });
    const accept = (data) => {
      // The state is no secret from this origin (it is in the popup's URL); Rust compares it
      // again, in constant time, before the code is used.
      if (data && data.type === CALLBACK && data.state === state && str(data.params ?? "")) done?.(null, data.params ?? "");
    };
    const onWindowMessage = (event) => event.origin === location.origin && accept(event.data);
    addEventListener("message", onWindowMessage);
    responses.onmessage = (event) => accept(event.data);

    writeBusy(key, serial);
    let [seenAway, closedOnce, severed, renewed] = [false, false, false, Date.now()];
    const poll = setInterval(() => {
      if (severed) return;
      if (!isClosed(popup)) {
        // Reading another origin's location throws: the user is at the provider.
        seenAway ||= !readable(popup);
        if (Date.now() - renewed > BUSY_TTL_MS / 4) {
          writeBusy(key, serial);
          renewed = Date.now();
        }
      } else if (!seenAway) {
        severed = true;
        clearBusy(key, serial);
      } else if (closedOnce) {
        // Closed on two polls in a row: not a callback racing the close.
        done?.(popupClosed());
      } else {
        closedOnce = true;
      }
    }, POLL_MS);
    const timedOut = () => fail("timeout", `sign-in did not finish within ${Math.ceil(timeoutMs / 1000)} seconds: connect again`);
    const timer = setTimeout(() => done?.(timedOut()), delay(timeoutMs));

    const entry = { serial, popup, cancel: () => done?.(popupClosed()) };
    entry.promise = params.then(then);
    this.pending.set(key, entry);
    return entry.promise;
  },
};

function isClosed(popup) {
  try {
    return popup.closed !== false;
  } catch {
    return true;
  }
}

function readable(popup) {
  try {
    return typeof popup.location.href === "string";
  } catch {
    return false;
  }
}

/**
 * Uses `localStorage` for the busy marker of `key`. Without it (some privacy modes) there are no
 * markers, and nothing blocks.
 */
function busy(key, use) {
  try {
    return use(localStorage, `mailconnect:busy:${key}`);
  } catch {
    return undefined;
  }
}

const readBusy = (key) => busy(key, (s, name) => s.getItem(name)) ?? "";
const writeBusy = (key, serial) => busy(key, (s, name) => s.setItem(name, `${Math.trunc(Date.now() + BUSY_TTL_MS)} ${serial}`));
/** Removes the marker if it is still this sign-in's (a newer one may have replaced it). */
const clearBusy = (key, serial) => busy(key, (s, name) => s.getItem(name)?.split(" ")[1] === String(serial) && s.removeItem(name));

// ---- redirect sign-in -------------------------------------------------------------------------

// Before leaving, the tab keeps what the callback page needs in sessionStorage (this tab and
// origin only): the edge and connector, the PKCE verifier, the redirect URI, the expected issuer
// and the returnTo path. Entries are single use and expire, so an abandoned sign-in (Back at the
// provider) never lingers or blocks the next one.

const REDIRECT_PREFIX = "mailconnect:redirect:";
/** How long a sign-in at the provider may take. */
const REDIRECT_TTL_MS = 15 * 60 * 1000;
const PENDING = obj({ edge: str, connector: str, verifier: str, redirectUri: str, issuer: opt(str), returnTo: str, expiresAt: (v) => typeof v === "number" });

const redirect = {
  /** Stores the pending sign-in and leaves for the provider. */
  start(edge, state, verifier, url, redirectUri, issuer, returnTo) {
    const session = storage("sessionStorage");
    this.sweep(session);
    const pending = { edge: edge.base, connector: edge.connector, verifier, redirectUri, issuer, returnTo, expiresAt: Date.now() + REDIRECT_TTL_MS };
    try {
      session.setItem(REDIRECT_PREFIX + state, JSON.stringify(pending));
    } catch {
      throw refused("sessionStorage");
    }
    try {
      location.assign(url);
    } catch {
      throw misconfigured(`the authorize URL cannot be opened: ${url}`);
    }
  },

  /** Removes and returns the unexpired pending sign-in for `state`, if this tab started one. */
  take(state) {
    const session = storage("sessionStorage");
    const json = session.getItem(REDIRECT_PREFIX + state);
    if (json === null) return undefined;
    session.removeItem(REDIRECT_PREFIX + state);
    return this.live(json);
  },

  live(json) {
    let pending;
    try {
      pending = JSON.parse(json);
    } catch {
      return undefined;
    }
    return PENDING(pending) && pending.expiresAt > Date.now() ? pending : undefined;
  },

  /** Drops expired and unreadable entries left by abandoned sign-ins. */
  sweep(session) {
    const keys = Array.from({ length: session.length }, (_, i) => session.key(i));
    for (const k of keys) if (k?.startsWith(REDIRECT_PREFIX) && !this.live(session.getItem(k))) session.removeItem(k);
  },
};

// ---- the callback page ------------------------------------------------------------------------

/**
 * The redirect URI's page: finishes a sign-in. Reads the response from the query or fragment and
 * removes it from the address bar and history before anything can fail, synchronously.
 */
export function handleCallback() {
  try {
    const params = [location.search, location.hash].find((p) => core.isCallback(p));
    if (params === undefined) throw fail("not_a_callback", "this page's address carries no sign-in response; open it only as the OAuth redirect URI");
    try {
      history.replaceState(null, "", location.pathname);
    } catch {
      // A sandboxed document: the code stays in its address, but the sign-in can still finish.
    }
    return finishCallback(core.callbackState(params), params);
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Finishes the sign-in this tab started (redirect mode), or hands the response to the window that
 * opened this one (popup mode).
 */
async function finishCallback(state, params) {
  const pending = redirect.take(state);
  if (!pending) return deliver(state, params);
  const code = core.verify(params, state, pending.issuer, pending.verifier);
  await new Edge(pending.edge, pending.connector).exchange(code, pending.verifier, pending.redirectUri);
  // Re-checked: sessionStorage is writable by any script of the origin. `replace`, so Back does
  // not land on the spent callback page.
  location.replace(core.returnTo(pending.returnTo));
}

/**
 * Posts the response to the opener (with this origin as the target origin) and on the state's
 * channel (for an opener severed by COOP), then closes this window once the app acknowledges;
 * unknown_state when nobody does in time.
 */
function deliver(state, params) {
  const responses = channel(`mailconnect:${state}`);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      responses.close();
      const message = "no sign-in is waiting for this response (the page that started it was closed or reloaded, or it expired): close this window and connect again";
      reject(fail("unknown_state", message));
    }, ACK_WAIT_MS);
    responses.onmessage = ({ data }) => {
      if (!(data && data.type === ACK && data.state === state)) return;
      clearTimeout(timer);
      responses.close();
      close();
      resolve();
    };
    const message = { type: CALLBACK, state, params };
    try {
      opener?.postMessage(message, location.origin);
    } catch {
      // A severed or foreign opener: the channel carries it.
    }
    responses.postMessage(message);
  });
}
