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
//   POST /_test/reset      zero counters and requests, empty the calendar; mode back to the start
//                                                         -- server.reset()
//   GET|POST /_test/mode   { down, slow, rotation, accessTokenTtl } (POST: any subset) --
//                          server.setMode({...}) / server.mode(). `down: true` answers every token
//                          and revocation request 503 temporarily_unavailable (AADSTS90033);
//                          `down: "reset"` drops the connection; `slow: ms` delays every token and
//                          revocation request. Requests answered so still count.
//   POST /_test/revoke     revokes every grant: refresh tokens then fail with invalid_grant 70008
//                                                         -- server.revokeAll()
// `server.refreshTokens()` (a method only) lists the refresh tokens that still work, oldest first,
// so a test can find the one a client holds and try it at the token endpoint itself.
// Headless flow: `await server.authorize(authorizeUrl, { user, consent: 'accept' | 'deny' })`
// drives the real sign-in and consent pages over HTTP and resolves to the final redirect URL
// (the callback with `code` or `error`), so tests without a browser can get codes.
//
// Listens on 127.0.0.1 only (option `host` may name another loopback address).

import { createHash, generateKeyPairSync, createPublicKey, randomBytes, randomUUID, verify as verifySignature } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import Provider, { errors, interactionPolicy } from 'oidc-provider';
import { createGraphCalendar } from './graph-calendar.mjs';

const { Check, Prompt, base: basePolicy } = interactionPolicy;

export const DEFAULT_TENANT_ID = 'c0ffee00-1a2b-4c3d-8e9f-0123456789ab';
export const DEFAULT_CLIENTS = Object.freeze({
  secret: { id: 'mailconnect-dev', secret: 'dev-client-secret' },
  certificate: { id: 'mailconnect-cert' },
  daemon: { id: 'mailconnect-daemon', secret: 'dev-daemon-secret' },
  mailbox: { id: 'mailconnect-mailbox', secret: 'dev-mailbox-secret' },
});
export const DEFAULT_MAILBOX_PASSWORD = 'dev-mailbox-password';

const GRAPH = 'https://graph.microsoft.com';
const OUTLOOK = 'https://outlook.office.com';
const OUTLOOK365 = 'https://outlook.office365.com';

// Delegated permissions each resource knows, with the words the consent page shows.
const RESOURCES = {
  [GRAPH]: {
    'User.Read': 'Sign you in and read your profile',
    'Calendars.ReadBasic': 'Read basic details of your calendars',
    'Calendars.Read': 'Read your calendars',
    'Calendars.ReadWrite': 'Have full access to your calendars',
    'Mail.Read': 'Read your mail',
    'Mail.Send': 'Send mail as you',
    'OnlineMeetings.ReadWrite': 'Read and create your online meetings',
  },
  [OUTLOOK]: {
    'IMAP.AccessAsUser.All': 'Read and write access to your mailboxes via IMAP',
    'POP.AccessAsUser.All': 'Read and write access to your mailboxes via POP',
    'SMTP.Send': 'Send email from your mailboxes using SMTP AUTH',
  },
  [OUTLOOK365]: {
    'EWS.AccessAsUser.All': 'Access your mailboxes via Exchange Web Services',
  },
};
// Application permissions (client credentials) an admin granted the daemon, per resource.
const APP_ROLES = {
  [OUTLOOK365]: ['SMTP.SendAsApp', 'IMAP.AccessAsApp', 'POP.AccessAsApp'],
  [GRAPH]: ['Mail.Send'],
};
const OIDC_SCOPE_WORDS = {
  openid: 'Sign you in',
  profile: 'View your basic profile',
  email: 'View your email address',
  offline_access: 'Maintain access to data you have given it access to',
};
const XOAUTH2_SCOPES = { IMAP: 'IMAP.AccessAsUser.All', POP: 'POP.AccessAsUser.All', SMTP: 'SMTP.Send' };
const GRAPH_ME_SCOPES = ['User.Read', 'User.ReadWrite', 'User.ReadBasic.All', 'User.Read.All', 'Directory.Read.All'];

const DEFAULT_USERS = [
  { sub: 'AAAAAAAAAAAAAAAAAAAAAF8zmQ0u3NDKrwcSY2Wx2ZQ', oid: '5e0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b', name: 'Ada Lovelace', givenName: 'Ada', surname: 'Lovelace', username: 'ada@contoso.dev', jobTitle: 'Analyst' },
  { sub: 'AAAAAAAAAAAAAAAAAAAAAJ2HgrLZ3bQWmcpNqbcpXMA', oid: '7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d', name: 'Grace Hopper', givenName: 'Grace', surname: 'Hopper', username: 'grace@contoso.dev', jobTitle: 'Rear Admiral' },
];

const ZOOM_PATH = /^\/oauth\/(authorize|token|revoke)(\?.*)?$/;
const TENANT_PATH = /^\/(common|organizations|consumers|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9-]+(?:\.[a-z0-9-]+)+)(\/[^?]*)(\?.*)?$/i;
// Marks an authorize request whose `offline_access` we kept by adding `prompt=consent`:
// oidc-provider drops offline_access without that prompt (OIDC Core 11), Entra does not.
const IMPLICIT_CONSENT = 'x_mailconnect_implicit_consent';

/** The resource a scope belongs to, the way Entra reads it (core's `Scope::resource`). */
function resourceOf(scope) {
  if (scope in OIDC_SCOPE_WORDS) return undefined;
  const i = scope.lastIndexOf('/');
  return scope.includes('://') && i > 0 ? scope.slice(0, i) : GRAPH;
}

function resourceScopes(resource) {
  const names = Object.keys(RESOURCES[resource] ?? {});
  const full = resource === GRAPH ? names : names.map((n) => `${resource}/${n}`);
  return [...full, `${resource}/.default`];
}

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

/** A minimal in-memory adapter that also implements the refresh-token rotation modes. */
function memoryAdapter(store, mode) {
  const live = (key) => {
    const entry = store.get(key);
    if (entry && entry.expiresAt <= Date.now()) store.delete(key);
    return store.get(key)?.payload;
  };
  return class MemoryAdapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${this.model}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
      store.set(this.key(id), { payload, expiresAt });
      if (this.model === 'Session') store.set(`SessionUid:${payload.uid}`, { payload: id, expiresAt });
    }

    async find(id) {
      const payload = live(this.key(id));
      if (this.model === 'RefreshToken' && payload?.consumed) {
        // A rotated-away refresh token: dead under strict rotation, still good under "rotate".
        if (mode.rotation === 'strict') return undefined;
        const { consumed, ...usable } = payload;
        return usable;
      }
      return payload;
    }

    async findByUid(uid) {
      const id = live(`SessionUid:${uid}`);
      return id && this.find(id);
    }

    async findByUserCode() {
      return undefined;
    }

    async consume(id) {
      const payload = live(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id) {
      store.delete(this.key(id));
    }

    async revokeByGrantId(grantId) {
      for (const [key, { payload }] of store) {
        if (payload?.grantId === grantId) store.delete(key);
      }
    }
  };
}

/** Entra's AADSTS number and text for a token endpoint error, from oidc-provider's detail. */
function entraError(body, detail, { clientId, tenant, redirectUri }) {
  const d = detail ?? '';
  const pick = () => {
    switch (body.error) {
      case 'invalid_client':
        if (d === 'client not found') return [700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'.`];
        if (d === 'invalid secret provided') return [7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`];
        if (d.startsWith('the provided authentication mechanism')) return [7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."];
        if (/exp|expired|nbf/i.test(d) && !/expiration must/.test(d)) return [700024, 'Client assertion is not within its valid time range.'];
        return [700027, `Client assertion failed signature validation or the certificate used to sign it is not registered on application '${clientId}'.`];
      case 'invalid_grant':
        if (d === 'invalid username or password') return [50126, 'Error validating credentials due to invalid username or password.'];
        if (d.includes('already consumed')) return [54005, 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.'];
        if (d.includes('code_verifier')) return [501481, 'The Code_Verifier does not match the code_challenge supplied in the authorization request.'];
        if (d.includes('redirect_uri')) return [50011, `The redirect URI '${redirectUri}' specified in the request does not match the redirect URI used to obtain the authorization code.`];
        return [70008, 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.'];
      case 'invalid_scope':
        return [70011, `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. ${body.error_description ?? ''}`.trim()];
      case 'invalid_request':
        if (d.includes('no client authentication') || body.error_description?.includes('no client authentication')) {
          return [7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."];
        }
        return [900144, body.error_description ?? 'The request body is invalid.'];
      case 'unauthorized_client':
        return [700016, `The application '${clientId}' is not allowed to use this grant type.`];
      default:
        return undefined;
    }
  };
  return pick();
}

function traced(code, text) {
  const now = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const traceId = randomUUID();
  const correlationId = randomUUID();
  return {
    error_description: `AADSTS${code}: ${text} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${now}`,
    error_codes: [code],
    timestamp: now,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  };
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
  :root { color-scheme: light; font-family: "Segoe UI", system-ui, -apple-system, sans-serif; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f2f2f2; color: #1b1b1b; }
  main { width: min(440px, 92vw); background: #fff; box-shadow: 0 2px 6px rgba(0,0,0,.2); padding: 44px; box-sizing: border-box; }
  .brand { display: flex; gap: 8px; align-items: center; font-weight: 600; color: #5e5e5e; margin-bottom: 16px; font-size: 15px; }
  .logo { display: grid; grid-template-columns: 10px 10px; gap: 2px; }
  .logo i { width: 10px; height: 10px; display: block; }
  h1 { font-size: 24px; font-weight: 600; margin: 0 0 12px; }
  p, li { font-size: 15px; line-height: 1.45; }
  label { display: block; font-size: 13px; color: #5e5e5e; margin-top: 12px; }
  input[type=text], input[type=password] { width: 100%; box-sizing: border-box; border: 0; border-bottom: 1px solid #666; padding: 6px 0; font: inherit; font-size: 15px; outline: none; }
  input:focus { border-bottom-color: #0067b8; }
  .actions { display: flex; justify-content: flex-end; gap: 8px; margin-top: 28px; }
  button { font: inherit; font-size: 15px; min-width: 108px; padding: 6px 12px; border: 1px solid transparent; cursor: pointer; }
  button.primary { background: #0067b8; color: #fff; }
  button.secondary { background: #ccc; color: #1b1b1b; }
  .error { color: #e81123; font-size: 14px; }
  .user { font-size: 14px; color: #1b1b1b; margin-bottom: 8px; }
  ul { padding-left: 20px; }
  .dev { margin-top: 24px; font-size: 12px; color: #767676; }
</style></head>
<body><main>
<div class="brand"><span class="logo"><i style="background:#f25022"></i><i style="background:#7fba00"></i><i style="background:#00a4ef"></i><i style="background:#ffb900"></i></span>Microsoft (local test server)</div>
${body}
</main></body></html>`;
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function sendHtml(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

/**
 * Starts the server. Options (all optional):
 *   port (0 = any free port), host ('127.0.0.1'), tenantId, redirectUris, accessTokenTtl (s, 60),
 *   rotation ('rotate' | 'strict' | 'off'), rejectOrigin (true: a token request with an Origin
 *   header fails like Entra's AADSTS9002326), users, clients ({ secret, daemon, certificate }
 *   overriding DEFAULT_CLIENTS fields), certificate ({ publicKeyPem, thumbprint? }), log (false),
 *   tls ({ key, cert }: serve https, as the local stack's https mode does).
 * Resolves to { url, issuer, tenantId, port, clients, users, authorizeUrl(tenant?), tokenUrl(tenant?),
 *   graphUrl, counters(), requests(), reset(), mode(), setMode(), revokeAll(), refreshTokens(), authorize(), stop() }.
 */
export async function startOAuthServer(options = {}) {
  const host = options.host ?? '127.0.0.1';
  const tenantId = options.tenantId ?? DEFAULT_TENANT_ID;
  const redirectUris = options.redirectUris ?? ['http://localhost:8787/callback'];
  const users = options.users ?? DEFAULT_USERS;
  const rejectOrigin = options.rejectOrigin ?? true;
  const log = options.log ? (...a) => console.log('[oauth-server]', ...a) : () => {};
  const clientIds = {
    secret: { ...DEFAULT_CLIENTS.secret, ...options.clients?.secret },
    certificate: { ...DEFAULT_CLIENTS.certificate, ...options.clients?.certificate },
    daemon: { ...DEFAULT_CLIENTS.daemon, ...options.clients?.daemon },
    mailbox: { ...DEFAULT_CLIENTS.mailbox, ...options.clients?.mailbox },
  };
  const mailboxPassword = options.mailboxPassword ?? DEFAULT_MAILBOX_PASSWORD;
  const startMode = {
    down: false,
    slow: 0,
    rotation: options.rotation ?? 'rotate',
    accessTokenTtl: options.accessTokenTtl ?? 60,
  };
  const mode = { ...startMode };
  const emptyCounters = () => ({
    token: { total: 0, by_grant_type: {}, by_client: {} },
    revocation: { total: 0, by_token_type_hint: {}, by_auth_method: {} },
    authorize: 0,
    graph: 0,
    xoauth2: 0,
  });
  let counters = emptyCounters();
  let requestLog = [];
  const store = new Map();
  const tokenErrors = new WeakMap();

  const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const signingJwk = { ...signingKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' };
  const verifyKey = createPublicKey(signingKey);

  const server = options.tls ? createTlsServer(options.tls) : createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, resolve);
  });
  const { port } = server.address();
  const url = `${options.tls ? 'https' : 'http'}://${host}:${port}`;
  const issuer = `${url}/${tenantId}/v2.0`;
  const thumbprint = options.certificate?.thumbprint
    ? Buffer.from(options.certificate.thumbprint.replace(/[^0-9a-f]/gi, ''), 'hex').toString('base64url')
    : undefined;

  const clients = [
    {
      client_id: clientIds.secret.id,
      client_secret: clientIds.secret.secret,
      client_name: 'Contoso Webmail (mailconnect dev)',
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
    {
      client_id: clientIds.daemon.id,
      client_secret: clientIds.daemon.secret,
      client_name: 'Contoso Mail Relay (mailconnect dev)',
      redirect_uris: [],
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: clientIds.mailbox.id,
      client_secret: clientIds.mailbox.secret,
      client_name: 'Contoso Mail Relay, service mailbox (mailconnect dev)',
      redirect_uris: [],
      grant_types: ['password'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ];
  if (options.certificate) {
    const jwk = createPublicKey(options.certificate.publicKeyPem).export({ format: 'jwk' });
    clients.push({
      client_id: clientIds.certificate.id,
      client_name: 'Contoso Webmail, certificate credential (mailconnect dev)',
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS256',
      jwks: { keys: [{ ...jwk, use: 'sig', alg: 'RS256' }] },
    });
  }

  function resourceServerInfo(resource, appOnly) {
    if (!RESOURCES[resource]) throw new errors.InvalidTarget(`unknown resource ${resource}`);
    return {
      // Client credentials take only `{resource}/.default`, as in Entra.
      scope: appOnly ? `${resource}/.default` : resourceScopes(resource).join(' '),
      audience: resource,
      accessTokenFormat: 'jwt',
      accessTokenTTL: mode.accessTokenTtl,
      jwt: { sign: { alg: 'RS256' } },
    };
  }

  const userById = new Map(users.map((u) => [u.sub, u]));
  const userByName = new Map(users.map((u) => [u.username.toLowerCase(), u]));

  const policy = basePolicy();
  // Entra-like consent: `prompt=consent` we added only to keep offline_access forces nothing.
  const consent = policy.get('consent');
  consent.checks.remove('consent_prompt');
  consent.checks.add(new Check('consent_prompt', 'consent prompt was not resolved', 'consent_required', (ctx) =>
    ctx.oidc.prompts.has('consent') && ctx.oidc.promptPending('consent') && !ctx.oidc.params[IMPLICIT_CONSENT]), 0);
  // Entra's `prompt=select_account` shows the account picker even with a session.
  policy.add(new Prompt({ name: 'select_account', requestable: true }), 0);

  const provider = new Provider(issuer, {
    adapter: memoryAdapter(store, mode),
    clients,
    jwks: { keys: [signingJwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub', 'oid', 'tid', 'ver'],
      profile: ['name', 'preferred_username', 'given_name', 'family_name'],
      email: ['email'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    conformIdTokenClaims: false, // Entra puts name/preferred_username in the ID token itself.
    extraParams: [IMPLICIT_CONSENT, 'domain_hint'],
    pkce: { required: () => true },
    clientBasedCORS: () => false,
    responseTypes: ['code'],
    routes: {
      authorization: '/oauth2/v2.0/authorize',
      token: '/oauth2/v2.0/token',
      revocation: '/oauth2/v2.0/revoke',
      jwks: '/discovery/v2.0/keys',
      end_session: '/oauth2/v2.0/logout',
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // A client may revoke only its own tokens (the default policy also lets confidential
      // clients revoke others' tokens, and warns about it).
      revocation: { enabled: true, allowedPolicy: (ctx, client, token) => token.clientId === client.clientId },
      userinfo: { enabled: false },
      dPoP: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      resourceIndicators: {
        enabled: true,
        // Entra picks the resource from the scopes; there is no `resource` parameter in v2.
        defaultResource: (ctx) => {
          const scopes = (ctx.oidc.params.scope ?? '').split(' ').filter(Boolean);
          return scopes.map(resourceOf).find(Boolean) ?? GRAPH;
        },
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource) => resourceServerInfo(resource, ctx.oidc.params?.grant_type === 'client_credentials'),
      },
    },
    extraTokenClaims: (ctx, token) => {
      const resource = token.resourceServer?.audience;
      const claims = { ver: '2.0', tid: tenantId, azp: token.clientId };
      if (token.kind === 'ClientCredentials') {
        return { ...claims, roles: APP_ROLES[resource] ?? [], oid: token.clientId };
      }
      const user = userById.get(token.accountId);
      const prefix = resource === GRAPH ? '' : `${resource}/`;
      const scp = (token.scope ?? '').split(' ').filter((s) => s && resourceOf(s) === resource && !s.endsWith('/.default'))
        .map((s) => (prefix && s.startsWith(prefix) ? s.slice(prefix.length) : s));
      return { ...claims, scp: scp.join(' '), oid: user?.oid, name: user?.name, preferred_username: user?.username };
    },
    async findAccount(ctx, sub) {
      const user = userById.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return {
            sub,
            oid: user.oid,
            tid: tenantId,
            ver: '2.0',
            name: user.name,
            given_name: user.givenName,
            family_name: user.surname,
            preferred_username: user.username,
            email: user.username,
          };
        },
      };
    },
    expiresWithSession: () => false,
    issueRefreshToken: (ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    rotateRefreshToken: () => mode.rotation !== 'off',
    ttl: {
      AccessToken: () => mode.accessTokenTtl,
      ClientCredentials: () => mode.accessTokenTtl,
      AuthorizationCode: () => 600,
      IdToken: () => 3600,
      Interaction: () => 3600,
      Session: () => 24 * 3600,
      Grant: () => 90 * 24 * 3600,
      RefreshToken: () => 90 * 24 * 3600,
    },
    interactions: { policy, url: (ctx, interaction) => `/login/${interaction.uid}` },
    async assertJwtClientAuthClaimsAndHeader(ctx, claims, header) {
      if (thumbprint && header.x5t !== thumbprint) {
        throw new errors.InvalidClientAuth('x5t does not match the registered certificate');
      }
    },
    async renderError(ctx, out) {
      const code = out.error === 'invalid_redirect_uri' || /redirect_uri/.test(out.error_description ?? '') ? 50011
        : out.error === 'invalid_client' ? 700016 : undefined;
      const title = code ? `AADSTS${code}: ${out.error_description}` : `${out.error}: ${out.error_description}`;
      ctx.type = 'html';
      ctx.body = page('Sign in', `<h1>Sorry, but we’re having trouble signing you in.</h1><p class="error" id="error">${escapeHtml(title)}</p>`);
    },
  });
  // The resource owner password grant (RFC 6749 §4.3), which oidc-provider does not ship: the
  // user's password stands in for the sign-in, and the token is the one a sign-in would give.
  provider.registerGrantType('password', async (ctx) => {
    const { client, params } = ctx.oidc;
    const user = userByName.get(String(params.username ?? '').trim().toLowerCase());
    if (!user || params.password !== mailboxPassword) throw new errors.InvalidGrant('invalid username or password');
    const requested = String(params.scope ?? '').split(' ').filter(Boolean);
    const resource = requested.map(resourceOf).find(Boolean) ?? GRAPH;
    const info = resourceServerInfo(resource, false);
    const known = new Set(info.scope.split(' '));
    const prefix = resource === GRAPH ? '' : `${resource}/`;
    const scope = requested.filter((s) => known.has(s) || known.has(`${prefix}${s}`)).join(' ');
    if (!scope) throw new errors.InvalidScope('no scope of a known resource requested');
    const token = new ctx.oidc.provider.AccessToken({ accountId: user.sub, client, scope, gty: 'password' });
    token.resourceServer = { ...info, identifier: () => resource, get scopes() { return known; } };
    const value = await token.save();
    ctx.body = { access_token: value, token_type: 'Bearer', expires_in: token.expiration, scope };
  }, ['username', 'password', 'scope']);
  provider.on('grant.error', (ctx, err) => tokenErrors.set(ctx, err));
  provider.on('server_error', (ctx, err) => console.error('[oauth-server] server error', err));

  // Token endpoint bookkeeping and Entra's error shape, around oidc-provider's own handling.
  provider.use(async (ctx, next) => {
    if (!(ctx.method === 'POST' && ctx.path === '/oauth2/v2.0/token')) return next();
    if (rejectOrigin && ctx.get('origin')) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', ...traced(9002326, "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type. Request origin: '" + ctx.get('origin') + "'.") };
      record({ grant_type: undefined, client_id: undefined, auth_method: undefined, origin: ctx.get('origin'), status: 400, error: 'invalid_request', error_codes: [9002326] });
      return undefined;
    }
    await next();
    const params = ctx.oidc?.params ?? {};
    const grantType = params.grant_type ?? 'unknown';
    const clientId = ctx.oidc?.client?.clientId ?? params.client_id ?? 'unknown';
    if (ctx.body?.error) {
      const err = tokenErrors.get(ctx);
      const entra = entraError(ctx.body, err?.error_detail, { clientId, tenant: ctx.req.tenant, redirectUri: params.redirect_uri });
      if (entra) Object.assign(ctx.body, traced(...entra));
    } else if (ctx.body?.expires_in) {
      ctx.body.ext_expires_in = ctx.body.expires_in;
    }
    const authMethod = authMethodOf(ctx.get('authorization'), params);
    count(grantType, clientId);
    record({ grant_type: grantType, client_id: clientId, auth_method: authMethod, origin: ctx.get('origin') || null, status: ctx.status, error: ctx.body?.error, error_codes: ctx.body?.error_codes });
    log('token', grantType, clientId, ctx.status, ctx.body?.error ?? '');
    return undefined;
  });

  // Revocation bookkeeping; oidc-provider answers the request itself.
  provider.use(async (ctx, next) => {
    if (!(ctx.method === 'POST' && ctx.path === '/oauth2/v2.0/revoke')) return next();
    await next();
    const params = ctx.oidc?.params ?? {};
    countRevocation(params.token_type_hint, authMethodOf(ctx.get('authorization'), params));
    log('revocation', params.token_type_hint ?? '', ctx.status, ctx.body?.error ?? '');
    return undefined;
  });

  function authMethodOf(authorization, params) {
    return authorization ? 'client_secret_basic' : params.client_assertion ? 'private_key_jwt' : params.client_secret ? 'client_secret_post' : 'none';
  }

  function countRevocation(hint = 'none', authMethod) {
    const { revocation } = counters;
    revocation.total += 1;
    revocation.by_token_type_hint[hint] = (revocation.by_token_type_hint[hint] ?? 0) + 1;
    revocation.by_auth_method[authMethod] = (revocation.by_auth_method[authMethod] ?? 0) + 1;
  }

  function count(grantType, clientId) {
    counters.token.total += 1;
    counters.token.by_grant_type[grantType] = (counters.token.by_grant_type[grantType] ?? 0) + 1;
    const perClient = (counters.token.by_client[clientId] ??= {});
    perClient[grantType] = (perClient[grantType] ?? 0) + 1;
  }

  function record(entry) {
    requestLog.push({ at: new Date().toISOString(), ...entry });
    if (requestLog.length > 100) requestLog = requestLog.slice(-100);
  }

  const providerCallback = provider.callback();

  async function handleInteraction(req, res, uid) {
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      return sendHtml(res, 400, page('Sign in', '<h1>This sign-in request expired</h1><p class="error" id="error">Close this window and connect again.</p>'));
    }
    if (details.uid !== uid) return sendHtml(res, 400, page('Sign in', '<h1>Wrong sign-in request</h1>'));
    const { prompt, params } = details;
    const client = await provider.Client.find(params.client_id);
    const form = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : undefined;

    if (prompt.name === 'login' || prompt.name === 'select_account') {
      if (form) {
        const user = userByName.get((form.get('login') ?? '').trim().toLowerCase());
        if (user && form.get('password')) {
          return provider.interactionFinished(req, res, { login: { accountId: user.sub }, select_account: {} }, { mergeWithLastSubmission: false });
        }
        return sendHtml(res, 200, loginPage(uid, client, form.get('login') ?? '', user ? 'Enter your password.' : 'This username may be incorrect. Make sure you typed it correctly.'));
      }
      return sendHtml(res, 200, loginPage(uid, client, params.login_hint ?? users[0].username));
    }

    if (prompt.name === 'consent') {
      if (form?.get('decision') === 'deny') {
        return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'AADSTS65004: User declined to consent to access the app.' }, { mergeWithLastSubmission: false });
      }
      if (form?.get('decision') === 'accept') {
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
        const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
        if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
        if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
        for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
        const grantId = await grant.save();
        return provider.interactionFinished(req, res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
      }
      const user = userById.get(details.session.accountId);
      return sendHtml(res, 200, consentPage(uid, client, user, params.scope ?? ''));
    }
    return sendHtml(res, 400, page('Sign in', `<h1>Unsupported prompt ${escapeHtml(prompt.name)}</h1>`));
  }

  function loginPage(uid, client, login, error) {
    return page('Sign in to your account', `
<h1>Sign in</h1>
<p>to continue to <b>${escapeHtml(client?.clientName ?? client?.clientId ?? 'the app')}</b></p>
<form method="post" action="/login/${escapeHtml(uid)}" id="login-form">
  <label for="login">Email or phone</label>
  <input type="text" id="login" name="login" value="${escapeHtml(login)}" autocomplete="username">
  <label for="password">Password</label>
  <input type="password" id="password" name="password" value="password" autocomplete="current-password">
  ${error ? `<p class="error" id="error">${escapeHtml(error)}</p>` : ''}
  <div class="actions"><button class="primary" type="submit" id="signin">Sign in</button></div>
</form>
<p class="dev">Local test server: accounts ${users.map((u) => escapeHtml(u.username)).join(', ')}; any password.</p>`);
  }

  function consentPage(uid, client, user, scope) {
    const items = scope.split(' ').filter(Boolean).map((s) => {
      const resource = resourceOf(s);
      const name = resource && resource !== GRAPH ? s.slice(resource.length + 1) : s;
      return `<li>${escapeHtml(OIDC_SCOPE_WORDS[s] ?? RESOURCES[resource]?.[name] ?? s)} <small>(${escapeHtml(s)})</small></li>`;
    }).join('');
    return page('Permissions requested', `
<div class="user">${escapeHtml(user?.username ?? '')}</div>
<h1>Permissions requested</h1>
<p><b>${escapeHtml(client?.clientName ?? client?.clientId ?? 'This app')}</b> would like to:</p>
<ul id="scopes">${items}</ul>
<p>Accepting these permissions means that you allow this app to use your data as specified in their terms of service.</p>
<form method="post" action="/login/${escapeHtml(uid)}">
  <div class="actions">
    <button class="secondary" type="submit" name="decision" value="deny" id="deny">Deny</button>
    <button class="primary" type="submit" name="decision" value="accept" id="accept">Accept</button>
  </div>
</form>`);
  }

  function verifyAccessToken(token, audience) {
    const parts = token.split('.');
    if (parts.length !== 3) return { error: 'Invalid JWT token. The token is not in JWS compact format.' };
    const ok = verifySignature('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), verifyKey, Buffer.from(parts[2], 'base64url'));
    if (!ok) return { error: 'Invalid JWT token. Token signature is invalid.' };
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== issuer) return { error: 'Invalid JWT token. Unknown issuer.' };
    if (!(claims.exp > now)) return { error: 'Lifetime validation failed, the token is expired.' };
    if (claims.aud !== audience) return { error: 'Invalid audience.' };
    return { claims };
  }

  function handleGraphMe(req, res) {
    counters.graph += 1;
    const cors = { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'www-authenticate' };
    const challenge = (error, description) =>
      `Bearer realm="", authorization_uri="${url}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"${error ? `, error="${error}", error_description="${description}"` : ''}`;
    const fail = (status, code, message, error) => sendJson(res, status, { error: { code, message, innerError: { date: new Date().toISOString(), 'request-id': randomUUID() } } },
      { ...cors, ...(status === 401 ? { 'www-authenticate': challenge(error, message) } : {}) });
    const auth = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!match) return fail(401, 'InvalidAuthenticationToken', 'Access token is empty.');
    const { claims, error } = verifyAccessToken(match[1], GRAPH);
    if (error) return fail(401, 'InvalidAuthenticationToken', error, 'invalid_token');
    const scopes = (claims.scp ?? '').split(' ');
    if (!GRAPH_ME_SCOPES.some((s) => scopes.includes(s))) {
      return fail(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
    }
    const user = userById.get(claims.sub);
    if (!user) return fail(404, 'Request_ResourceNotFound', 'The user does not exist.');
    return sendJson(res, 200, {
      '@odata.context': `${url}/graph/v1.0/$metadata#users/$entity`,
      businessPhones: [],
      displayName: user.name,
      givenName: user.givenName,
      jobTitle: user.jobTitle,
      mail: user.username,
      mobilePhone: null,
      officeLocation: null,
      preferredLanguage: 'en-GB',
      surname: user.surname,
      userPrincipalName: user.username,
      id: user.oid,
    }, cors);
  }

  const calendar = createGraphCalendar({ verifyAccessToken, readBody, sendJson });

  // What Exchange Online checks when a mail client authenticates with XOAUTH2 (RFC 7628 form).
  async function handleXoauth2(req, res) {
    counters.xoauth2 += 1;
    const cors = { 'access-control-allow-origin': '*' };
    let input;
    try {
      input = JSON.parse(await readBody(req));
    } catch {
      return sendJson(res, 400, { ok: false, response: 'A1 BAD Invalid request body.' }, cors);
    }
    const tag = { IMAP: 'A1 ', POP: '', SMTP: '' }[input?.protocol];
    if (tag === undefined) return sendJson(res, 400, { ok: false, response: 'protocol must be IMAP, POP or SMTP' }, cors);
    const fail = { IMAP: 'A1 NO AUTHENTICATE failed.', POP: '-ERR Authentication failure: unknown user name or bad password.', SMTP: '535 5.7.3 Authentication unsuccessful' }[input.protocol];
    const sasl = Buffer.from(String(input.xoauth2 ?? ''), 'base64').toString('utf8');
    const parsed = /^user=([^\x01]+)\x01auth=Bearer ([^\x01]+)\x01\x01$/.exec(sasl);
    if (!parsed) return sendJson(res, 200, { ok: false, response: fail, reason: 'not an XOAUTH2 initial response' }, cors);
    const { claims, error } = verifyAccessToken(parsed[2], OUTLOOK);
    const scopes = (claims?.scp ?? '').split(' ');
    const reason = error
      ?? (!scopes.includes(XOAUTH2_SCOPES[input.protocol]) ? `the token lacks ${XOAUTH2_SCOPES[input.protocol]}` : undefined)
      ?? (claims.preferred_username?.toLowerCase() !== parsed[1].toLowerCase() ? `the token is not for ${parsed[1]}` : undefined);
    if (reason) return sendJson(res, 200, { ok: false, response: fail, reason }, cors);
    const ok = { IMAP: 'A1 OK AUTHENTICATE completed.', POP: '+OK User successfully authenticated.', SMTP: '235 2.7.0 Authentication successful' }[input.protocol];
    return sendJson(res, 200, { ok: true, response: ok, user: claims.preferred_username }, cors);
  }

  async function handleTestHook(req, res, path) {
    const body = req.method === 'POST' ? await readBody(req) : '';
    const route = `${req.method} ${path}`;
    switch (route) {
      case 'GET /_test/counters': return sendJson(res, 200, api.counters());
      case 'GET /_test/requests': return sendJson(res, 200, api.requests());
      case 'POST /_test/reset': return sendJson(res, 200, api.reset());
      case 'GET /_test/mode': return sendJson(res, 200, api.mode());
      case 'POST /_test/mode': {
        try {
          return sendJson(res, 200, api.setMode(JSON.parse(body || '{}')));
        } catch (err) {
          return sendJson(res, 400, { error: 'invalid_request', error_description: err.message });
        }
      }
      case 'POST /_test/revoke': return sendJson(res, 200, { revoked: api.revokeAll() });
      default: return sendJson(res, 404, { error: 'not_found' });
    }
  }

  async function handle(req, res) {
    const { pathname } = new URL(req.url, url);
    if (pathname.startsWith('/_test/')) return handleTestHook(req, res, pathname);
    if (pathname === '/graph/v1.0/me') {
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'authorization', 'access-control-allow-methods': 'GET', 'access-control-max-age': '600' });
        return res.end();
      }
      return handleGraphMe(req, res);
    }
    if (pathname.startsWith('/graph/v1.0/me/')) return calendar.handle(req, res, pathname.slice('/graph/v1.0'.length));
    if (pathname === '/outlook/xoauth2') {
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'content-type', 'access-control-allow-methods': 'POST', 'access-control-max-age': '600' });
        return res.end();
      }
      if (req.method === 'POST') return handleXoauth2(req, res);
    }
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
          if (revocation) countRevocation(form.get('token_type_hint') ?? undefined, authMethodOf(req.headers.authorization, Object.fromEntries(form)));
          else count(form.get('grant_type') ?? 'unknown', 'unknown');
        }, () => {});
        return sendJson(res, 503, { error: 'temporarily_unavailable', ...traced(90033, 'A transient error has occurred. Please try again.') });
      }
      if (mode.slow > 0) await sleep(mode.slow);
    }
    let search = query;
    if (rest === '/oauth2/v2.0/authorize' && req.method === 'GET') {
      counters.authorize += 1;
      search = keepOfflineAccess(query);
    }
    // Mount oidc-provider under /{tenant}: it derives every URL it prints from originalUrl.
    const inner = rest === '/v2.0/.well-known/openid-configuration' ? '/.well-known/openid-configuration' : rest;
    req.url = `${inner}${search}`;
    req.originalUrl = `/${tenant}${req.url}`;
    return providerCallback(req, res);
  }

  // Adds `prompt=consent` (flagged as implicit) so oidc-provider keeps offline_access, as Entra does.
  function keepOfflineAccess(query) {
    const params = new URLSearchParams(query);
    const scopes = (params.get('scope') ?? '').split(' ');
    const prompts = (params.get('prompt') ?? '').split(' ').filter(Boolean);
    if (!scopes.includes('offline_access') || prompts.includes('consent') || prompts.includes('none')) return query;
    params.set('prompt', [...prompts, 'consent'].join(' '));
    params.set(IMPLICIT_CONSENT, '1');
    return `?${params}`;
  }

  server.on('request', (req, res) => {
    handle(req, res).catch((err) => {
      console.error('[oauth-server]', err);
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(err?.message ?? err) });
      else res.destroy();
    });
  });

  // Drives the sign-in pages over HTTP with a cookie jar, like a browser would.
  async function authorize(authorizeUrl, { user = users[0].username, consent: decision = 'accept' } = {}) {
    const jar = new Map();
    const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const remember = (response) => {
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const i = pair.indexOf('=');
        jar.set(pair.slice(0, i).trim(), pair.slice(i + 1));
      }
    };
    let next = new URL(authorizeUrl);
    let form;
    for (let hop = 0; hop < 20; hop += 1) {
      if (next.origin !== url) return next.href; // back at the client: the callback URL
      const response = await fetch(next, {
        method: form ? 'POST' : 'GET',
        redirect: 'manual',
        headers: { cookie: cookieHeader(), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        body: form ? new URLSearchParams(form) : undefined,
      });
      remember(response);
      form = undefined;
      if (response.status >= 300 && response.status < 400) {
        next = new URL(response.headers.get('location'), next);
        continue;
      }
      const html = await response.text();
      if (html.includes('id="login-form"')) form = { login: user, password: 'password' };
      else if (html.includes('id="accept"')) form = { decision };
      else throw new Error(`unexpected page at ${next.pathname} (${response.status}): ${html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}`);
    }
    throw new Error('too many redirects');
  }

  const api = {
    url,
    issuer,
    tenantId,
    port,
    clients: clientIds,
    users: users.map((u) => ({ ...u })),
    graphUrl: `${url}/graph/v1.0/me`,
    calendar,
    authorizeUrl: (tenant = tenantId) => `${url}/${tenant}/oauth2/v2.0/authorize`,
    tokenUrl: (tenant = tenantId) => `${url}/${tenant}/oauth2/v2.0/token`,
    counters: () => structuredClone(counters),
    requests: () => structuredClone(requestLog),
    reset() {
      counters = emptyCounters();
      requestLog = [];
      calendar.reset();
      Object.assign(mode, startMode);
      return api.mode();
    },
    mode: () => ({ ...mode }),
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
    authorize,
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
