// SESSION_KEYS: the newest key seals, any listed key opens, so a rotation signs nobody out; a
// record sealed only under a key no longer listed is dropped (the user connects again).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startEdge } from './harness.mjs';

describe('session key rotation', () => {
  const [oldKey, newKey] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
  let edge;
  before(async () => {
    // 60 s tokens are inside the 300 s margin: every refresh goes upstream and stores the grant again.
    edge = await startEdge({ persist: true, oauth: { accessTokenTtl: 60 }, vars: { SESSION_KEY: oldKey } });
  });
  after(() => edge?.stop());

  const connected = async (session) => {
    const { status, body } = await edge.call('/oauth/session', { method: 'GET', session });
    assert.equal(status, 200, JSON.stringify(body));
    return body.connectors.map((c) => c.id).sort();
  };

  test('sessions sealed under SESSION_KEY survive the move to SESSION_KEYS = "new old", and what is stored from then on is sealed with the newest', async () => {
    const teams = await edge.connect('teams');
    assert.equal(teams.status, 200);
    const { session, status } = await edge.connect('outlook-mail', { session: teams.session });
    assert.equal(status, 200);

    await edge.restart({ SESSION_KEY: undefined, SESSION_KEYS: `${newKey} ${oldKey}` });
    assert.deepEqual(await connected(session), ['outlook-mail', 'teams'], 'opened with the old key: nobody signed out');
    assert.equal((await edge.call('/oauth/connectors/teams/refresh', { session })).status, 200, 'refreshed and stored again');

    // The old key retired: the grant stored since the rotation still opens, the one never stored again does not.
    await edge.restart({ SESSION_KEYS: newKey });
    assert.deepEqual(await connected(session), ['teams']);
    assert.equal((await edge.call('/oauth/connectors/teams/refresh', { session })).status, 200);
    const stale = await edge.call('/oauth/connectors/outlook-mail/refresh', { session });
    assert.equal(stale.body.error, 'not_connected', JSON.stringify(stale.body));
  });
});
