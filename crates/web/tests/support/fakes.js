// Test doubles for the two things a browser test cannot do for real: run the edge Worker, and let a
// popup leave for a provider and come back. Everything else in the tests is the real browser:
// Response, BroadcastChannel, Web Locks, sessionStorage, localStorage, history, MessageEvent.

// The browser's own, kept when this module loads: a double always replaces and restores these, so
// a test that failed before restoring its double cannot hand it to the next test.
const BROWSER = { fetch: globalThis.fetch, open: window.open };

/**
 * Replaces `fetch` with the edge contract answered from `routes` ("METHOD /path" -> [status, body],
 * or a list of such answers given in turn, the last one repeated). `delayMs` is how long each
 * answer takes.
 */
export function installEdge(routes) {
  const edge = {
    log: [],
    delayMs: 5,
    routes: { ...routes },
    count(key) {
      return this.log.filter((r) => `${r.method} ${r.path}` === key).length;
    },
    last(key) {
      return this.log.filter((r) => `${r.method} ${r.path}` === key).at(-1);
    },
    restore() {
      globalThis.fetch = BROWSER.fetch;
    },
  };
  globalThis.fetch = async (url, init = {}) => {
    const u = new URL(url);
    const method = init.method ?? "GET";
    const request = {
      method,
      path: u.pathname,
      credentials: init.credentials,
      cache: init.cache,
      headers: Object.fromEntries(new Headers(init.headers).entries()),
      body: init.body === undefined ? null : JSON.parse(init.body),
    };
    edge.log.push(request);
    let route = edge.routes[`${method} ${u.pathname}`];
    if (!route) throw new TypeError("Failed to fetch");
    if (Array.isArray(route[0])) route = route.length > 1 ? route.shift() : route[0];
    const [status, body, type = "application/json"] = route;
    // Like the edge: answer after a task, so concurrent callers really overlap.
    await new Promise((r) => setTimeout(r, edge.delayMs));
    return new Response(typeof body === "string" ? body : JSON.stringify(body), { status, headers: { "content-type": type } });
  };
  return edge;
}

/** Replaces `window.open`; `behaviour` is "open" (a fake popup at the provider), "severed" or "blocked". */
export function installOpen(behaviour) {
  const opener = {
    calls: [],
    popup: null,
    restore() {
      window.open = BROWSER.open;
    },
  };
  window.open = (url, target, features) => {
    opener.calls.push({ url, target, features });
    if (behaviour === "blocked") return null;
    const popup = {
      // A popup at the provider: open, its location unreadable. A severed one (COOP) reads as
      // closed from the start while the user is still signing in.
      closed: behaviour === "severed",
      closedByOpener: false,
      focused: 0,
      get location() {
        return {
          get href() {
            throw new DOMException("Blocked a frame from accessing a cross-origin frame.", "SecurityError");
          },
        };
      },
      close() {
        this.closed = true;
        this.closedByOpener = true;
      },
      focus() {
        this.focused += 1;
      },
    };
    opener.popup = popup;
    return popup;
  };
  return opener;
}

/** The query parameter `name` of `url`. */
export function param(url, name) {
  return new URL(url).searchParams.get(name);
}

/** base64url(SHA-256(text)) by the browser's own WebCrypto, to check the Rust PKCE against. */
export async function s256(text) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...digest)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The next message on the BroadcastChannel `name` for which `accept(data)` holds, received by a
 * channel object of its own, as another tab would.
 */
export function nextMessage(name, accept) {
  const channel = new BroadcastChannel(name);
  return new Promise((resolve) => {
    channel.onmessage = (e) => {
      if (!accept(e.data)) return;
      channel.close();
      resolve(e.data);
    };
  });
}

/** `nextMessage` for a message of `type` ({type: "mailconnect:ack"}). */
export function nextOfType(name, type) {
  return nextMessage(name, (d) => d && d.type === type);
}

/** `nextMessage` for the token cache's `{token}` messages. */
export function nextTokenMessage(name) {
  return nextMessage(name, (d) => d && "token" in d);
}

/** Posts `data` on the BroadcastChannel `name` from a channel object of its own. */
export function broadcast(name, data) {
  const channel = new BroadcastChannel(name);
  channel.postMessage(data);
  channel.close();
}

/** Dispatches a `message` event on window as if posted by `origin`. */
export function windowMessage(data, origin) {
  window.dispatchEvent(new MessageEvent("message", { data, origin }));
}

/** Settles to ["ok", value] or ["err", error], so Rust can inspect a rejection. */
export async function settle(promise) {
  try {
    return ["ok", await promise];
  } catch (e) {
    return ["err", e];
  }
}

/** Whether `promise` is still pending after a few tasks. */
export async function isPending(promise) {
  const marker = {};
  const winner = await Promise.race([promise.then(() => "settled", () => "settled"), sleep(20).then(() => marker)]);
  return winner === marker;
}

/**
 * A webmail's ticket function: resolves with `values` in turn (the last one repeated), or rejects
 * when there are none, as a back end whose user signed out would. `calls` counts the calls.
 */
export function ticketSource(values) {
  const source = async () => {
    source.calls += 1;
    if (values.length === 0) throw new Error("signed out");
    return values.length > 1 ? values.shift() : values[0];
  };
  source.calls = 0;
  return source;
}
