#!/usr/bin/env node
// Benchmark of the edge Worker: prints numbers, asserts nothing.
//
//   node scripts/bench-edge.mjs [--runs N] [--miniflare] [--health-only] [--app-token-only]
//
// Needs the built Worker (scripts/build-edge.sh). Starts the local stack (tests/support/stack.mjs:
// the Entra-like OAuth server and `wrangler dev` with wrangler.toml) on free loopback ports,
// measures, and stops everything it started. With --miniflare it also measures the same build in
// workerd through Miniflare, without wrangler dev's proxy hop. With --health-only it times only
// /oauth/health beside the JavaScript Worker (below), three times N rounds, on Workers that have
// served nothing else: the finest comparison of the two per-request entries. With
// --app-token-only it times only app-token cache hits side by side with the JavaScript Worker:
// p50 over N rounds and req/s at 16 concurrent clients.
//
// Printed: the Worker's wasm and JS size (gzip -9); p50/p99 latency (sequential requests over
// one keep-alive connection) and req/s (concurrent clients) of /oauth/health, the token exchange
// and refresh through the Worker (refresh both answered from the session and going upstream),
// the same provider calls made directly, and the latency the Worker adds to them; and the
// app-token endpoint for mail servers (client credentials, with an API key) answered from its
// connector's Durable Object (cache hit) and going upstream (miss), beside the direct call.
// The reference is a JavaScript Worker of the same design (Durable Object sessions, WebCrypto).
// wrangler dev's overhead moves with the machine's load (README, "Measured"), so such a Worker (REFERENCE_WORKER below) runs beside ours under the same
// wrangler dev, and health and refresh are timed on both in alternation: one call to each per
// round, so all see the same load. The reference's refreshes (cached, and going upstream beside
// the direct call) are timed twice: calling its Durable Object with fetch, as a straightforward
// Worker does, and over Workers RPC, as ours does. App-token hits are timed side by side too,
// and their throughput at 16 concurrent clients: both Workers check the API key and serve a
// still-fresh token from the isolate.

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { freePort, REPO, startStack, TEAMS_SCOPE } from '../tests/support/stack.mjs';
import { defaultConnectors, edgeClient, startEdge } from '../tests/edge/harness.mjs';
import { randomBytes } from 'node:crypto';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000' },
    miniflare: { type: 'boolean', default: false },
    'health-only': { type: 'boolean', default: false },
    'app-token-only': { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const UPSTREAM_RUNS = Math.max(50, Math.floor(RUNS / 5));
const CONCURRENCY = 8;
/** Mail servers and relays asking for app tokens at once. */
const APP_CONCURRENCY = 16;
const REFERENCE = { health: 2.2, cached: 3.0, upstreamAdded: 10 };

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** p50/p99 of `n` sequential calls of `fn(i)`, after a warm-up. */
async function latency(n, fn, warmup = 20) {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const times = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await fn(i);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

/** Requests per second of `n` calls made by `clients` concurrent loops (`fn(client, i)`). */
async function throughput(n, clients, fn) {
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: clients }, async (_, client) => {
    while (next < n) await fn(client, next++);
  }));
  return n / ((performance.now() - start) / 1000);
}

async function ok(promise) {
  const response = await promise;
  const text = await response.text();
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** A call of the teams connector's client to the provider's token endpoint, without a Worker. */
function directToken(oauth, form) {
  const basic = `Basic ${Buffer.from(`${oauth.clients.secret.id}:${oauth.clients.secret.secret}`).toString('base64')}`;
  return ok(fetch(oauth.tokenUrl('organizations'), { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) }));
}

/** Redeems `grant` (from `edgeClient().authorize`) directly. */
const redeemDirect = (oauth, grant) =>
  directToken(oauth, { grant_type: 'authorization_code', code: grant.code, code_verifier: grant.verifier, redirect_uri: grant.redirect_uri });

/** Refreshes directly; resolves to the rotated refresh token. */
const refreshDirect = async (oauth, refreshToken) =>
  (await directToken(oauth, { grant_type: 'refresh_token', refresh_token: refreshToken, scope: TEAMS_SCOPE })).refresh_token;

/** Runs every measurement against one Worker (base URL `url`, webmail origin `origin`; `app`:
 * the app-token connector id and its API key). */
async function measure(name, url, origin, oauth, app) {
  const edge = edgeClient(url, oauth, origin);
  const rows = [];
  const row = (what, lat, rps) => rows.push({ what, p50: lat.p50, p99: lat.p99, rps });

  // Health.
  const health = () => ok(fetch(`${url}/oauth/health`));
  row('health', await latency(RUNS, health), await throughput(RUNS, CONCURRENCY, health));

  // Token exchange: codes are made beforehand (the sign-in is not measured).
  const codes = [];
  for (let i = 0; i < 30 + UPSTREAM_RUNS * 3 + CONCURRENCY; i++) codes.push(await edge.authorize('teams'));
  const viaWorker = (grant, session) =>
    edge.call('/oauth/connectors/teams/token', { body: { code: grant.code, code_verifier: grant.verifier, redirect_uri: grant.redirect_uri }, session }).then((r) => {
      if (r.status !== 200) throw new Error(JSON.stringify(r.body));
      return r.session;
    });
  const viaProvider = (grant) => redeemDirect(oauth, grant);
  // Without a cookie every exchange creates a session, hence a Durable Object: a first connect.
  const exchangeWorker = await latency(UPSTREAM_RUNS, () => viaWorker(codes.pop()), 10);
  // Each connect moves the session to a fresh handle, which the next one presents.
  let session = await viaWorker(codes.pop());
  const exchangeExisting = await latency(UPSTREAM_RUNS, async () => (session = await viaWorker(codes.pop(), session)), 5);
  const exchangeDirect = await latency(UPSTREAM_RUNS, () => viaProvider(codes.pop()), 10);
  row('token exchange via Worker', exchangeWorker);
  row('  ... into an existing session', exchangeExisting);
  row('token exchange direct', exchangeDirect);

  // Refresh answered from the session: access tokens outlive the 5-minute margin.
  oauth.setMode({ accessTokenTtl: 3600 });
  const cachedSession = (await edge.connect('teams')).session;
  const cached = () => edge.call('/oauth/connectors/teams/refresh', { session: cachedSession });
  row('refresh cached via Worker', await latency(RUNS, cached), await throughput(RUNS, CONCURRENCY, cached));

  // Refresh going upstream: 60 s tokens are always inside the margin. One session per client,
  // since concurrent refreshes of one session share a single upstream call.
  oauth.setMode({ accessTokenTtl: 60 });
  const sessions = [];
  for (let i = 0; i < CONCURRENCY; i++) sessions.push((await edge.connect('teams')).session);
  const upstream = (client) => edge.call('/oauth/connectors/teams/refresh', { session: sessions[client] }).then((r) => {
    if (r.status !== 200) throw new Error(JSON.stringify(r.body));
  });
  const refreshWorker = await latency(UPSTREAM_RUNS, () => upstream(0), 10);
  row('refresh upstream via Worker', refreshWorker, await throughput(UPSTREAM_RUNS, CONCURRENCY, upstream));

  // The same refresh made directly, with the rotated refresh token each time.
  const directTokens = [];
  for (let i = 0; i < CONCURRENCY; i++) {
    const grant = codes.pop();
    directTokens.push((await viaProvider(grant)).refresh_token);
  }
  const directRefresh = async (client) => {
    directTokens[client] = await refreshDirect(oauth, directTokens[client]);
  };
  const refreshedDirect = await latency(UPSTREAM_RUNS, () => directRefresh(0), 10);
  row('refresh direct', refreshedDirect, await throughput(UPSTREAM_RUNS, CONCURRENCY, directRefresh));

  // App tokens: first with 60 s tokens, inside the 300 s margin, so every call goes upstream;
  // then with hour-long ones, answered from the connector's Durable Object after the first.
  const appToken = () => ok(fetch(`${url}/oauth/connectors/${app.connector}/app-token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${app.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'relay@contoso.dev' }),
  }));
  const daemon = `Basic ${Buffer.from(`${oauth.clients.daemon.id}:${oauth.clients.daemon.secret}`).toString('base64')}`;
  const directApp = () => ok(fetch(oauth.tokenUrl(), {
    method: 'POST',
    headers: { authorization: daemon, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'https://outlook.office365.com/.default' }),
  }));
  oauth.setMode({ accessTokenTtl: 60 });
  const appMiss = await latency(UPSTREAM_RUNS, appToken, 10);
  row('app-token miss via Worker', appMiss);
  const appDirect = await latency(UPSTREAM_RUNS, directApp, 10);
  row('client credentials direct', appDirect);
  oauth.setMode({ accessTokenTtl: 3600 });
  const appHit = await latency(RUNS, appToken);
  row('app-token hit via Worker', appHit, await throughput(RUNS, CONCURRENCY, appToken));

  console.log(`\n${name}`);
  console.log(`${'what'.padEnd(30)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'req/s'.padStart(8)}`);
  for (const r of rows) console.log(`${r.what.padEnd(30)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${(r.rps ? r.rps.toFixed(0) : '').padStart(8)}`);
  console.log(`added by the Worker (p50): token exchange ${(exchangeWorker.p50 - exchangeDirect.p50).toFixed(2)} ms (into an existing session ${(exchangeExisting.p50 - exchangeDirect.p50).toFixed(2)} ms), refresh upstream ${(refreshWorker.p50 - refreshedDirect.p50).toFixed(2)} ms, app-token miss ${(appMiss.p50 - appDirect.p50).toFixed(2)} ms`);
  console.log(`app-token p50: cache hit ${appHit.p50.toFixed(2)} ms, cache miss ${appMiss.p50.toFixed(2)} ms`);
  return Object.fromEntries(rows.map((r) => [r.what, r]));
}

// The reference: a straightforward JavaScript Worker of the same design, for the routes it is
// compared on. Health answers JSON. A refresh checks what ours checks (allowed Origin, the CSRF
// header, JSON content type, a `{}` body, the session cookie), names the session's Durable
// Object by the SHA-256 of the handle (WebCrypto), and the object answers from memory a token
// still good beyond the margin, after the same lifetime check. Every answer gets our headers
// (no-store, nosniff, Vary, CORS). Its object holds a 1.2 KB token from the first call on (the
// sign-in before is not measured), where ours decrypted one from storage once. A token inside the
// margin is refreshed at the provider, one call at a time, with HTTP Basic, and the new grant is
// sealed (AES-256-GCM, an HKDF key of SESSION_KEY and the handle) and stored before the answer;
// `POST /seed` gives a session a refresh token from a sign-in for that measurement. With `?rpc`
// the refresh calls the object's `refresh` method over Workers RPC instead of its `fetch`.
// App tokens: the Worker checks the API key (HMAC tags compared in constant time, as ours does),
// serves a token still good beyond the margin from the isolate, and on a miss asks the
// connector's AppTokens object over RPC, which gets one at the provider (client credentials,
// HTTP Basic) one call at a time; the answer carries the XOAUTH2 strings for the user.
const REFERENCE_WORKER = `
import { DurableObject } from 'cloudflare:workers';
const COOKIE = '__Host-mailconnect-session';
// A JSON text (a body, or a stream of one) as a response.
const jsonText = (text, status = 200) => new Response(text, { status, headers: { 'content-type': 'application/json' } });
const json = (body, status = 200) => jsonText(JSON.stringify(body), status);
const error = (status, code) => json({ error: code, error_description: code, action: 'none', retryable: false }, status);
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
const sessionName = async (handle) => b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('mailconnect/session/' + handle)));

export class AppTokens extends DurableObject {
  async token() {
    const now = Math.floor(Date.now() / 1000);
    if (!(this.grant?.expires_at - 300 > now)) {
      this.flight ??= this.upstream().finally(() => { this.flight = undefined; });
      this.grant = await this.flight;
    }
    return this.grant;
  }
  async upstream() {
    const response = await fetch(this.env.TOKEN_URL, {
      method: 'POST',
      headers: { authorization: 'Basic ' + btoa(this.env.DAEMON_ID + ':' + this.env.DAEMON_SECRET), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'https://outlook.office365.com/.default' }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error);
    return { access_token: body.access_token, expires_at: Math.floor(Date.now() / 1000) + body.expires_in, scope: body.scope };
  }
}

let macKey;
const tag = async (text) => new Uint8Array(await crypto.subtle.sign('HMAC', macKey, new TextEncoder().encode(text)));
let appToken;
async function appTokenRoute(req, env) {
  if (req.headers.get('origin')) return error(403, 'invalid_origin');
  const body = await req.text();
  if (body.length > 8192) return error(413, 'too_large');
  macKey ??= await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const auth = req.headers.get('authorization') ?? '';
  const presented = await tag(auth.toLowerCase().startsWith('bearer ') ? auth.slice(7).trim() : '');
  if (!crypto.subtle.timingSafeEqual(presented, await tag(env.APP_API_KEY))) return error(401, 'invalid_api_key');
  let parsed;
  try { parsed = body ? JSON.parse(body) : {}; } catch { return error(400, 'invalid_request'); }
  const user = parsed.user;
  if (user !== undefined && (typeof user !== 'string' || !user || user.length > 320 || /[\\x00-\\x1f\\x7f]/.test(user))) return error(400, 'invalid_request');
  const now = Math.floor(Date.now() / 1000);
  if (!(appToken?.expires_at - 300 > now)) appToken = await env.APP_TOKENS.getByName('app-tokens/smtp-relay').token();
  const answer = { access_token: appToken.access_token, token_type: 'Bearer', expires_in: appToken.expires_at - now, expires_at: appToken.expires_at, scope: appToken.scope };
  if (user) {
    answer.xoauth2 = btoa('user=' + user + '\\x01auth=Bearer ' + appToken.access_token + '\\x01\\x01');
    answer.xoauth2_pop3 = 'AUTH XOAUTH2\\r\\n' + answer.xoauth2;
  }
  return json(answer);
}

export class Session extends DurableObject {
  grants = new Map();
  meta = undefined;
  async fetch(req) {
    const handle = req.headers.get('x-mailconnect-handle');
    const [, op, id] = new URL(req.url).pathname.split('/');
    if (op !== 'refresh') return error(404, 'not_found');
    const { status, body } = await this.refresh(handle, id);
    return jsonText(body, status);
  }
  // The RPC method: the same answer as a plain object.
  async refresh(handle, id) {
    const answer = (body, status = 200) => ({ status, body: JSON.stringify(body) });
    if (!handle) return answer({ error: 'no_session' }, 401);
    const now = Math.floor(Date.now() / 1000);
    this.meta ??= (await this.ctx.storage.get('meta')) ?? { created: now, seen: now };
    if (Math.min(this.meta.seen + 86400, this.meta.created + 30 * 86400) <= now) return answer({ error: 'session_expired' }, 401);
    if (!this.grants.has(id)) {
      const sealed = await this.ctx.storage.get('grant:' + id);
      this.grants.set(id, sealed
        ? JSON.parse(new TextDecoder().decode(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: sealed.slice(0, 12) }, await this.key(handle), sealed.slice(12))))
        : { access_token: 'x'.repeat(1200), expires_at: now + 3600, scope: 'User.Read', account: { name: 'Ada Lovelace', username: 'ada@contoso.dev' } });
    }
    let grant = this.grants.get(id);
    if (grant.expires_at - 300 <= now) {
      // One upstream refresh at a time; every caller meanwhile awaits it.
      this.flight ??= this.upstream(handle, id, grant).finally(() => { this.flight = undefined; });
      try { grant = await this.flight; } catch { return answer({ error: 'upstream_error' }, 502); }
    }
    return answer({ access_token: grant.access_token, token_type: 'Bearer', expires_in: grant.expires_at - now, expires_at: grant.expires_at, scope: grant.scope, account: grant.account });
  }
  // The refresh token grant at the provider (HTTP Basic), the new grant sealed and stored before
  // anyone sees it.
  async upstream(handle, id, grant) {
    const response = await fetch(this.env.TOKEN_URL, {
      method: 'POST',
      headers: { authorization: 'Basic ' + btoa(this.env.CLIENT_ID + ':' + this.env.CLIENT_SECRET), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.refresh_token, scope: this.env.SCOPE }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error);
    const fresh = { ...grant, access_token: body.access_token, refresh_token: body.refresh_token ?? grant.refresh_token, expires_at: Math.floor(Date.now() / 1000) + body.expires_in, scope: body.scope };
    await this.store(handle, id, fresh);
    return fresh;
  }
  async store(handle, id, grant) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, await this.key(handle), new TextEncoder().encode(JSON.stringify(grant))));
    const record = new Uint8Array(12 + sealed.length);
    record.set(iv);
    record.set(sealed, 12);
    await this.ctx.storage.put('grant:' + id, record);
    this.grants.set(id, grant);
  }
  // The session's AES key, derived (HKDF) from SESSION_KEY and the handle once.
  async key(handle) {
    if (!this.aes) {
      const base = await crypto.subtle.importKey('raw', new TextEncoder().encode(this.env.SESSION_KEY), 'HKDF', false, ['deriveKey']);
      this.aes = await crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: new TextEncoder().encode(handle), info: new Uint8Array() }, base, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
    }
    return this.aes;
  }
  // Set-up for the upstream measurement (not timed): a grant holding \`refreshToken\`, due.
  async seed(handle, id, refreshToken) {
    await this.store(handle, id, { access_token: '', refresh_token: refreshToken, expires_at: 0, scope: this.env.SCOPE });
  }
}

async function refresh(req, env, id, rpc) {
  const origin = req.headers.get('origin');
  if (!origin || !env.ALLOWED_ORIGINS.split(',').includes(origin)) return error(403, 'origin_not_allowed');
  if (req.headers.get('x-mailconnect') !== '1') return error(403, 'csrf_header_missing');
  if ((req.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase() !== 'application/json') return error(415, 'unsupported_media_type');
  const body = await req.text();
  if (body.length > 8192) return error(413, 'too_large');
  let parsed;
  try { parsed = JSON.parse(body); } catch { return error(400, 'invalid_request'); }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || Object.keys(parsed).length) return error(400, 'invalid_request');
  const cookie = (req.headers.get('cookie') ?? '').split(';').map((c) => c.trim()).find((c) => c.startsWith(COOKIE + '='));
  const handle = cookie?.slice(COOKIE.length + 1);
  if (!handle || !/^[A-Za-z0-9_-]{43}$/.test(handle)) return error(401, 'no_session');
  const stub = env.SESSIONS.getByName(await sessionName(handle));
  if (rpc) {
    const { status, body } = await stub.refresh(handle, id);
    return jsonText(body, status);
  }
  const answer = await stub.fetch('https://session/refresh/' + id, { method: 'POST', headers: { 'x-mailconnect-handle': handle } });
  return jsonText(answer.body, answer.status);
}

export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    const path = url.pathname;
    const match = /^\\/oauth\\/connectors\\/([a-z0-9-]{1,64})\\/refresh$/.exec(path);
    let response;
    if (path === '/oauth/health' && req.method === 'GET') response = json({ status: 'ok' });
    // ?rpc: the same route, calling the object over RPC.
    else if (match && req.method === 'POST') response = await refresh(req, env, match[1], url.searchParams.has('rpc'));
    else if (path === '/oauth/connectors/smtp-relay/app-token' && req.method === 'POST') response = await appTokenRoute(req, env);
    else if (path === '/seed' && req.method === 'POST') {
      const { handle, id, refresh_token } = await req.json();
      await env.SESSIONS.getByName(await sessionName(handle)).seed(handle, id, refresh_token);
      response = json({ status: 'seeded' });
    }
    else response = error(404, 'not_found');
    const origin = req.headers.get('origin');
    response.headers.set('cache-control', 'no-store');
    response.headers.set('x-content-type-options', 'nosniff');
    response.headers.set('vary', 'Origin');
    if (origin && env.ALLOWED_ORIGINS.split(',').includes(origin)) {
      response.headers.set('access-control-allow-origin', origin);
      response.headers.set('access-control-allow-credentials', 'true');
    }
    return response;
  },
};`;

/** The reference Worker under wrangler dev on a free port, allowing `origin`, refreshing at
 * `oauth` as the teams connector; stopped with stop(). */
async function startReference(origin, oauth, appApiKey) {
  const dir = join(REPO, '.wrangler', 'bench-reference');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'worker.mjs'), REFERENCE_WORKER);
  const toml = readFileSync(join(REPO, 'wrangler.toml'), 'utf8');
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)[1];
  // The same assets in front as ours, so both pay the same routing.
  writeFileSync(join(dir, 'wrangler.toml'), `name = "reference"\nmain = "worker.mjs"\ncompatibility_date = "${date}"\n` +
    `[vars]\nALLOWED_ORIGINS = ${JSON.stringify(origin)}\nSESSION_KEY = ${JSON.stringify(randomBytes(32).toString('base64'))}\n` +
    `TOKEN_URL = ${JSON.stringify(oauth.tokenUrl('organizations'))}\nSCOPE = ${JSON.stringify(TEAMS_SCOPE)}\n` +
    `CLIENT_ID = ${JSON.stringify(oauth.clients.secret.id)}\nCLIENT_SECRET = ${JSON.stringify(oauth.clients.secret.secret)}\n` +
    `DAEMON_ID = ${JSON.stringify(oauth.clients.daemon.id)}\nDAEMON_SECRET = ${JSON.stringify(oauth.clients.daemon.secret)}\nAPP_API_KEY = ${JSON.stringify(appApiKey)}\n` +
    `[assets]\ndirectory = ${JSON.stringify(join(REPO, 'www'))}\nrun_worker_first = ["/oauth/*"]\n` +
    '[[durable_objects.bindings]]\nname = "SESSIONS"\nclass_name = "Session"\n[[durable_objects.bindings]]\nname = "APP_TOKENS"\nclass_name = "AppTokens"\n' +
    '[[migrations]]\ntag = "v1"\nnew_sqlite_classes = ["Session", "AppTokens"]\n');
  const port = await freePort();
  const child = spawn(process.execPath, [join(REPO, 'node_modules/wrangler/bin/wrangler.js'), 'dev', '--config', join(dir, 'wrangler.toml'),
    '--ip', '127.0.0.1', '--port', String(port), '--persist-to', join(dir, 'state'), '--show-interactive-dev-session=false', '--log-level', 'warn'], {
    cwd: dir,
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', WRANGLER_SEND_ERROR_REPORTS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', CI: '1', XDG_CONFIG_HOME: join(REPO, '.wrangler', 'config') },
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    child.kill('SIGINT');
    if (!(await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]))) {
      process.kill(-child.pid, 'SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await ok(fetch(`${url}/oauth/health`));
      return { url, stop };
    } catch (err) {
      if (i > 300) {
        await stop();
        throw err;
      }
      await sleep(200);
    }
  }
}

/**
 * p50/p99 of each of `calls` (name -> function) side by side: `n` rounds, each timing one call of
 * every one, in an order that rotates from round to round, so a change in the machine's load
 * hits all of them.
 */
async function paired(n, calls, warmup = 20) {
  const entries = Object.entries(calls);
  for (let i = 0; i < warmup; i++) await Promise.all(entries.map(([, call]) => call()));
  const times = Object.fromEntries(entries.map(([name]) => [name, []]));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < entries.length; j++) {
      const [name, call] = entries[(i + j) % entries.length];
      const start = performance.now();
      await call();
      times[name].push(performance.now() - start);
    }
  }
  return Object.fromEntries(Object.entries(times).map(([name, t]) => {
    t.sort((a, b) => a - b);
    return [name, { p50: percentile(t, 50), p99: percentile(t, 99) }];
  }));
}

/** App-token cache hits of our Worker (`url`) and the reference side by side: p50 over `RUNS`
 * rounds, then req/s with APP_CONCURRENCY clients, each Worker alone in turn. */
async function compareAppToken(url, reference, oauth, apiKey) {
  oauth.setMode({ accessTokenTtl: 3600 });
  const call = (base) => () => ok(fetch(`${base}/oauth/connectors/smtp-relay/app-token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'relay@contoso.dev' }),
  }));
  const t = await paired(RUNS, { ours: call(url), js: call(reference.url) });
  const rps = { ours: [], js: [] };
  for (let i = 0; i < 3; i++) {
    rps.ours.push(await throughput(RUNS, APP_CONCURRENCY, call(url)));
    rps.js.push(await throughput(RUNS, APP_CONCURRENCY, call(reference.url)));
  }
  const median = (list) => list.sort((a, b) => a - b)[1];
  return { ours: { ...t.ours, rps: median(rps.ours) }, js: { ...t.js, rps: median(rps.js) } };
}

function printAppToken(a) {
  console.log(`app-token hit, side by side (${RUNS} rounds; req/s at ${APP_CONCURRENCY} concurrent clients, median of 3):`);
  console.log(`  this Worker       p50 ${a.ours.p50.toFixed(2)} ms (p99 ${a.ours.p99.toFixed(1)}), ${a.ours.rps.toFixed(0)} req/s`);
  console.log(`  JS, same design   p50 ${a.js.p50.toFixed(2)} ms (p99 ${a.js.p99.toFixed(1)}), ${a.js.rps.toFixed(0)} req/s`);
}

/** A health check of the Worker at `base`. */
const health = (base) => () => ok(fetch(`${base}/oauth/health`));

/** Health and refresh (cached, and going upstream beside the direct call) of our Worker (`url`)
 * and the reference, with the same browser headers. */
async function compare(url, origin, oauth, reference) {
  const edge = edgeClient(url, oauth, origin);
  oauth.setMode({ accessTokenTtl: 3600 });
  const session = (await edge.connect('teams')).session;
  const refresh = (base, handle, query = '') => () => ok(fetch(`${base}/oauth/connectors/teams/refresh${query}`, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json', 'x-mailconnect': '1', cookie: `__Host-mailconnect-session=${handle}` },
    body: '{}',
  }));
  return {
    health: await paired(RUNS, { ours: health(url), fetch: health(reference.url) }),
    cached: await paired(RUNS, {
      ours: refresh(url, session),
      fetch: refresh(reference.url, randomBytes(32).toString('base64url')),
      rpc: refresh(reference.url, randomBytes(32).toString('base64url'), '?rpc'),
    }),
    upstream: await comparedUpstream(edge, oauth, refresh, url, reference.url),
  };
}

/** Refresh going upstream side by side: 60 s tokens are always inside the margin. Each of ours,
 * the reference's (calling its object with fetch, and over RPC as ours does) and the direct call
 * refreshes a grant of its own sign-in, rotating its refresh token each time. */
async function comparedUpstream(edge, oauth, refresh, url, referenceUrl) {
  oauth.setMode({ accessTokenTtl: 60 });
  const signIn = async () => (await redeemDirect(oauth, await edge.authorize('teams'))).refresh_token;
  const seeded = async () => {
    const handle = randomBytes(32).toString('base64url');
    await ok(fetch(`${referenceUrl}/seed`, { method: 'POST', body: JSON.stringify({ handle, id: 'teams', refresh_token: await signIn() }) }));
    return handle;
  };
  const session = (await edge.connect('teams')).session;
  const [viaFetch, viaRpc] = [await seeded(), await seeded()];
  let refreshToken = await signIn();
  const direct = async () => {
    refreshToken = await refreshDirect(oauth, refreshToken);
  };
  return paired(UPSTREAM_RUNS, { ours: refresh(url, session), fetch: refresh(referenceUrl, viaFetch), rpc: refresh(referenceUrl, viaRpc, '?rpc'), direct }, 5);
}

const wasm = readFileSync(join(REPO, 'crates/edge/build/index_bg.wasm'));
const js = readFileSync(join(REPO, 'crates/edge/build/index.js'));
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
console.log(`Worker size: wasm ${kb(wasm.length)} (gzip -9 ${kb(gzipSync(wasm, { level: 9 }).length)}), JS ${kb(js.length)} (gzip -9 ${kb(gzipSync(js, { level: 9 }).length)}); budget 330 KB gzip`);
console.log(`runs: ${RUNS} per cached measurement, ${UPSTREAM_RUNS} per upstream one; ${CONCURRENCY} concurrent clients for req/s`);

const stack = await startStack({ accessTokenTtl: 60 });
let results;
let sideBySide;
try {
  const reference = await startReference(stack.url, stack.oauth, stack.appApiKey);
  try {
    const url = stack.url.replace('localhost', '127.0.0.1');
    if (values['app-token-only']) {
      printAppToken(await compareAppToken(url, reference, stack.oauth, stack.appApiKey));
    } else if (values['health-only']) {
      for (let i = 0; i < 3; i++) {
        const t = await paired(RUNS, { ours: health(url), js: health(reference.url) });
        console.log(`health p50 side by side, ${RUNS} rounds: this Worker ${t.ours.p50.toFixed(3)} ms, JS same design ${t.js.p50.toFixed(3)} ms, difference ${(t.ours.p50 - t.js.p50).toFixed(3)} ms`);
      }
    } else {
      results = await measure('wrangler dev (workerd behind wrangler\'s proxy), as the reference was measured', url, stack.url, stack.oauth,
        { connector: 'smtp-relay', apiKey: stack.appApiKey });
      sideBySide = await compare(url, stack.url, stack.oauth, reference);
      sideBySide.appToken = await compareAppToken(url, reference, stack.oauth, stack.appApiKey);
    }
  } finally {
    await reference.stop();
  }
} finally {
  await stack.stop();
}
if (values['health-only'] || values['app-token-only']) process.exit(0);
const r = results;
const ms = (n) => `${n.toFixed(2).padStart(8)} ms`;
const cell = (t) => (t ? `${ms(t.p50)} (${t.p99.toFixed(1)})` : '').padEnd(22);
console.log(`\np50 (p99) under wrangler dev, side by side   ${'this Worker (RPC)'.padEnd(22)} ${'JS, same design, fetch'.padEnd(22)} ${'JS, same design, RPC'.padEnd(22)} reference (earlier)`);
for (const [what, key] of [['health', 'health'], ['cached refresh', 'cached']]) {
  const t = sideBySide[key];
  console.log(`${what.padEnd(44)} ${cell(t.ours)} ${cell(t.fetch)} ${cell(t.rpc)} ${REFERENCE[key]} ms`);
}
const up = sideBySide.upstream;
const added = (t) => ms(t.p50 - up.direct.p50).padEnd(22);
console.log(`${'upstream refresh, added over direct'.padEnd(44)} ${added(up.ours)} ${added(up.fetch)} ${added(up.rpc)} ~${REFERENCE.upstreamAdded} ms`);
console.log(`  (direct refresh ${up.direct.p50.toFixed(2)} ms p50, timed in the same rounds)`);
console.log(`app-token p50: cache hit ${r['app-token hit via Worker'].p50.toFixed(2)} ms, cache miss ${r['app-token miss via Worker'].p50.toFixed(2)} ms (direct client credentials ${r['client credentials direct'].p50.toFixed(2)} ms)`);
printAppToken(sideBySide.appToken);

if (values.miniflare) {
  const apiKey = randomBytes(32).toString('base64url');
  const edge = await startEdge({
    connectors: (oauth, certificate) => ({
      ...defaultConnectors(oauth, certificate),
      'smtp-relay': { provider: 'microsoft', tenant: oauth.tenantId, authority: oauth.url, client_id: oauth.clients.daemon.id, scope: 'https://outlook.office365.com/.default', grant: 'client_credentials' },
    }),
    vars: (oauth) => ({ SMTP_RELAY_CLIENT_SECRET: oauth.clients.daemon.secret, SMTP_RELAY_API_KEYS: apiKey }),
  });
  try {
    await measure('Miniflare (workerd, no proxy hop)', edge.url, 'http://localhost:8787', edge.oauth, { connector: 'smtp-relay', apiKey });
  } finally {
    await edge.stop();
  }
}
