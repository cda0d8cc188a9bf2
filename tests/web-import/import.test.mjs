// The built package (crates/web/pkg, from scripts/build-web.sh) in headless Chromium, imported from
// a plain <script type="module"> page served by a tiny HTTP server on 127.0.0.1. The same server
// plays a minimal edge (the HTTP contract, PKCE checked) and a provider on another origin
// (http://localhost:PORT), so real popups, COOP and full-page redirects run end to end.
//
//   node --test tests/web-import/
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { chromium } from "playwright-core";
import { seenAtProvider } from "../support/popup-watch.mjs";

const PKG = new URL("../../crates/web/pkg/", import.meta.url).pathname;
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

// ---- the server: app pages, the package, a fake edge, a fake provider -------------------------

const html = (body) => `<!doctype html><meta charset="utf-8"><meta name="referrer" content="no-referrer">${body}`;

/** A plain page: imports the package, checks the exports, calls an edge that is not there. */
const PLAIN = html(`<title>plain</title><script type="module">
import init, * as mc from "/pkg/mailconnect.js";
await init();
const exports = Object.fromEntries(["Connector", "handleCallback", "MailconnectError"].map((n) => [n, typeof mc[n]]));
let error;
try {
  await mc.Connector.load({ edge: "http://127.0.0.1:9/oauth", connector: "teams" });
} catch (e) {
  error = { name: e.name, code: e.code, action: e.action, retryable: e.retryable, message: e.message,
            isError: e instanceof Error, isMailconnectError: e instanceof mc.MailconnectError };
}
window.result = { exports, error };
</script>`);

/** The app: a connect button, the connector in `window.teams`, outcomes in `window.outcome`. */
const APP = html(`<title>app</title><button id="connect">Connect</button><script type="module">
import init, { Connector, MailconnectError } from "/pkg/mailconnect.js";
await init();
const settle = (p) => p.then((value) => ({ ok: true, value }), (e) => ({ ok: false, name: e.name, code: e.code,
  action: e.action, retryable: e.retryable, message: e.message, isMailconnectError: e instanceof MailconnectError }));
window.teams = await Connector.load({ edge: location.origin + "/oauth", connector: "teams" });
window.settle = settle;
window.outcomes = [];
window.changes = [];
window.teams.addEventListener("change", (e) => window.changes.push(e.detail));
const mode = new URLSearchParams(location.search).get("mode") ?? "popup";
document.getElementById("connect").onclick = () => window.outcomes.push(settle(window.teams.connect({ mode })));
// ?autoconnect: connect once at load, without a user gesture (so a popup blocker refuses it).
if (new URLSearchParams(location.search).has("autoconnect") && !sessionStorage.getItem("autoconnected")) {
  sessionStorage.setItem("autoconnected", "1");
  window.outcomes.push(settle(window.teams.connect({ mode })));
}
window.ready = true;
</script>`);

/** The redirect URI's page, as the README tells webmails to write it. */
const CALLBACK = html(`<title>callback</title><script type="module">
import init, { handleCallback } from "/pkg/mailconnect.js";
await init();
fetch("/log?opener=" + (window.opener ? "yes" : "no"));
handleCallback().then(() => { document.title = "done"; }, (e) => { document.title = "error " + e.code; document.body.textContent = e.message; });
</script>`);

const b64url = (buf) => buf.toString("base64url");

function startServer() {
  const state = { coop: false, grants: new Map(), sessions: new Set(), log: [], refreshes: 0 };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    const appOrigin = `http://127.0.0.1:${server.address().port}`;
    const body = await new Promise((resolve) => {
      let data = "";
      req.on("data", (c) => (data += c)).on("end", () => resolve(data));
    });
    const json = (status, value, headers = {}) => {
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
      res.end(JSON.stringify(value));
    };
    const page = (text) => {
      const headers = { "content-type": "text/html" };
      if (state.coop) headers["cross-origin-opener-policy"] = "same-origin";
      res.writeHead(200, headers);
      res.end(text);
    };
    const session = /(?:^|; )sid=([^;]+)/.exec(req.headers.cookie ?? "")?.[1];
    const edgeError = (status, error, action) =>
      json(status, { error, error_description: `${error} (fake edge)`, action, retryable: action === "retry" });
    const token = () => ({ access_token: "at-" + randomBytes(4).toString("hex"), token_type: "Bearer", expires_in: 3600,
      expires_at: Math.floor(Date.now() / 1000) + 3600, scope: "User.Read", account: { username: "ann@contoso.com" } });
    state.log.push(`${req.method} ${url.pathname}${url.pathname === "/log" ? url.search : ""}`);

    if (url.pathname.startsWith("/pkg/")) {
      const file = join(PKG, url.pathname.slice(5));
      if (!file.startsWith(PKG) || !statSync(file, { throwIfNoEntry: false })?.isFile()) return void res.writeHead(404).end();
      const type = { ".js": "text/javascript", ".wasm": "application/wasm" }[extname(file)] ?? "application/octet-stream";
      return void res.writeHead(200, { "content-type": type }).end(readFileSync(file));
    }
    if (url.pathname === "/plain.html") return page(PLAIN);
    if (url.pathname === "/app.html") return page(APP);
    if (url.pathname === "/callback.html") return page(CALLBACK);
    if (url.pathname === "/log") return void res.writeHead(204).end();

    // The provider, on the other origin: a consent page whose link carries the code.
    if (url.pathname === "/authorize") {
      const p = url.searchParams;
      const code = "code-" + randomBytes(6).toString("hex");
      state.grants.set(code, { challenge: p.get("code_challenge"), redirectUri: p.get("redirect_uri") });
      const back = `${p.get("redirect_uri")}?code=${code}&state=${encodeURIComponent(p.get("state"))}`;
      res.writeHead(200, { "content-type": "text/html" });
      return void res.end(html(`<title>provider</title><a id="allow" href="${back}">Allow</a>`));
    }

    // The edge.
    if (url.pathname.startsWith("/oauth/") && req.method === "POST" && req.headers["x-mailconnect"] !== "1") {
      return edgeError(403, "csrf_header_missing", "none");
    }
    if (req.method === "GET" && url.pathname === "/oauth/connectors/teams") {
      return json(200, { id: "teams", authorize_url: `http://localhost:${server.address().port}/authorize`, client_id: "client-1",
        scope: "openid offline_access User.Read", redirect_uris: [`${appOrigin}/callback.html`] });
    }
    if (req.method === "POST" && url.pathname === "/oauth/connectors/teams/token") {
      const { code, code_verifier, redirect_uri } = JSON.parse(body);
      const grant = state.grants.get(code);
      state.grants.delete(code);
      const challenge = b64url(createHash("sha256").update(code_verifier ?? "").digest());
      if (!grant || grant.challenge !== challenge || grant.redirectUri !== redirect_uri) return edgeError(400, "invalid_grant", "reconnect");
      const sid = randomBytes(8).toString("hex");
      state.sessions.add(sid);
      return json(200, token(), { "set-cookie": `sid=${sid}; Path=/; HttpOnly; SameSite=Lax` });
    }
    if (req.method === "POST" && url.pathname === "/oauth/connectors/teams/refresh") {
      state.refreshes += 1;
      return state.sessions.has(session) ? json(200, token()) : edgeError(401, "not_connected", "reconnect");
    }
    if (req.method === "POST" && url.pathname === "/oauth/connectors/teams/disconnect") {
      state.sessions.delete(session);
      return json(200, { status: "disconnected" });
    }
    if (req.method === "GET" && url.pathname === "/oauth/session") {
      return json(200, { connectors: state.sessions.has(session) ? [{ id: "teams", account: { username: "ann@contoso.com" } }] : [] });
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, state })));
}

// ---- the tests ----------------------------------------------------------------------------------

describe("the mailconnect package in a browser", () => {
  let server, state, context, profile, origin;

  before(async () => {
    assert.ok(statSync(join(PKG, "mailconnect.js"), { throwIfNoEntry: false }), "crates/web/pkg is missing: run scripts/build-web.sh");
    ({ server, state } = await startServer());
    origin = `http://127.0.0.1:${server.address().port}`;
    profile = mkdtempSync(join(tmpdir(), "mailconnect-web-import-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: CHROMIUM_ARGS,
      // Let the popup blocker work: popups from clicks open, a window.open without a gesture is refused.
      ignoreDefaultArgs: ["--disable-popup-blocking"],
    });
  });

  after(async () => {
    await context?.close();
    server?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  const fresh = async () => {
    await context.clearCookies();
    state.sessions.clear();
    state.coop = false;
    state.refreshes = 0;
    state.log.length = 0;
  };

  const openApp = async (query = "") => {
    const page = await context.newPage();
    await page.goto(`${origin}/app.html${query}`);
    await page.waitForFunction(() => window.ready === true);
    return page;
  };

  /** Clicks Connect and returns the sign-in popup (found through the context: COOP severs the opener link). */
  const clickConnect = async (page) => {
    const popup = context.waitForEvent("page");
    await page.click("#connect");
    const p = await popup;
    await p.waitForLoadState();
    return p;
  };

  const lastOutcome = (page) => page.evaluate(() => window.outcomes.at(-1));

  test("plain <script type=module> imports the exports, and an unreachable edge is a typed error", async () => {
    const page = await context.newPage();
    await page.goto(`${origin}/plain.html`);
    const result = await (await page.waitForFunction(() => window.result)).jsonValue();
    assert.deepEqual(result.exports, { Connector: "function", handleCallback: "function", MailconnectError: "function" });
    assert.equal(result.error.name, "MailconnectError");
    assert.equal(result.error.code, "network_error");
    assert.equal(result.error.action, "retry");
    assert.equal(result.error.retryable, true);
    assert.ok(result.error.isError && result.error.isMailconnectError);
    assert.match(result.error.message, /could not reach the mailconnect edge at http:\/\/127\.0\.0\.1:9\/oauth\/connectors\/teams/);
    await page.close();
  });

  for (const coop of [false, true]) {
    test(`popup sign-in${coop ? " with Cross-Origin-Opener-Policy: same-origin" : ""} connects, then tokens, status and disconnect work`, async () => {
      await fresh();
      state.coop = coop;
      const page = await openApp();
      const popup = await clickConnect(page);
      assert.match(popup.url(), /^http:\/\/localhost:\d+\/authorize\?response_type=code&client_id=client-1&/);
      const closed = popup.waitForEvent("close");
      await popup.click("#allow");
      await closed;

      const outcome = await lastOutcome(page);
      assert.deepEqual(outcome, { ok: true, value: { connected: true, account: { username: "ann@contoso.com" } } });
      // With COOP the callback page has no opener: the BroadcastChannel carried the result.
      assert.ok(state.log.includes(`GET /log?opener=${coop ? "no" : "yes"}`), state.log.join("\n"));

      const token = await page.evaluate(() => window.teams.accessToken());
      assert.match(token.accessToken, /^at-/);
      assert.equal(state.refreshes, 0, "the exchange's token is kept in memory");
      assert.deepEqual(await page.evaluate(() => window.teams.status()), { connected: true, account: { username: "ann@contoso.com" } });

      // A reloaded tab gets its token from the edge session, never from storage.
      await page.reload();
      await page.waitForFunction(() => window.ready === true);
      assert.match((await page.evaluate(() => window.teams.accessToken())).accessToken, /^at-/);
      assert.equal(state.refreshes, 1);

      await page.evaluate(() => window.teams.disconnect());
      assert.deepEqual(await page.evaluate(() => window.teams.status()), { connected: false });
      const gone = await page.evaluate(() => window.settle(window.teams.accessToken()));
      assert.equal(gone.code, "not_connected");
      assert.equal(gone.action, "reconnect");
      await page.close();
    });
  }

  test("every tab gets a change event when one connects, one disconnects, or the edge reports the grant gone", async () => {
    await fresh();
    const [a, b] = [await openApp(), await openApp()];
    const changes = (page, n) => page.waitForFunction((count) => window.changes.length >= count, n).then(() => page.evaluate(() => window.changes));
    const connected = { connected: true, account: { username: "ann@contoso.com" } };

    const popup = await clickConnect(a);
    const closed = popup.waitForEvent("close");
    await popup.click("#allow");
    await closed;
    assert.deepEqual(await changes(a, 1), [connected], "the tab that connected");
    assert.deepEqual(await changes(b, 1), [connected], "another tab");
    // The change carried the token: the other tab needs no refresh.
    assert.match((await b.evaluate(() => window.teams.accessToken())).accessToken, /^at-/);
    assert.equal(state.refreshes, 0);

    await b.evaluate(() => window.teams.disconnect());
    assert.deepEqual((await changes(a, 2))[1], { connected: false });
    assert.deepEqual((await changes(b, 2))[1], { connected: false });

    // Connected again, then the edge loses the grant: the tab whose refresh hears it tells all.
    const again = await clickConnect(a);
    const closedAgain = again.waitForEvent("close");
    await again.click("#allow");
    await closedAgain;
    await changes(b, 3);
    state.sessions.clear();
    const c = await openApp();
    const refused = await c.evaluate(() => window.settle(window.teams.accessToken()));
    assert.equal(refused.code, "not_connected");
    for (const page of [a, b, c]) assert.deepEqual((await changes(page, page === c ? 1 : 4)).at(-1), { connected: false });
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  test("closing the popup at the provider rejects popup_closed", async () => {
    await fresh();
    const page = await openApp();
    const popup = await clickConnect(page);
    await seenAtProvider(page, (fn, arg) => page.waitForFunction(fn, arg));
    await popup.close();
    await page.waitForFunction(async () => (await window.outcomes.at(-1)) !== undefined);
    const outcome = await lastOutcome(page);
    assert.equal(outcome.ok, false);
    assert.equal(outcome.code, "popup_closed");
    assert.equal(outcome.action, "interaction");
    await page.close();
  });

  test("with COOP, a popup closed by the user never wedges: connecting again starts afresh", async () => {
    await fresh();
    state.coop = true;
    const page = await openApp();
    const first = await clickConnect(page);
    await first.close();
    const second = await clickConnect(page);
    const [abandoned] = await page.evaluate(() => Promise.all(window.outcomes.slice(0, 1)));
    assert.equal(abandoned.code, "popup_closed");
    const closed = second.waitForEvent("close");
    await second.click("#allow");
    await closed;
    assert.equal((await lastOutcome(page)).ok, true);
    await page.close();
  });

  test("a blocked popup falls back to a redirect that returns to the deep link with the code gone", async () => {
    await fresh();
    const page = await context.newPage();
    const deepLink = `${origin}/app.html?mode=auto&autoconnect&folder=inbox#message-42`;
    await page.goto(deepLink);
    await page.waitForURL(/^http:\/\/localhost:\d+\/authorize\?/);
    assert.equal(context.pages().length, 2, "no popup opened: only the first blank page and this one");
    await page.click("#allow");
    await page.waitForURL(deepLink);
    await page.waitForFunction(() => window.ready === true);
    assert.ok(state.log.includes("POST /oauth/connectors/teams/token"), state.log.join("\n"));
    assert.ok(state.log.includes("GET /log?opener=no"));
    assert.deepEqual(await page.evaluate(() => window.teams.status()), { connected: true, account: { username: "ann@contoso.com" } });
    // Back from the deep link lands on the provider's page, not on the spent callback page.
    await page.goBack();
    assert.match(page.url(), /^http:\/\/localhost:\d+\/authorize\?/);
    await page.close();
  });
});
