// A local OAuth 2.0 / OpenID Connect server that looks like the Microsoft identity platform
// (Entra ID, v2 endpoints), for mailconnect's tests and the local demo stack. It is a real,
// certified OpenID provider (npm `oidc-provider`) wrapped so that paths, errors and tokens have
// Entra's shape: the edge Worker talks to it exactly as it would to login.microsoftonline.com.
//
// Run:    node tests/support/oauth-server.mjs --port 9010 [--host 127.0.0.1]
//           [--redirect-uri URL]... [--access-token-ttl 60] [--rotation rotate|strict|off]
//           [--cert-public-key FILE.pem --cert-thumbprint HEX]
// Import: const server = await startOAuthServer({ port: 0, redirectUris: [...] });
//         ... server.url, server.issuer, server.counters(), await server.stop();
//
// Endpoints ({tenant} is any of common, organizations, consumers, a GUID or a domain name):
//   GET  /{tenant}/v2.0/.well-known/openid-configuration   discovery
//   GET  /{tenant}/discovery/v2.0/keys                     JWKS
//   GET  /{tenant}/oauth2/v2.0/authorize                   authorization (code + PKCE S256 only)
//   POST /{tenant}/oauth2/v2.0/token                       authorization_code, refresh_token,
//                                                          client_credentials, password (ROPC)
//   POST /{tenant}/oauth2/v2.0/revoke                      token revocation (RFC 7009), which Entra
//                                                          itself does not have: `token` (+
//                                                          `token_type_hint`) and the client's
//                                                          authentication as at the token endpoint;
//                                                          200 even for an unknown token. Revoking a
//                                                          refresh token ends its whole grant: the
//                                                          token then fails at the token endpoint
//                                                          with invalid_grant 70008
//   GET  /oauth/authorize, POST /oauth/token, POST /oauth/revoke
//                                                          Zoom's paths (a Zoom connector whose base URL
//                                                          is this server): the same endpoints, of
//                                                          tenant `tenantId`
//   GET  /graph/v1.0/me                                    Graph-like: needs a bearer access token
//                                                          for https://graph.microsoft.com with
//                                                          User.Read; 401/403 + WWW-Authenticate
//   GET|POST|PATCH|DELETE /graph/v1.0/me/calendar, /graph/v1.0/me/events[/{id}[/cancel]]
//                                                          a Graph calendar stand-in for Teams meetings
//                                                          (graph-calendar.mjs says what it does; its
//                                                          test hooks are server.calendar.*)
//   POST /outlook/xoauth2                                  stands in for Exchange Online's IMAP/POP/SMTP
//                                                          AUTH XOAUTH2: body {"xoauth2": base64 of
//                                                          "user=U^Aauth=Bearer T^A^A", "protocol":
//                                                          "IMAP"|"POP"|"SMTP"}; checks the token as
//                                                          Exchange does (aud outlook.office.com, the
//                                                          protocol's scope, user = token's user) and
//                                                          answers {ok, response} with the server line
//   GET|POST /login/{uid}                                  the sign-in and consent pages
//
// Behaviour, as Entra does it:
//   - issuer `${url}/${tenantId}/v2.0` (also sent as `iss` in redirects, RFC 9207);
//   - PKCE (S256) is required of every client; the code lives 10 minutes, is single use;
//   - `offline_access` yields a refresh token (no `prompt=consent` needed, unlike plain OIDC);
//   - scopes select the resource: bare names (User.Read, Calendars.Read...) are Microsoft Graph,
//     `https://outlook.office.com/IMAP.AccessAsUser.All` is Outlook, and so on; access tokens
//     are RS256 JWTs with `aud`, `scp` (or `roles` for client credentials), `oid`, `tid`;
//   - token errors carry `error_codes` (AADSTS numbers) and an `AADSTS<n>:` description:
//     wrong secret 7000215, unknown client 700016, no credential 7000218, rejected certificate
//     assertion 700027, expired assertion 700024, PKCE mismatch 501481, reused code 54005,
//     expired/revoked code or refresh token 70008, redirect URI mismatch 50011, bad scope 70011,
//     a request with an Origin header 9002326 (cross-origin redemption of a Web-platform app),
//     wrong user name or password in the password grant 50126, server down 90033;
//   - denying consent redirects with `error=access_denied` and
//     `error_description=AADSTS65004: User declined to consent to access the app.`;
//   - refresh-token rotation (option `rotation`): "rotate" (default, Entra-like: every refresh
//     returns a new refresh token, older ones keep working), "strict" (Zoom-like: only the newest
//     works; an older one fails with invalid_grant 70008), "off" (the same token comes back).
//
// Users (option `users`): Ada Lovelace <ada@contoso.dev> (the default) and Grace Hopper
// <grace@contoso.dev>, both in tenant `tenantId`. The sign-in page is prefilled with `login_hint`
// or Ada; any non-empty password works. One click signs in, a second accepts consent.
//
// Clients (defaults; options override ids and secrets):
//   mailconnect-dev     secret "dev-client-secret"; client_secret_basic or client_secret_post;
//                       authorization_code + refresh_token
//   mailconnect-cert    private_key_jwt (RFC 7523, RS256) with the public key from option
//                       `certificate: { publicKeyPem, thumbprint }`; when `thumbprint` (SHA-1,
//                       hex as the Entra portal shows it) is given, the assertion's `x5t` header
//                       must match it. Only registered when `certificate` is given.
//                       authorization_code + refresh_token, and client_credentials like the daemon
//   mailconnect-daemon  secret "dev-daemon-secret"; client_credentials only, for
//                       https://outlook.office365.com/.default (roles SMTP.SendAsApp,
//                       IMAP.AccessAsApp, POP.AccessAsApp) or https://graph.microsoft.com/.default
//   mailconnect-mailbox secret "dev-mailbox-secret" (client_secret_basic); the resource owner
//                       password grant only (oidc-provider has none: it is registered here with
//                       `registerGrantType`, as Entra's v2 endpoint has it). Any user below with
//                       the password "dev-mailbox-password" (option `mailboxPassword`) gets a
//                       delegated token for the requested scopes, as from a sign-in; anything
//                       else is invalid_grant 50126. No refresh token (no offline_access).
//   Redirect URIs of the first two: option `redirectUris` (default
//   http://localhost:8787/callback). `generateCertificateKey()` makes a key pair and its
//   thumbprint for `certificate` (the thumbprint of the public key's DER, standing in for a
//   certificate's, which is all Entra's check needs).
//
// Test hooks (also methods of the returned object; JSON in and out):
//   GET  /_test/counters   { token: { total, by_grant_type: {grant: n}, by_client: {id: {grant: n}} },
//                            revocation: { total, by_token_type_hint: {hint: n}, by_auth_method: {method: n} },
//                            authorize, graph, xoauth2 }  -- server.counters()
//   GET  /_test/requests   the last 100 token requests: { at, grant_type, client_id, auth_method,
//                            origin, status, error, error_codes }   -- server.requests()
//   (method only)          the last authorization request's parameters (state, client_id, …), or
//                          null                                 -- server.lastAuthorization()
//   POST /_test/reset      zero counters and requests, empty the calendar; mode back to the start
//                                                         -- server.reset()
//   GET|POST /_test/mode   { down, slow, rotation, accessTokenTtl } (POST: any subset) --
//                          server.setMode({...}) / server.mode(). `down: true` answers every token
//                          and revocation request 503 temporarily_unavailable (AADSTS90033);
//                          `down: "reset"` drops the connection; `slow: ms` delays every token and
//                          revocation request. Requests answered so still count.
//   (method only)          how many token and revocation requests `slow` is holding now, so a
//                          test can act while one is in flight     -- server.held()
//   POST /_test/revoke     revokes every grant: refresh tokens then fail with invalid_grant 70008
//                                                         -- server.revokeAll()
// `server.verifyAccessToken(token, audience)` (a method only) checks a token as a resource server
// does (signature, issuer, expiry, audience): { claims } or { error }.
// `server.refreshTokens()` (a method only) lists the refresh tokens that still work, oldest first,
// so a test can find the one a client holds and try it at the token endpoint itself.
// Headless flow: `await server.authorize(authorizeUrl, { user, consent: 'accept' | 'deny' })`
// drives the real sign-in and consent pages over HTTP and resolves to the final redirect URL
// (the callback with `code` or `error`), so tests without a browser can get codes.
//
// Listens on 127.0.0.1 only (option `host` may name another loopback address).
//
// This file starts the server and routes its requests; each job has a module in oauth-server/:
// provider.mjs (oidc-provider as Entra's v2 endpoints, the clients, the password grant),
// entra.mjs (resources, permissions and Entra-shaped errors), pages.mjs (sign-in and consent
// pages, and the headless driver), resources.mjs (Graph /me and its calendar, XOAUTH2), and
// hooks.mjs (counters, request log and the /_test/ hooks).

import { createHash, generateKeyPairSync, createPublicKey, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import { traced } from './oauth-server/entra.mjs';
import { authMethodOf, createBookkeeping, handleTestHook } from './oauth-server/hooks.mjs';
import { readBody, sendJson } from './oauth-server/http.mjs';
import { authorizeHeadless, interactions } from './oauth-server/pages.mjs';
import { createProvider, keepOfflineAccess } from './oauth-server/provider.mjs';
import { createResources } from './oauth-server/resources.mjs';

export const DEFAULT_TENANT_ID = 'c0ffee00-1a2b-4c3d-8e9f-0123456789ab';
export const DEFAULT_CLIENTS = Object.freeze({
  secret: { id: 'mailconnect-dev', secret: 'dev-client-secret' },
  certificate: { id: 'mailconnect-cert' },
  daemon: { id: 'mailconnect-daemon', secret: 'dev-daemon-secret' },
  mailbox: { id: 'mailconnect-mailbox', secret: 'dev-mailbox-secret' },
});
export const DEFAULT_MAILBOX_PASSWORD = 'dev-mailbox-password';

const DEFAULT_USERS = [
  { sub: 'AAAAAAAAAAAAAAAAAAAAAF8zmQ0u3NDKrwcSY2Wx2ZQ', oid: '5e0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b', name: 'Ada Lovelace', givenName: 'Ada', surname: 'Lovelace', username: 'ada@contoso.dev', jobTitle: 'Analyst' },
  { sub: 'AAAAAAAAAAAAAAAAAAAAAJ2HgrLZ3bQWmcpNqbcpXMA', oid: '7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d', name: 'Grace Hopper', givenName: 'Grace', surname: 'Hopper', username: 'grace@contoso.dev', jobTitle: 'Rear Admiral' },
];

const ZOOM_PATH = /^\/oauth\/(authorize|token|revoke)(\?.*)?$/;
const TENANT_PATH = /^\/(common|organizations|consumers|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9-]+(?:\.[a-z0-9-]+)+)(\/[^?]*)(\?.*)?$/i;

/** An RSA key pair for private_key_jwt, with the SHA-1 thumbprint (hex) the edge puts in `x5t`. */
export function generateCertificateKey() {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }),
    thumbprint: createHash('sha1').update(der).digest('hex').toUpperCase(),
  };
}

/**
 * Starts the server. Options (all optional):
 *   port (0 = any free port), host ('127.0.0.1'), tenantId, redirectUris, accessTokenTtl (s, 60),
 *   rotation ('rotate' | 'strict' | 'off'), rejectOrigin (true: a token request with an Origin
 *   header fails like Entra's AADSTS9002326), users, clients ({ secret, daemon, certificate }
 *   overriding DEFAULT_CLIENTS fields), certificate ({ publicKeyPem, thumbprint? }), log (false),
 *   tls ({ key, cert }: serve https, as the local stack's https mode does).
 * Resolves to { url, issuer, tenantId, port, clients, users, authorizeUrl(tenant?), tokenUrl(tenant?),
 *   graphUrl, counters(), requests(), lastAuthorization(), reset(), mode(), setMode(), revokeAll(),
 *   refreshTokens(), authorize(), stop() }.
 */
export async function startOAuthServer(options = {}) {
  const host = options.host ?? '127.0.0.1';
  const tenantId = options.tenantId ?? DEFAULT_TENANT_ID;
  const users = options.users ?? DEFAULT_USERS;
  const log = options.log ? (...a) => console.log('[oauth-server]', ...a) : () => {};
  const clientIds = {
    secret: { ...DEFAULT_CLIENTS.secret, ...options.clients?.secret },
    certificate: { ...DEFAULT_CLIENTS.certificate, ...options.clients?.certificate },
    daemon: { ...DEFAULT_CLIENTS.daemon, ...options.clients?.daemon },
    mailbox: { ...DEFAULT_CLIENTS.mailbox, ...options.clients?.mailbox },
  };
  const startMode = {
    down: false,
    slow: 0,
    rotation: options.rotation ?? 'rotate',
    accessTokenTtl: options.accessTokenTtl ?? 60,
  };
  const mode = { ...startMode };
  // Token and revocation requests that `slow` is holding right now.
  let held = 0;
  const bookkeeping = createBookkeeping();
  const store = new Map();

  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const signingJwk = { ...signingKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };

  const server = options.tls ? createTlsServer(options.tls) : createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const { port } = server.address();
  const url = `${options.tls ? 'https' : 'http'}://${host}:${port}`;
  const issuer = `${url}/${tenantId}/v2.0`;

  const provider = createProvider({
    issuer,
    tenantId,
    users,
    clientIds,
    redirectUris: options.redirectUris ?? ['http://localhost:8787/callback'],
    certificate: options.certificate,
    mailboxPassword: options.mailboxPassword ?? DEFAULT_MAILBOX_PASSWORD,
    rejectOrigin: options.rejectOrigin ?? true,
    signingJwk,
    mode,
    store,
    bookkeeping,
    log,
  });
  const providerCallback = provider.callback();
  const handleInteraction = interactions(provider, users);
  const resources = createResources({ url, issuer, verifyKey: createPublicKey(signingKey), users, bump: bookkeeping.bump });

  async function handle(req, res) {
    const { pathname } = new URL(req.url, url);
    if (pathname.startsWith('/_test/')) return handleTestHook(req, res, pathname, api);
    if (await resources.handle(req, res, pathname)) return undefined;
    const login = /^\/login\/([\w-]+)$/.exec(pathname);
    if (login) return handleInteraction(req, res, login[1]);

    const zoomPath = ZOOM_PATH.exec(req.url);
    if (zoomPath) req.url = `/${tenantId}/oauth2/v2.0/${zoomPath[1]}${zoomPath[2] ?? ''}`;
    const tenantPath = TENANT_PATH.exec(req.url);
    if (!tenantPath) return sendJson(res, 404, { error: 'not_found', error_description: `no route for ${pathname}` });
    const [, tenant, rest, query = ''] = tenantPath;
    req.tenant = tenant;
    const revocation = rest === '/oauth2/v2.0/revoke';
    if ((rest === '/oauth2/v2.0/token' || revocation) && req.method === 'POST') {
      if (mode.down === 'reset') return req.socket.destroy();
      if (mode.down) {
        await readBody(req).then((text) => {
          const form = new URLSearchParams(text);
          if (revocation) bookkeeping.countRevocation(form.get('token_type_hint') ?? undefined, authMethodOf(req.headers.authorization, Object.fromEntries(form)));
          else bookkeeping.count(form.get('grant_type') ?? 'unknown', 'unknown');
        }, () => {});
        return sendJson(res, 503, { error: 'temporarily_unavailable', ...traced(90033, 'A transient error has occurred. Please try again.') });
      }
      if (mode.slow > 0) {
        held += 1;
        await sleep(mode.slow).finally(() => { held -= 1; });
      }
    }
    let search = query;
    if (rest === '/oauth2/v2.0/authorize' && req.method === 'GET') {
      bookkeeping.authorize(query);
      search = keepOfflineAccess(query);
    }
    // Mount oidc-provider under /{tenant}: it derives every URL it prints from originalUrl.
    const inner = rest === '/v2.0/.well-known/openid-configuration' ? '/.well-known/openid-configuration' : rest;
    req.url = `${inner}${search}`;
    req.originalUrl = `/${tenant}${req.url}`;
    return providerCallback(req, res);
  }

  server.on('request', (req, res) => {
    handle(req, res).catch((err) => {
      console.error('[oauth-server]', err);
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err?.message ?? err) });
      else res.destroy();
    });
  });

  const api = {
    url,
    issuer,
    tenantId,
    port,
    clients: clientIds,
    users: users.map((u) => ({ ...u })),
    graphUrl: `${url}/graph/v1.0/me`,
    calendar: resources.calendar,
    authorizeUrl: (tenant = tenantId) => `${url}/${tenant}/oauth2/v2.0/authorize`,
    tokenUrl: (tenant = tenantId) => `${url}/${tenant}/oauth2/v2.0/token`,
    counters: bookkeeping.counters,
    requests: bookkeeping.requests,
    lastAuthorization: bookkeeping.lastAuthorization,
    reset() {
      bookkeeping.reset();
      resources.calendar.reset();
      Object.assign(mode, startMode);
      return api.mode();
    },
    mode: () => ({ ...mode }),
    held: () => held,
    setMode(changes) {
      for (const [key, value] of Object.entries(changes)) {
        const valid = {
          down: value === true || value === false || value === 'reset',
          slow: Number.isInteger(value) && value >= 0,
          rotation: ['rotate', 'strict', 'off'].includes(value),
          accessTokenTtl: Number.isInteger(value) && value > 0,
        }[key];
        if (!valid) throw new Error(`invalid mode ${key}=${JSON.stringify(value)}`);
      }
      Object.assign(mode, changes);
      return api.mode();
    },
    refreshTokens() {
      const now = Date.now();
      // As the adapter's `find` decides: a rotated-away token works unless rotation is strict.
      return [...store].filter(([key, { payload, expiresAt }]) => key.startsWith('RefreshToken:') && expiresAt > now && !(payload.consumed && mode.rotation === 'strict'))
        .map(([key]) => key.slice('RefreshToken:'.length));
    },
    revokeAll() {
      let revoked = 0;
      for (const key of store.keys()) {
        if (key.startsWith('Grant:') || key.startsWith('RefreshToken:')) {
          store.delete(key);
          revoked += 1;
        }
      }
      return revoked;
    },
    /** The headless sign-in: see the header. */
    authorize: (authorizeUrl, { user = users[0].username, consent } = {}) => authorizeHeadless(url, authorizeUrl, { user, consent }),
    verifyAccessToken: resources.verifyAccessToken,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  log(`listening on ${url} (issuer ${issuer})`);
  return api;
}

// `node tests/support/oauth-server.mjs --port 9010`: the local stack's server, until Ctrl-C.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '9010' },
      host: { type: 'string', default: '127.0.0.1' },
      'redirect-uri': { type: 'string', multiple: true },
      'access-token-ttl': { type: 'string', default: '60' },
      rotation: { type: 'string', default: 'rotate' },
      'cert-public-key': { type: 'string' },
      'cert-thumbprint': { type: 'string' },
      quiet: { type: 'boolean', default: false },
    },
  });
  const server = await startOAuthServer({
    port: Number(values.port),
    host: values.host,
    redirectUris: values['redirect-uri'],
    accessTokenTtl: Number(values['access-token-ttl']),
    rotation: values.rotation,
    certificate: values['cert-public-key']
      ? { publicKeyPem: readFileSync(values['cert-public-key'], 'utf8'), thumbprint: values['cert-thumbprint'] }
      : undefined,
    log: !values.quiet,
  });
  console.log(`OAuth server (Entra-like) at ${server.url}, issuer ${server.issuer}`);
  console.log(`  authorize ${server.authorizeUrl('common')}\n  token     ${server.tokenUrl('common')}\n  graph     ${server.graphUrl}`);
  const stop = () => server.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
