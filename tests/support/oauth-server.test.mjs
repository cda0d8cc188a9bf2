// Proves the local Entra-like OAuth server: a full code flow with PKCE in a real browser, and the
// Entra behaviours the edge Worker's error handling depends on. Run: node --test tests/support/

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, randomBytes, randomUUID, sign } from 'node:crypto';
import { createServer } from 'node:http';
import { generateCertificateKey, startOAuthServer } from './oauth-server.mjs';
import { launchChromium } from './chromium.mjs';

// The client's callback: a real listener, so the browser lands on a page as it would in the app.
const callbackServer = createServer((req, res) => res.end('<p>callback</p>'));
await new Promise((resolve) => callbackServer.listen(0, '127.0.0.1', resolve));
const CALLBACK_ORIGIN = `http://127.0.0.1:${callbackServer.address().port}`;
const REDIRECT = `${CALLBACK_ORIGIN}/callback.html`;
const TEAMS = 'openid profile User.Read Calendars.ReadBasic Calendars.Read Calendars.ReadWrite offline_access';

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function authorizeUrl(server, { challenge, clientId = server.clients.secret.id, scope = TEAMS, tenant = 'common', state = 'st', extra = {} }) {
  const url = new URL(server.authorizeUrl(tenant));
  const params = { response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope, state, code_challenge: challenge, code_challenge_method: 'S256', ...extra };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

async function token(server, params, { basic, origin, tenant = 'common' } = {}) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (basic) headers.authorization = `Basic ${Buffer.from(basic.join(':')).toString('base64')}`;
  if (origin) headers.origin = origin;
  const response = await fetch(server.tokenUrl(tenant), { method: 'POST', headers, body: new URLSearchParams(params) });
  return { status: response.status, body: await response.json() };
}

const secretAuth = (server) => ({ client_id: server.clients.secret.id, client_secret: server.clients.secret.secret });

/** Runs the headless flow and returns { code, verifier }. */
async function codeFor(server, options = {}) {
  const { verifier, challenge } = pkce();
  const callback = new URL(await server.authorize(authorizeUrl(server, { challenge, ...options })));
  const code = callback.searchParams.get('code');
  assert.ok(code, `expected a code in ${callback}`);
  return { code, verifier };
}

async function connect(server, options = {}) {
  const { code, verifier } = await codeFor(server, options);
  const res = await token(server, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, ...secretAuth(server) });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

describe('local Entra-like OAuth server', () => {
  let server;
  let cert;

  before(async () => {
    cert = generateCertificateKey();
    server = await startOAuthServer({ redirectUris: [REDIRECT], accessTokenTtl: 300, certificate: cert });
  });

  after(async () => {
    await server.stop();
    callbackServer.closeAllConnections();
    callbackServer.close();
  });

  test('discovery under /{tenant}/v2.0 names tenant-scoped endpoints and the tenant issuer', async () => {
    for (const tenant of ['common', 'organizations', 'consumers', 'contoso.dev', server.tenantId]) {
      const res = await fetch(`${server.url}/${tenant}/v2.0/.well-known/openid-configuration`);
      assert.equal(res.status, 200);
      const doc = await res.json();
      assert.equal(doc.issuer, `${server.url}/${server.tenantId}/v2.0`);
      assert.equal(doc.authorization_endpoint, `${server.url}/${tenant}/oauth2/v2.0/authorize`);
      assert.equal(doc.token_endpoint, `${server.url}/${tenant}/oauth2/v2.0/token`);
      assert.equal(doc.jwks_uri, `${server.url}/${tenant}/discovery/v2.0/keys`);
      assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
    }
    const keys = await (await fetch(`${server.url}/common/discovery/v2.0/keys`)).json();
    assert.equal(keys.keys[0].kty, 'RSA');
    assert.equal(keys.keys[0].d, undefined, 'the JWKS must not publish the private key');
  });

  test('a browser signs in, consents, redeems the code with PKCE, calls Graph /me and refreshes', async () => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const landed = async (state) => {
        await page.waitForURL((u) => u.href.startsWith(REDIRECT) && u.searchParams.get('state') === state);
        return new URL(page.url());
      };
      const { verifier, challenge } = pkce();
      await page.goto(authorizeUrl(server, { challenge, state: 'browser-state' }));
      assert.equal(await page.inputValue('#login'), 'ada@contoso.dev', 'the sign-in form is prefilled');
      await page.click('#signin');
      await page.waitForSelector('#accept');
      assert.match(await page.textContent('#scopes'), /Calendars\.ReadWrite/);
      await page.click('#accept');
      let callback = await landed('browser-state');

      assert.equal(callback.searchParams.get('state'), 'browser-state');
      assert.equal(callback.searchParams.get('iss'), server.issuer);
      const code = callback.searchParams.get('code');
      const redeemed = await token(server, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT }, { basic: [server.clients.secret.id, server.clients.secret.secret] });
      assert.equal(redeemed.status, 200, JSON.stringify(redeemed.body));
      const { access_token: at, refresh_token: rt, id_token: idt, expires_in: ttl } = redeemed.body;
      assert.equal(ttl, 300);
      assert.ok(rt, 'offline_access yields a refresh token without prompt=consent');
      assert.deepEqual(
        (({ name, preferred_username, oid, tid }) => ({ name, preferred_username, oid, tid }))(claimsOf(idt)),
        { name: 'Ada Lovelace', preferred_username: 'ada@contoso.dev', oid: server.users[0].oid, tid: server.tenantId },
      );
      const atClaims = claimsOf(at);
      assert.equal(atClaims.aud, 'https://graph.microsoft.com');
      assert.equal(atClaims.scp, 'User.Read Calendars.ReadBasic Calendars.Read Calendars.ReadWrite');

      const me = await fetch(server.graphUrl, { headers: { authorization: `Bearer ${at}` } });
      assert.equal(me.status, 200);
      assert.equal((await me.json()).userPrincipalName, 'ada@contoso.dev');

      const refreshed = await token(server, { grant_type: 'refresh_token', refresh_token: rt, scope: TEAMS, ...secretAuth(server) });
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      assert.notEqual(refreshed.body.access_token, at);

      // Signed in and consented already: the next authorization needs no page at all.
      const again = pkce();
      await page.goto(authorizeUrl(server, { challenge: again.challenge, state: 'sso' }));
      callback = await landed('sso');
      assert.ok(callback.searchParams.get('code'));

      // prompt=select_account shows the sign-in page despite the session, prefilled from login_hint.
      const other = pkce();
      await page.goto(authorizeUrl(server, { challenge: other.challenge, state: 'pick', extra: { prompt: 'select_account', login_hint: 'grace@contoso.dev' } }));
      assert.equal(await page.inputValue('#login'), 'grace@contoso.dev');
      await page.click('#signin');
      await page.click('#accept');
      callback = await landed('pick');
      const grace = await token(server, { grant_type: 'authorization_code', code: callback.searchParams.get('code'), code_verifier: other.verifier, redirect_uri: REDIRECT, ...secretAuth(server) });
      assert.equal(claimsOf(grace.body.id_token).preferred_username, 'grace@contoso.dev');
    } finally {
      await browser.close();
    }
  });

  test('denying consent redirects with access_denied and AADSTS65004', async () => {
    const { challenge } = pkce();
    const callback = new URL(await server.authorize(authorizeUrl(server, { challenge, state: 'deny-state' }), { consent: 'deny' }));
    assert.equal(callback.origin + callback.pathname, REDIRECT);
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.match(callback.searchParams.get('error_description'), /^AADSTS65004: User declined to consent/);
    assert.equal(callback.searchParams.get('state'), 'deny-state');
  });

  test('PKCE is required: an authorize request without a code challenge fails', async () => {
    const url = new URL(authorizeUrl(server, { challenge: 'x' }));
    url.searchParams.delete('code_challenge');
    url.searchParams.delete('code_challenge_method');
    const res = await fetch(url, { redirect: 'manual' });
    const location = new URL(res.headers.get('location'));
    assert.equal(location.searchParams.get('error'), 'invalid_request');
    assert.match(location.searchParams.get('error_description'), /PKCE/);
  });

  test('token errors carry Entra error_codes: reused code 54005, PKCE mismatch 501481, wrong secret 7000215, Origin 9002326', async () => {
    const first = await codeFor(server);
    const redeem = (code, verifier, auth = secretAuth(server), opts) =>
      token(server, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT, ...auth }, opts);
    assert.equal((await redeem(first.code, first.verifier)).status, 200);
    const reused = await redeem(first.code, first.verifier);
    assert.equal(reused.status, 400);
    assert.equal(reused.body.error, 'invalid_grant');
    assert.deepEqual(reused.body.error_codes, [54005]);
    assert.match(reused.body.error_description, /^AADSTS54005: /);

    const second = await codeFor(server);
    const mismatch = await redeem(second.code, pkce().verifier);
    assert.equal(mismatch.body.error, 'invalid_grant');
    assert.deepEqual(mismatch.body.error_codes, [501481]);

    const third = await codeFor(server);
    const wrongSecret = await redeem(third.code, third.verifier, { client_id: server.clients.secret.id, client_secret: 'not-the-secret' });
    assert.equal(wrongSecret.status, 401);
    assert.equal(wrongSecret.body.error, 'invalid_client');
    assert.deepEqual(wrongSecret.body.error_codes, [7000215]);

    const withOrigin = await redeem(third.code, third.verifier, secretAuth(server), { origin: CALLBACK_ORIGIN });
    assert.equal(withOrigin.status, 400);
    assert.deepEqual(withOrigin.body.error_codes, [9002326]);

    const noCredential = await redeem(third.code, third.verifier, { client_id: server.clients.secret.id });
    assert.deepEqual(noCredential.body.error_codes, [7000218]);

    const unknownClient = await redeem(third.code, third.verifier, { client_id: 'nobody', client_secret: 'x' });
    assert.equal(unknownClient.body.error, 'invalid_client');
    assert.deepEqual(unknownClient.body.error_codes, [700016]);
  });

  test('refresh-token rotation: "rotate" keeps older tokens working, "strict" accepts only the newest, "off" returns the same', async () => {
    try {
      const refresh = (rt) => token(server, { grant_type: 'refresh_token', refresh_token: rt, ...secretAuth(server) });
      const { refresh_token: rt0 } = await connect(server);
      const r1 = await refresh(rt0);
      assert.notEqual(r1.body.refresh_token, rt0);
      assert.equal((await refresh(rt0)).status, 200, 'rotate: the older token still works');

      server.setMode({ rotation: 'strict' });
      const { refresh_token: s0 } = await connect(server);
      const s1 = (await refresh(s0)).body.refresh_token;
      const stale = await refresh(s0);
      assert.equal(stale.status, 400);
      assert.equal(stale.body.error, 'invalid_grant');
      assert.deepEqual(stale.body.error_codes, [70008]);
      assert.equal((await refresh(s1)).status, 200, 'strict: the newest token works');

      server.setMode({ rotation: 'off' });
      const { refresh_token: o0 } = await connect(server);
      assert.equal((await refresh(o0)).body.refresh_token, o0);
    } finally {
      server.reset();
    }
  });

  test('private_key_jwt: an assertion with the registered x5t is accepted, another x5t gets 700027', async () => {
    const key = createPrivateKey(cert.privateKeyPem);
    const assertion = (x5t) => {
      const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      const head = enc({ alg: 'RS256', typ: 'JWT', x5t });
      const body = enc({ iss: server.clients.certificate.id, sub: server.clients.certificate.id, aud: server.tokenUrl('common'), jti: randomUUID(), nbf: now, exp: now + 300 });
      return `${head}.${body}.${sign('sha256', Buffer.from(`${head}.${body}`), key).toString('base64url')}`;
    };
    const thumbprint = Buffer.from(cert.thumbprint, 'hex').toString('base64url');
    const redeem = async (x5t) => {
      const { code, verifier } = await codeFor(server, { clientId: server.clients.certificate.id });
      return token(server, {
        grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT,
        client_id: server.clients.certificate.id,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion(x5t),
      });
    };
    const ok = await redeem(thumbprint);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.ok(ok.body.refresh_token);
    const bad = await redeem(Buffer.alloc(20).toString('base64url'));
    assert.equal(bad.body.error, 'invalid_client');
    assert.deepEqual(bad.body.error_codes, [700027]);
    assert.equal(server.requests().at(-1).auth_method, 'private_key_jwt');
  });

  test('client credentials for outlook.office365.com/.default give an app-only token with roles', async () => {
    const { id, secret } = server.clients.daemon;
    const res = await token(server, { grant_type: 'client_credentials', scope: 'https://outlook.office365.com/.default' }, { basic: [id, secret] });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const claims = claimsOf(res.body.access_token);
    assert.equal(claims.aud, 'https://outlook.office365.com');
    assert.deepEqual(claims.roles, ['SMTP.SendAsApp', 'IMAP.AccessAsApp', 'POP.AccessAsApp']);
    assert.equal(res.body.refresh_token, undefined);
  });

  test('test hooks: counters by grant type and client, down (503 AADSTS90033 or reset), slow, reset', async () => {
    try {
      server.reset();
      const { refresh_token: rt } = await connect(server);
      await Promise.all([1, 2, 3].map(() => token(server, { grant_type: 'refresh_token', refresh_token: rt, ...secretAuth(server) })));
      const counters = await (await fetch(`${server.url}/_test/counters`)).json();
      assert.deepEqual(counters.token.by_grant_type, { authorization_code: 1, refresh_token: 3 });
      assert.deepEqual(counters.token.by_client[server.clients.secret.id], { authorization_code: 1, refresh_token: 3 });
      assert.equal(counters.authorize, 1);

      const set = await fetch(`${server.url}/_test/mode`, { method: 'POST', body: JSON.stringify({ down: true }) });
      assert.equal((await set.json()).down, true);
      const down = await token(server, { grant_type: 'refresh_token', refresh_token: rt, ...secretAuth(server) });
      assert.equal(down.status, 503);
      assert.equal(down.body.error, 'temporarily_unavailable');
      assert.deepEqual(down.body.error_codes, [90033]);

      server.setMode({ down: 'reset' });
      await assert.rejects(token(server, { grant_type: 'refresh_token', refresh_token: rt, ...secretAuth(server) }));

      server.setMode({ down: false, slow: 400 });
      const started = performance.now();
      assert.equal((await token(server, { grant_type: 'refresh_token', refresh_token: rt, ...secretAuth(server) })).status, 200);
      assert.ok(performance.now() - started >= 400, 'slow mode delays the token response');

      assert.equal((await fetch(`${server.url}/_test/mode`, { method: 'POST', body: '{"slow":-1}' })).status, 400);
      await fetch(`${server.url}/_test/reset`, { method: 'POST' });
      assert.deepEqual(server.mode(), { down: false, slow: 0, rotation: 'rotate', accessTokenTtl: 300 });
      assert.equal(server.counters().token.total, 0);
    } finally {
      server.reset();
    }
  });

  test('revoking every grant makes the next refresh fail with invalid_grant 70008', async () => {
    const { refresh_token: rt } = await connect(server);
    const revoked = await (await fetch(`${server.url}/_test/revoke`, { method: 'POST' })).json();
    assert.ok(revoked.revoked > 0);
    const res = await token(server, { grant_type: 'refresh_token', refresh_token: rt, ...secretAuth(server) });
    assert.equal(res.body.error, 'invalid_grant');
    assert.deepEqual(res.body.error_codes, [70008]);
  });

  test('Graph /me answers 401 with WWW-Authenticate for missing, expired or wrong-audience tokens, 403 without User.Read; XOAUTH2 checks audience, scope and user', async () => {
    const none = await fetch(server.graphUrl);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate'), /^Bearer /);

    server.setMode({ accessTokenTtl: 1 });
    try {
      const { access_token: shortLived } = await connect(server);
      // Waits out the token's 1 s lifetime.
      await new Promise((r) => setTimeout(r, 1100));
      const expired = await fetch(server.graphUrl, { headers: { authorization: `Bearer ${shortLived}` } });
      assert.equal(expired.status, 401);
      assert.match(expired.headers.get('www-authenticate'), /error="invalid_token"/);
    } finally {
      server.reset();
    }

    const { access_token: mailToken } = await connect(server, { scope: 'https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send offline_access' });
    const mailClaims = claimsOf(mailToken);
    assert.equal(mailClaims.aud, 'https://outlook.office.com');
    assert.equal(mailClaims.scp, 'IMAP.AccessAsUser.All SMTP.Send');
    assert.equal((await fetch(server.graphUrl, { headers: { authorization: `Bearer ${mailToken}` } })).status, 401);

    const xoauth2 = (protocol, user, bearer) => fetch(`${server.url}/outlook/xoauth2`, {
      method: 'POST',
      body: JSON.stringify({ protocol, xoauth2: Buffer.from(`user=${user}\x01auth=Bearer ${bearer}\x01\x01`).toString('base64') }),
    }).then((r) => r.json());
    assert.deepEqual(await xoauth2('IMAP', 'ada@contoso.dev', mailToken), { ok: true, response: 'A1 OK AUTHENTICATE completed.', user: 'ada@contoso.dev' });
    assert.equal((await xoauth2('SMTP', 'ada@contoso.dev', mailToken)).ok, true);
    assert.match((await xoauth2('POP', 'ada@contoso.dev', mailToken)).reason, /POP\.AccessAsUser\.All/);
    assert.match((await xoauth2('IMAP', 'grace@contoso.dev', mailToken)).reason, /not for grace/);

    const { access_token: calendarOnly } = await connect(server, { scope: 'Calendars.Read offline_access' });
    const forbidden = await fetch(server.graphUrl, { headers: { authorization: `Bearer ${calendarOnly}` } });
    assert.equal(forbidden.status, 403);
    assert.equal((await forbidden.json()).error.code, 'Authorization_RequestDenied');

    const preflight = await fetch(server.graphUrl, { method: 'OPTIONS', headers: { origin: CALLBACK_ORIGIN, 'access-control-request-headers': 'authorization' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-headers'), 'authorization');
  });
});
