// Grants the provider refused for good: a session drops a dead grant (revoked, expired, password
// changed) at its first invalid_grant, so it is no longer listed and later refreshes answer
// not_connected without asking the provider; an app-token connector the provider refuses backs
// off instead of asking again on every call (a wrong mailbox password would otherwise trip
// Entra's smart lockout). Run: node --test tests/edge/
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { defaultConnectors, startEdge, upstreamCalls } from './harness.mjs';

const API_KEY = randomBytes(32).toString('base64');
const MAILBOX_SCOPE = 'https://outlook.office.com/IMAP.AccessAsUser.All https://outlook.office.com/SMTP.Send';

describe('dead grants', () => {
  let edge;
  before(async () => {
    edge = await startEdge({
      connectors: (oauth, certificate) => ({
        ...defaultConnectors(oauth, certificate),
        'mailbox-wrong': {
          provider: 'microsoft', tenant: oauth.tenantId, authority: oauth.url, client_id: oauth.clients.mailbox.id,
          grant: 'password', username: 'ada@contoso.dev', scope: MAILBOX_SCOPE,
        },
      }),
      vars: (oauth) => ({ MAILBOX_WRONG_CLIENT_SECRET: oauth.clients.mailbox.secret, MAILBOX_WRONG_PASSWORD: 'not-the-password', MAILBOX_WRONG_API_KEYS: API_KEY }),
    });
  });
  after(() => edge?.stop());
  beforeEach(() => edge.oauth.reset());

  const refresh = (session, connector) => edge.call(`/oauth/connectors/${connector}/refresh`, { session });
  const listed = async (session) => (await edge.call('/oauth/session', { method: 'GET', session })).body.connectors.map((c) => c.id).sort();

  test('a revoked grant is dropped at its first invalid_grant: no longer listed, then not_connected without an upstream call', async () => {
    const teams = await edge.connect('teams');
    const { session } = await edge.connect('outlook-mail', { session: teams.session });
    assert.deepEqual(await listed(session), ['outlook-mail', 'teams']);
    edge.oauth.revokeAll();
    edge.oauth.reset();

    const refused = await refresh(session, 'teams');
    assert.deepEqual([refused.status, refused.body.error, refused.body.action, refused.body.error_codes], [400, 'invalid_grant', 'reconnect', [70008]]);
    assert.deepEqual(await listed(session), ['outlook-mail'], 'the dead grant is no longer listed; the other connector is untouched');
    for (let i = 0; i < 3; i++) {
      const again = await refresh(session, 'teams');
      assert.deepEqual([again.status, again.body.error, again.body.action], [401, 'not_connected', 'reconnect']);
    }
    assert.equal(await upstreamCalls(edge.oauth, 'refresh_token'), 1, 'only the first refresh asked the provider');

    const reconnected = await edge.connect('teams', { session });
    assert.equal(reconnected.status, 200);
    assert.deepEqual(await listed(reconnected.session), ['outlook-mail', 'teams']);
  });

  test('a refresh that fails for a passing reason keeps the grant', async () => {
    const { session } = await edge.connect('teams');
    edge.oauth.setMode({ down: true });
    assert.equal((await refresh(session, 'teams')).status, 502);
    edge.oauth.setMode({ down: false });
    assert.deepEqual(await listed(session), ['teams']);
    assert.equal((await refresh(session, 'teams')).status, 200);
  });

  test('an app token the provider refused for good (wrong mailbox password) is not asked for again on every call', async () => {
    const call = () =>
      fetch(`${edge.url}/oauth/connectors/mailbox-wrong/app-token`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: '{}' });
    for (let i = 0; i < 4; i++) {
      const r = await call();
      const body = await r.json();
      assert.deepEqual([r.status, body.error, body.error_codes, body.action], [400, 'invalid_grant', [50126], 'configuration']);
    }
    assert.equal(await upstreamCalls(edge.oauth, 'password'), 1, 'one password attempt, then the refusal is answered from the object');
  });
});
