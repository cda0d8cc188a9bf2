// The local OAuth server's bookkeeping and the test hooks that read and steer it
// (GET /_test/counters, /_test/requests, /_test/mode; POST /_test/reset, /_test/mode, /_test/revoke).
import { readBody, sendJson } from './http.mjs';

/** How a token or revocation request authenticated its client. */
export function authMethodOf(authorization, params) {
  return authorization ? 'client_secret_basic' : params.client_assertion ? 'private_key_jwt' : params.client_secret ? 'client_secret_post' : 'none';
}

/** Counters of every endpoint, the last 100 token requests, and the last authorization request. */
export function createBookkeeping() {
  const emptyCounters = () => ({
    token: { total: 0, by_grant_type: {}, by_client: {} },
    revocation: { total: 0, by_token_type_hint: {}, by_auth_method: {} },
    authorize: 0,
    graph: 0,
    xoauth2: 0,
  });
  let counters = emptyCounters();
  let requestLog = [];
  let lastAuthorization = null;
  return {
    /** One more call of `name` ('graph', 'xoauth2'). */
    bump(name) {
      counters[name] += 1;
    },
    count(grantType, clientId) {
      counters.token.total += 1;
      counters.token.by_grant_type[grantType] = (counters.token.by_grant_type[grantType] ?? 0) + 1;
      const perClient = (counters.token.by_client[clientId] ??= {});
      perClient[grantType] = (perClient[grantType] ?? 0) + 1;
    },
    countRevocation(hint = 'none', authMethod) {
      const { revocation } = counters;
      revocation.total += 1;
      revocation.by_token_type_hint[hint] = (revocation.by_token_type_hint[hint] ?? 0) + 1;
      revocation.by_auth_method[authMethod] = (revocation.by_auth_method[authMethod] ?? 0) + 1;
    },
    /** An authorization request, with its query string (`?…`). */
    authorize(query) {
      counters.authorize += 1;
      lastAuthorization = Object.fromEntries(new URLSearchParams(query));
    },
    record(entry) {
      requestLog.push({ at: new Date().toISOString(), ...entry });
      if (requestLog.length > 100) requestLog = requestLog.slice(-100);
    },
    counters: () => structuredClone(counters),
    requests: () => structuredClone(requestLog),
    lastAuthorization: () => structuredClone(lastAuthorization),
    reset() {
      counters = emptyCounters();
      requestLog = [];
      lastAuthorization = null;
    },
  };
}

/** Answers the test hooks with the server's `api` (its methods of the same names). */
export async function handleTestHook(req, res, path, api) {
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
