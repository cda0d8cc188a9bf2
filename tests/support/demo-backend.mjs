// The demo webmail's back end for the local stack (stack.mjs, option `users`): it signs a demo user
// in with a cookie of its own and mints mailconnect tickets for whoever is signed in, the way a
// webmail's server vouches for its user to the edge (issue 14; the ticket's format is in
// crates/core's contract and the README's admin guide).
//
// The ticket: a compact JWS, EdDSA (Ed25519), header {alg, typ: "JWT", kid}, claims {aud:
// "mailconnect", sub: <account id>, iat, exp (2 minutes), jti}. The key pair is made at start; the
// edge gets the public half in USER_TICKET_KEYS (`ticketKeys`), never the private one.
//
// Routes (JSON, CORS for the webmail's origin with credentials; the cookie is HttpOnly, SameSite
// Strict, and the webmail and this server are the same site, localhost):
//   GET  /session   {user: {id, name} | null}
//   POST /signin    {user: "ada" | "grace"} -> {user}
//   POST /signout   {} -> {user: null}
//   POST /ticket    {} -> {ticket}; 401 {error: "signed_out"} when nobody is signed in

import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';

/** The demo's users: webmail account ids (core's AccountId) and names. */
export const DEMO_USERS = {
  ada: { id: 'ada@contoso.dev', name: 'Ada Lovelace' },
  grace: { id: 'grace@contoso.dev', name: 'Grace Hopper' },
};

const COOKIE = 'contoso-mail-session';
const TICKET_SECONDS = 120;
const KID = 'demo-1';

const base64url = (data) => Buffer.from(data).toString('base64url');

/**
 * Starts the back end on 127.0.0.1. Options: origin (the webmail's, the only one CORS allows),
 * port (default a free one), tls ({key, cert}: https). Resolves to { url, ticketKeys (the
 * USER_TICKET_KEYS value), mint(accountId) (a ticket, for tests), stop() }.
 */
export async function startDemoBackend({ origin, port = 0, tls }) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const ticketKeys = `${KID}:${publicKey.export({ format: 'jwk' }).x}`;
  const sessions = new Map();

  function mint(sub) {
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ alg: 'EdDSA', typ: 'JWT', kid: KID }));
    const claims = base64url(JSON.stringify({ aud: 'mailconnect', sub, iat: now, exp: now + TICKET_SECONDS, jti: randomBytes(16).toString('base64url') }));
    const signature = sign(null, Buffer.from(`${header}.${claims}`), privateKey);
    return `${header}.${claims}.${base64url(signature)}`;
  }

  /** The value of this back end's cookie in `req`, or undefined. */
  function sessionId(req) {
    const cookie = (req.headers.cookie ?? '').split(';').map((c) => c.trim()).find((c) => c.startsWith(`${COOKIE}=`));
    return cookie?.slice(COOKIE.length + 1);
  }

  const signedIn = (req) => sessions.get(sessionId(req)) ?? null;

  async function handle(req, res) {
    const headers = {
      'access-control-allow-origin': origin,
      'access-control-allow-credentials': 'true',
      'access-control-allow-headers': 'content-type',
      'cache-control': 'no-store',
      vary: 'origin',
    };
    const answer = (status, body, extra = {}) => {
      res.writeHead(status, { ...headers, 'content-type': 'application/json', ...extra });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'OPTIONS') return answer(204, {});
    // A page of another origin can neither read the answers (CORS) nor post JSON here without a
    // preflight it fails; the Origin check refuses simple cross-site posts as well.
    if (req.method === 'POST' && req.headers.origin !== origin) return answer(403, { error: 'forbidden_origin' });
    const path = new URL(req.url, 'http://localhost').pathname;
    if (req.method === 'GET' && path === '/session') return answer(200, { user: signedIn(req) });
    if (req.method !== 'POST') return answer(404, { error: 'not_found' });
    let body = '';
    for await (const chunk of req) body += chunk;
    if (path === '/signin') {
      let name;
      try {
        name = JSON.parse(body).user;
      } catch {
        return answer(400, { error: 'invalid_request' });
      }
      const user = Object.hasOwn(DEMO_USERS, name) ? DEMO_USERS[name] : null;
      if (!user) return answer(400, { error: 'unknown_user' });
      const id = randomBytes(32).toString('base64url');
      sessions.set(id, user);
      const secure = tls ? '; Secure' : '';
      return answer(200, { user }, { 'set-cookie': `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict${secure}` });
    }
    if (path === '/signout') {
      sessions.delete(sessionId(req));
      return answer(200, { user: null }, { 'set-cookie': `${COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict` });
    }
    if (path === '/ticket') {
      const user = signedIn(req);
      return user ? answer(200, { ticket: mint(user.id) }) : answer(401, { error: 'signed_out' });
    }
    return answer(404, { error: 'not_found' });
  }

  const server = tls ? createHttpsServer({ key: tls.key, cert: tls.cert }) : createHttpServer();
  server.on('request', (req, res) => handle(req, res).catch(() => res.destroy()));
  await new Promise((ok, fail) => server.once('error', fail).listen(port, '127.0.0.1', ok));
  const url = `${tls ? 'https' : 'http'}://localhost:${server.address().port}`;
  return {
    url,
    ticketKeys,
    mint,
    stop: () => new Promise((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}
