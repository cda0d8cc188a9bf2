// User binding (USER_TICKET_KEYS): POST /oauth/session/bind with tickets minted here by
// node:crypto, ticket_required on the browser routes of an unbound browser, one user on two
// devices, switching users, POST /oauth/session/end, and the back end's users routes.
// Run: node --test tests/edge/
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultConnectors, SESSION_COOKIE, startEdge, ticketKey, upstreamCalls } from './harness.mjs';

const ADA = 'ada@example.com';
const GRACE = 'grace@example.com';
const BACKEND_KEY = randomBytes(32).toString('base64url');
// Newest first: tickets of the older key still bind (a rotation in progress).
const newKey = ticketKey('k2');
const oldKey = ticketKey('k1');

describe('user binding', () => {
  let edge;
  before(async () => {
    edge = await startEdge({
      connectors: (oauth, certificate) => {
        const connectors = defaultConnectors(oauth, certificate);
        connectors.teams.backend_access = true;
        return connectors;
      },
      vars: { USER_TICKET_KEYS: `${newKey.setting} ${oldKey.setting}`, USER_ID_KEY: randomBytes(32).toString('base64'), BACKEND_API_KEYS: BACKEND_KEY },
    });
  });
  after(() => edge?.stop());
  beforeEach(() => edge.oauth.reset());

  const info = (session) => edge.call('/oauth/session', { method: 'GET', session });
  const listed = async (session) => {
    const { status, body } = await info(session);
    assert.equal(status, 200, JSON.stringify(body));
    return body.connectors.map((c) => c.id);
  };
  /** A browser bound to `account`: its session cookie. */
  async function device(account) {
    const bound = await edge.bind(newKey.mint(account));
    assert.equal(bound.status, 200, JSON.stringify(bound.body));
    return bound.session;
  }
  /** The back end's call of a users route: no Origin, no cookie, its API key. */
  async function backend(account, connector, action, { key = BACKEND_KEY, headers = {}, body = {} } = {}) {
    const response = await fetch(`${edge.url}/oauth/users/${account}/connectors/${connector}/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, body: await response.json() };
  }

  function ticketRequired(response) {
    assert.deepEqual([response.status, response.body.error, response.body.action], [401, 'ticket_required', 'interaction'], JSON.stringify(response.body));
  }

  test('every browser route of an unbound browser answers ticket_required', async () => {
    ticketRequired(await info(undefined));
    ticketRequired(await edge.call('/oauth/connectors/teams/refresh', {}));
    ticketRequired(await edge.call('/oauth/connectors/teams/disconnect', {}));
    ticketRequired(await edge.connect('teams'));
    assert.equal(await upstreamCalls(edge.oauth), 0, 'the code was never redeemed');
    // A handle the edge never issued, of the right shape, binds nothing.
    const planted = randomBytes(32).toString('base64url');
    const answer = await info(planted);
    ticketRequired(answer);
    assert.deepEqual(answer.cookies, [], 'the bind that follows sets the cookie');
  });

  test('a bind sets a fresh cookie and lists the user\'s connections; a connect moves the session to another fresh handle', async () => {
    const bound = await edge.bind(newKey.mint(ADA));
    assert.deepEqual([bound.status, bound.body], [200, { connectors: [] }]);
    assert.match(bound.cookies[0], /^__Host-mailconnect-session=[A-Za-z0-9_-]{43}; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
    const connected = await edge.connect('teams', { session: bound.session });
    assert.equal(connected.status, 200, JSON.stringify(connected.body));
    assert.notEqual(connected.session, bound.session);
    assert.deepEqual(await listed(connected.session), ['teams']);
    ticketRequired(await info(bound.session));
  });

  test('the same user on a second device sees the same connections and refreshes them', async () => {
    const first = (await edge.connect('teams', { session: await device(ADA) })).session;
    const second = await device(ADA);
    assert.deepEqual(await listed(second), ['teams']);
    const refreshed = await edge.call('/oauth/connectors/teams/refresh', { session: second });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assert.equal(refreshed.body.account.username, 'ada@contoso.dev');
    assert.deepEqual(await listed(first), ['teams']);
  });

  test('binding another user switches cleanly: the previous user\'s connections are out of reach', async () => {
    const ada = (await edge.connect('teams', { session: await device(ADA) })).session;
    const grace = await edge.bind(newKey.mint(GRACE), ada);
    assert.deepEqual([grace.status, grace.body], [200, { connectors: [] }]);
    assert.notEqual(grace.session, ada);
    ticketRequired(await info(ada));
    const refresh = await edge.call('/oauth/connectors/teams/refresh', { session: grace.session });
    assert.deepEqual([refresh.status, refresh.body.error, refresh.body.access_token], [401, 'not_connected', undefined]);
    // Ada's grant is still hers, on her next sign-in.
    assert.deepEqual(await listed(await device(ADA)), ['teams']);
  });

  test('a ticket of the older key still binds', async () => {
    const bound = await edge.bind(oldKey.mint(GRACE));
    assert.equal(bound.status, 200, JSON.stringify(bound.body));
  });

  describe('refused tickets', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const refusals = {
      expired: () => newKey.mint(ADA, { claims: { iat: now() - 100, exp: now() - 1 } }),
      'wrong audience': () => newKey.mint(ADA, { claims: { aud: 'another-service' } }),
      'wrong signature': () => newKey.mint(ADA, { signWith: ticketKey().privateKey }),
      'unknown kid': () => newKey.mint(ADA, { header: { kid: 'k9' } }),
      'alg none': () => newKey.mint(ADA, { header: { alg: 'none' } }),
      'lifetime over 300 s': () => newKey.mint(ADA, { claims: { exp: now() + 400 } }),
      'issued in the future': () => newKey.mint(ADA, { claims: { iat: now() + 120, exp: now() + 200 } }),
      'subject not an account id': () => newKey.mint(ADA, { claims: { sub: 'ada/../grace' } }),
      'short jti': () => newKey.mint(ADA, { claims: { jti: 'abc' } }),
      malformed: () => 'not.a.ticket',
      'padded signature': () => `${newKey.mint(ADA)}=`,
    };
    for (const [name, ticket] of Object.entries(refusals)) {
      test(`${name}: 401 invalid_ticket, and the browser's session is untouched`, async () => {
        const session = await device(GRACE);
        const refused = await edge.bind(ticket(), session);
        assert.deepEqual([refused.status, refused.body.error], [401, 'invalid_ticket'], JSON.stringify(refused.body));
        assert.equal(refused.cookies.length, 0);
        assert.equal((await info(session)).status, 200, 'still bound to Grace');
      });
    }

    test('a replayed ticket is refused, and does not sign the browser out', async () => {
      const ticket = newKey.mint(ADA);
      const session = (await edge.bind(ticket)).session;
      const replayed = await edge.bind(ticket, session);
      assert.deepEqual([replayed.status, replayed.body.error, replayed.body.action], [401, 'invalid_ticket', 'interaction']);
      assert.match(replayed.body.error_description, /already used/);
      assert.equal((await info(session)).status, 200);
    });

    test('a ticket replayed after its expiry is refused as expired', async () => {
      const ticket = newKey.mint(ADA, { claims: { exp: now() + 2 } });
      assert.equal((await edge.bind(ticket)).status, 200);
      // Waits out the ticket's 2 s lifetime.
      await sleep(3000);
      const replayed = await edge.bind(ticket);
      assert.deepEqual([replayed.status, replayed.body.error], [401, 'invalid_ticket']);
      assert.match(replayed.body.error_description, /expired/);
    });
  });

  describe('cookies', () => {
    test('duplicate or padded session cookies are no session', async () => {
      const session = await device(ADA);
      const other = await device(ADA);
      for (const cookie of [`${SESSION_COOKIE}=${session}; ${SESSION_COOKIE}=${other}`, `${SESSION_COOKIE}=${'='.repeat(43)}`, `${SESSION_COOKIE}=${session.slice(0, 42)}=`]) {
        ticketRequired(await edge.call('/oauth/session', { method: 'GET', headers: { cookie } }));
      }
    });
  });

  describe('POST /oauth/session/end', () => {
    test('unbinds this browser only: its cookie is cleared and opens nothing; the other device stays bound', async () => {
      const laptop = (await edge.connect('teams', { session: await device(ADA) })).session;
      const phone = await device(ADA);
      const ended = await edge.call('/oauth/session/end', { session: laptop });
      assert.deepEqual([ended.status, ended.body], [200, { status: 'ended' }]);
      assert.match(ended.cookies[0], /^__Host-mailconnect-session=; Max-Age=0;/);
      ticketRequired(await info(laptop));
      ticketRequired(await edge.call('/oauth/connectors/teams/refresh', { session: laptop }));
      assert.deepEqual(await listed(phone), ['teams']);
    });

    test('from a foreign origin, or without the CSRF header, it is refused and the session stays', async () => {
      const session = await device(ADA);
      const foreign = await edge.call('/oauth/session/end', { session, headers: { origin: 'https://evil.example' } });
      assert.deepEqual([foreign.status, foreign.body.error], [403, 'invalid_origin']);
      const noHeader = await edge.call('/oauth/session/end', { session, headers: { 'x-mailconnect': undefined } });
      assert.deepEqual([noHeader.status, noHeader.body.error], [403, 'missing_csrf_header']);
      assert.equal((await info(session)).status, 200);
    });
  });

  describe('the users routes', () => {
    test('the back end gets the user\'s token with XOAUTH2 strings for the connected account, or for a mailbox it names', async () => {
      const connected = await edge.connect('teams', { session: await device(ADA) });
      const { status, headers, body } = await backend(ADA, 'teams', 'token');
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(headers.get('access-control-allow-origin'), null);
      assert.equal(body.account.username, 'ada@contoso.dev');
      assert.equal(Buffer.from(body.xoauth2, 'base64').toString(), `user=ada@contoso.dev\x01auth=Bearer ${body.access_token}\x01\x01`);
      assert.ok(body.xoauth2_pop3);
      const named = await backend(ADA, 'teams', 'token', { body: { mailbox: 'shared@contoso.dev' } });
      assert.equal(Buffer.from(named.body.xoauth2, 'base64').toString(), `user=shared@contoso.dev\x01auth=Bearer ${named.body.access_token}\x01\x01`);
      assert.deepEqual(await listed(connected.session), ['teams']);
    });

    test('a user who never connected: 401 not_connected', async () => {
      const { status, body } = await backend('nobody@example.com', 'teams', 'token');
      assert.deepEqual([status, body.error], [401, 'not_connected']);
    });

    test('refused without a key, with a wrong one, with a browser Origin or a cookie, and for a connector without backend_access', async () => {
      const noKey = await backend(ADA, 'teams', 'token', { key: null, headers: { 'cf-connecting-ip': '198.51.100.1' } });
      assert.deepEqual([noKey.status, noKey.body.error], [401, 'invalid_api_key']);
      assert.equal(noKey.headers.get('www-authenticate'), 'Bearer realm="mailconnect"');
      const wrong = await backend(ADA, 'teams', 'token', { key: randomBytes(32).toString('base64url'), headers: { 'cf-connecting-ip': '198.51.100.1' } });
      assert.deepEqual([wrong.status, wrong.body.error], [401, 'invalid_api_key']);
      const browser = await backend(ADA, 'teams', 'token', { headers: { origin: 'http://localhost:8787' } });
      assert.deepEqual([browser.status, browser.body.error], [403, 'invalid_origin']);
      assert.equal(browser.headers.get('access-control-allow-origin'), null);
      const cookie = await backend(ADA, 'teams', 'token', { headers: { cookie: `${SESSION_COOKIE}=${await device(ADA)}` } });
      assert.deepEqual([cookie.status, cookie.body.error], [400, 'invalid_request']);
      const optedOut = await backend(ADA, 'outlook-mail', 'token');
      assert.deepEqual([optedOut.status, optedOut.body.error], [403, 'backend_access_not_enabled']);
      const badAccount = await backend('a b', 'teams', 'token');
      assert.equal(badAccount.status, 400);
    });

    test('bad keys are counted per client: 429 with Retry-After after 10, while the right key is still served', async () => {
      const headers = { 'cf-connecting-ip': '203.0.113.9' };
      for (let i = 0; i < 10; i++) assert.equal((await backend(ADA, 'teams', 'token', { key: `wrong-${i}`, headers })).status, 401);
      const limited = await backend(ADA, 'teams', 'token', { key: 'wrong-again', headers });
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
      assert.notEqual((await backend(ADA, 'teams', 'token', { headers })).status, 429);
    });

    test('disconnect forgets the grant on every device of the user', async () => {
      const laptop = (await edge.connect('teams', { session: await device(GRACE) })).session;
      const phone = await device(GRACE);
      const gone = await backend(GRACE, 'teams', 'disconnect');
      assert.deepEqual([gone.status, gone.body], [200, { status: 'disconnected' }]);
      assert.deepEqual(await listed(laptop), []);
      assert.deepEqual(await listed(phone), []);
      const token = await backend(GRACE, 'teams', 'token');
      assert.deepEqual([token.status, token.body.error], [401, 'not_connected']);
    });
  });

  test('strict rotation: concurrent refreshes from two devices of one user and the back end make one upstream call', async () => {
    edge.oauth.setMode({ rotation: 'strict' });
    const laptop = (await edge.connect('teams', { session: await device(GRACE) })).session;
    const phone = await device(GRACE);
    edge.oauth.reset();
    edge.oauth.setMode({ rotation: 'strict', slow: 400 });
    const refresh = (session) => edge.call('/oauth/connectors/teams/refresh', { session });
    const answers = await Promise.all([
      ...Array.from({ length: 5 }, () => refresh(laptop)),
      ...Array.from({ length: 5 }, () => refresh(phone)),
      backend(GRACE, 'teams', 'token'),
    ]);
    assert.deepEqual(answers.map((a) => a.status), Array(11).fill(200), JSON.stringify(answers.map((a) => a.body)));
    assert.equal(new Set(answers.map((a) => a.body.access_token)).size, 1);
    assert.equal(await upstreamCalls(edge.oauth, 'refresh_token'), 1);
    // The rotated refresh token was kept: the next refresh upstream works.
    edge.oauth.setMode({ rotation: 'strict', slow: 0 });
    assert.equal((await refresh(phone)).status, 200);
  });
});
