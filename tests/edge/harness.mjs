// Runs the built edge Worker (crates/edge/build, from scripts/build-edge.sh, behind its entry
// module crates/edge/entry.mjs, as wrangler.toml's `main`) in workerd through
// Miniflare, against the Entra-like OAuth server of tests/support/oauth-server.mjs, both on
// 127.0.0.1 ports of their own. Each test file starts what it needs with `startEdge()` and stops
// it with `edge.stop()`; nothing is left running.
//
// Miniflare rather than `wrangler dev`: a Worker is ready in well under a second, and each test
// can set its own bindings (short session lifetimes, a short upstream timeout, broken settings).
// The Durable Object bindings, classes and compatibility date are those of wrangler.toml.
// tests/support/stack.mjs runs the same build under `wrangler dev` with wrangler.toml itself.

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Log, LogLevel, Miniflare } from 'miniflare';
import { generateCertificateKey, startOAuthServer } from '../support/oauth-server.mjs';
import { devConnectors } from '../support/stack.mjs';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BUILD = join(REPO, 'crates/edge/build/index.js');
const ENTRY = join(REPO, 'crates/edge/entry.mjs');

/** The origin the tests' "webmail" runs at, and its callback. */
export const ORIGIN = 'http://localhost:8787';
export const REDIRECT_URI = `${ORIGIN}/callback`;
export { MAIL_SCOPE, TEAMS_SCOPE } from '../support/stack.mjs';
export const SESSION_COOKIE = '__Host-mailconnect-session';

async function compatibilityDate() {
  const toml = await readFile(join(REPO, 'wrangler.toml'), 'utf8');
  return /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)[1];
}

/**
 * Starts the OAuth server and the Worker.
 * Options: oauth (startOAuthServer options), vars (extra or replaced bindings, or a function of
 * the OAuth server and the certificate to them; a value of `undefined` removes one), connectors (function of the OAuth server and the certificate to the
 * CONNECTORS object; default teams + outlook-mail as in the dev stack), persist (keep Durable
 * Object state in a temporary directory, exposed as `persistDir`; `restart()` then starts workerd
 * afresh on it), script (the main module; default crates/edge/entry.mjs, as in wrangler.toml).
 */
export async function startEdge(options = {}) {
  if (!existsSync(BUILD)) throw new Error(`${BUILD} is missing: run scripts/build-edge.sh first`);
  const certificate = generateCertificateKey();
  const oauth = await startOAuthServer({ redirectUris: [REDIRECT_URI], certificate, ...options.oauth });
  const connectors = (options.connectors ?? defaultConnectors)(oauth, certificate);
  const bindings = {
    ALLOWED_ORIGINS: ORIGIN,
    CONNECTORS: connectors,
    SESSION_KEY: randomBytes(32).toString('base64'),
    TEAMS_CLIENT_SECRET: oauth.clients.secret.secret,
    OUTLOOK_MAIL_PRIVATE_KEY: certificate.privateKeyPem,
    // Short enough that the slow-provider test does not take long, long enough for a loaded
    // machine's token requests.
    UPSTREAM_TIMEOUT_MS: '2000',
    ...(typeof options.vars === 'function' ? options.vars(oauth, certificate) : options.vars),
  };
  for (const [key, value] of Object.entries(bindings)) if (value === undefined) delete bindings[key];

  const persistDir = options.persist ? await mkdtemp(join(tmpdir(), 'mailconnect-edge-')) : undefined;
  const mfOptions = {
    host: '127.0.0.1',
    port: 0,
    modules: true,
    scriptPath: options.script ?? ENTRY,
    // worker-build's index.js is an ES module, which Miniflare's default rules would read as CommonJS.
    modulesRules: [{ type: 'ESModule', include: ['**/*.js'] }, { type: 'CompiledWasm', include: ['**/*.wasm'] }],
    compatibilityDate: await compatibilityDate(),
    durableObjects: { SESSIONS: { className: 'Session', useSQLite: true }, APP_TOKENS: { className: 'AppTokens', useSQLite: true }, EXCHANGES: { className: 'Exchanges', useSQLite: true } },
    durableObjectsPersist: persistDir ?? false,
    bindings,
    log: new Log(process.env.MAILCONNECT_TEST_LOG ? LogLevel.DEBUG : LogLevel.NONE),
    // The Worker logs every error it answers; shown only with MAILCONNECT_TEST_LOG=1.
    handleRuntimeStdio(stdout, stderr) {
      for (const stream of [stdout, stderr]) {
        if (process.env.MAILCONNECT_TEST_LOG) stream.pipe(process.stderr);
        else stream.resume();
      }
    },
  };
  let mf = new Miniflare(mfOptions);
  let url;
  try {
    url = (await mf.ready).origin;
  } catch (err) {
    await oauth.stop();
    throw err;
  }

  async function stop() {
    await mf.dispose();
    await oauth.stop();
    if (persistDir) await rm(persistDir, { recursive: true, force: true });
  }

  /**
   * Stops workerd and starts it again on the same port: only persisted state survives. `vars`
   * change bindings from then on, as a new deployment would (`undefined` removes one).
   */
  async function restart(vars = {}) {
    await mf.dispose();
    Object.assign(bindings, vars);
    for (const [key, value] of Object.entries(vars)) if (value === undefined) delete bindings[key];
    mf = new Miniflare({ ...mfOptions, port: Number(new URL(url).port) });
    await mf.ready;
  }

  return { url, oauth, certificate, connectors, persistDir, stop, restart, ...edgeClient(url, oauth) };
}

/** The dev stack's browser connectors, redirecting to this harness's webmail origin. */
export function defaultConnectors(oauth, certificate) {
  return devConnectors(oauth, certificate, REDIRECT_URI);
}

/** HTTP helpers bound to one Worker (at `url`, serving a webmail at `origin`): what the browser module would send. */
export function edgeClient(url, oauth, origin = ORIGIN) {
  /** A browser-like call: allowed Origin, JSON, the CSRF header, the session cookie if given. */
  async function call(path, { method = 'POST', body = {}, session, headers = {} } = {}) {
    const init = { method, headers: { origin, ...headers } };
    if (method !== 'GET' && method !== 'OPTIONS') {
      init.headers = { 'content-type': 'application/json', 'x-mailconnect': '1', ...init.headers };
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    if (session) init.headers.cookie = `${SESSION_COOKIE}=${session}`;
    for (const [k, v] of Object.entries(init.headers)) if (v === undefined) delete init.headers[k];
    const response = await fetch(url + path, init);
    const text = await response.text();
    const cookies = response.headers.getSetCookie();
    return { status: response.status, headers: response.headers, cookies, body: text ? JSON.parse(text) : undefined, session: sessionOf(cookies) ?? session };
  }

  /** A fresh authorization code for a connector, from the public connector info (as the browser does). */
  async function authorize(connectorId, { user, redirectUri } = {}) {
    const info = await call(`/oauth/connectors/${connectorId}`, { method: 'GET' });
    if (info.status !== 200) throw new Error(`connector ${connectorId}: ${JSON.stringify(info.body)}`);
    const verifier = randomBytes(32).toString('base64url');
    const authorizeUrl = new URL(info.body.authorize_url);
    const params = {
      response_type: 'code',
      client_id: info.body.client_id,
      redirect_uri: redirectUri ?? info.body.redirect_uris[0],
      scope: info.body.scope,
      state: randomBytes(16).toString('base64url'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    };
    for (const [k, v] of Object.entries(params)) authorizeUrl.searchParams.set(k, v);
    const callback = new URL(await oauth.authorize(authorizeUrl.href, { user }));
    const code = callback.searchParams.get('code');
    if (!code) throw new Error(`no code: ${callback}`);
    return { code, verifier, redirect_uri: params.redirect_uri };
  }

  /** Connects a connector: authorize, then POST .../token. Resolves to the token call's result. */
  async function connect(connectorId, { session, user } = {}) {
    const { code, verifier, redirect_uri } = await authorize(connectorId, { user });
    return call(`/oauth/connectors/${connectorId}/token`, { body: { code, code_verifier: verifier, redirect_uri }, session });
  }

  /** Binds the browser of `session` (if any) to the user of `ticket`. */
  function bind(ticket, session) {
    return call('/oauth/session/bind', { body: { ticket }, session });
  }

  return { call, authorize, connect, bind };
}

function sessionOf(cookies) {
  for (const cookie of cookies) {
    const [pair] = cookie.split(';');
    const [name, value] = pair.split('=');
    if (name.trim() === SESSION_COOKIE) return value;
  }
  return undefined;
}

/**
 * An Ed25519 key of the webmail's back end, its `USER_TICKET_KEYS` entry (`setting`), and tickets
 * minted with it by node:crypto: the Node side of the ticket format that crates/core/src/ticket.rs
 * checks. `mint(sub, { claims, header, signWith })` overrides claims or header fields, or signs
 * with another private key.
 */
export function ticketKey(kid = 'k1') {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const part = (json) => Buffer.from(JSON.stringify(json)).toString('base64url');
  function mint(sub, { claims = {}, header = {}, signWith = privateKey } = {}) {
    const now = Math.floor(Date.now() / 1000);
    const input = `${part({ alg: 'EdDSA', typ: 'JWT', kid, ...header })}.${part({ aud: 'mailconnect', sub, iat: now, exp: now + 120, jti: randomBytes(16).toString('base64url'), ...claims })}`;
    return `${input}.${sign(null, Buffer.from(input), signWith).toString('base64url')}`;
  }
  return { kid, setting: `${kid}:${publicKey.export({ format: 'jwk' }).x}`, privateKey, mint };
}

/** Token-endpoint calls the OAuth server saw, by grant type. */
export async function upstreamCalls(oauth, grantType) {
  const { token } = await oauth.counters();
  return grantType ? token.by_grant_type[grantType] ?? 0 : token.total;
}

/** Every byte the Durable Objects persisted, for looking for secrets in a storage dump. */
export async function persistedBytes(dir) {
  const chunks = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) chunks.push(await readFile(join(entry.parentPath ?? entry.path, entry.name)));
  }
  return Buffer.concat(chunks);
}
