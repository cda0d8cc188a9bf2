// A Microsoft Graph calendar stand-in (the parts mailconnect/meetings uses), mounted by
// oauth-server.mjs under /graph/v1.0/ so the demo and the tests can add Teams meetings offline.
//
//   GET    /me/calendar               { id, name, owner, allowedOnlineMeetingProviders,
//                                        defaultOnlineMeetingProvider }
//   POST   /me/events                 201 the event; with isOnlineMeeting and an allowed
//                                        onlineMeetingProvider (default: the calendar's first) it
//                                        gets onlineMeeting.joinUrl and the meeting blob appended to
//                                        its body
//   GET    /me/events/{id}            the event
//   PATCH  /me/events/{id}            200 the event; only the properties sent change
//   DELETE /me/events/{id}            204
//   POST   /me/events/{id}/cancel     202 {Comment}; organizer only; the event gets isCancelled
//
// As Graph does:
//   - the bearer token must be for https://graph.microsoft.com (else 401 InvalidAuthenticationToken
//     with WWW-Authenticate) and carry Calendars.ReadWrite (else 403 ErrorAccessDenied), errors as
//     {error: {code, message}}; each user (the token's oid) has a calendar of their own;
//   - a Teams meeting lives in the event's body as the "meeting blob" (a block with the join URL):
//     a PATCH whose body no longer holds it turns the online meeting off (Graph's event-update
//     notes: "Inadvertently removing the meeting blob from the body would disable meeting online");
//     a PATCH without `body` keeps it;
//   - an online meeting provider the calendar does not allow is refused with 400 ErrorInvalidRequest
//     for a work account; a personal Microsoft account gets the event without a meeting instead;
//   - a personal Microsoft account (its token's `tid` is the consumers tenant, or marked by
//     personalAccount()) has a calendar that allows `skypeForConsumer` only;
//   - `skypeForConsumer` meetings are served by Teams free: join URLs on teams.live.com;
//   - `Prefer: outlook.timezone="UTC"` is the only time zone served (times are UTC throughout).
//
// Test hooks (methods of `server.calendar`):
//   allowProviders(username, providers)  the account's allowedOnlineMeetingProviders
//                                        (default ["teamsForBusiness"], a personal account's
//                                        ["skypeForConsumer"])
//   personalAccount(username)            the account is a personal Microsoft account
//   throttleNext({ status = 429, retryAfter = 1, count = 1 })  the next `count` calendar requests
//                                        answer `status` (429 or 503) with Retry-After seconds
//   events()                             every event of every account, cancelled ones too
//   requests()                           the last 100 requests: { method, path, status }
//   reset()                              no events, throttling, provider overrides or personal
//                                        accounts

import { randomBytes, randomUUID } from 'node:crypto';

const GRAPH = 'https://graph.microsoft.com';
const WRITE_SCOPES = ['Calendars.ReadWrite'];
const DEFAULT_PROVIDERS = ['teamsForBusiness'];
const PERSONAL_PROVIDERS = ['skypeForConsumer'];
// The tenant of every personal Microsoft account: their tokens' `tid`.
const CONSUMERS_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';
const PATCHABLE = ['subject', 'body', 'start', 'end', 'attendees', 'location', 'importance', 'sensitivity', 'showAs', 'categories'];
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers': 'www-authenticate, retry-after',
};

/** The meeting blob Outlook puts at the end of a Teams meeting's body (its shape, not its art). */
function meetingBlob(joinUrl) {
  return '<div class="teams-meeting-blob"><hr>'
    + '<p><b>Microsoft Teams meeting</b></p>'
    + `<p><a href="${joinUrl}">Click here to join the meeting</a></p>`
    + '<hr></div>';
}

/**
 * The stand-in. `verifyAccessToken(token, audience)` is the OAuth server's ({claims} or {error}),
 * `readBody(req)` and `sendJson(res, status, body, headers)` its helpers.
 */
export function createGraphCalendar({ verifyAccessToken, readBody, sendJson }) {
  let events = new Map(); // id -> { owner (oid), event }
  let providers = new Map(); // username (lower case) -> allowed providers
  let personal = new Set(); // usernames (lower case) of personal Microsoft accounts
  let throttle = null;
  let log = [];

  const error = (res, status, code, message, headers = {}) => sendJson(res, status, {
    error: { code, message, innerError: { date: new Date().toISOString(), 'request-id': randomUUID() } },
  }, { ...CORS, ...headers });

  const usernameOf = (claims) => String(claims.preferred_username).toLowerCase();

  function isPersonal(claims) {
    return claims.tid === CONSUMERS_TENANT || personal.has(usernameOf(claims));
  }

  function allowedFor(claims) {
    return providers.get(usernameOf(claims)) ?? (isPersonal(claims) ? PERSONAL_PROVIDERS : DEFAULT_PROVIDERS);
  }

  /** A join URL of the provider's kind: Teams free's for skypeForConsumer, else Teams'. */
  function joinUrlFor(provider) {
    if (provider === 'skypeForConsumer') {
      const digits = Array.from(randomBytes(13), (b) => b % 10).join('');
      return `https://teams.live.com/meet/${digits}?p=${randomBytes(12).toString('base64url')}`;
    }
    return `https://teams.microsoft.com/l/meetup-join/19%3ameeting_${randomBytes(18).toString('base64url')}%40thread.v2/0`;
  }

  function find(claims, id) {
    const entry = events.get(id);
    return entry && entry.owner === claims.oid ? entry.event : undefined;
  }

  /** Copies the writable properties of a request into an event, as Graph reads them. */
  function apply(event, input) {
    for (const key of PATCHABLE) {
      if (!(key in input)) continue;
      if (key === 'attendees') {
        event.attendees = (input.attendees ?? []).map((a) => ({
          type: a.type ?? 'required',
          status: { response: 'none', time: '0001-01-01T00:00:00Z' },
          emailAddress: { name: a.emailAddress?.name ?? a.emailAddress?.address, address: a.emailAddress?.address },
        }));
      } else if (key === 'start' || key === 'end') {
        event[key] = { dateTime: new Date(`${input[key].dateTime.replace(/Z$/, '')}Z`).toISOString().replace('Z', '0000'), timeZone: 'UTC' };
      } else {
        event[key] = structuredClone(input[key]);
      }
    }
    // Removing the blob from the body turns the meeting off, as in Exchange.
    if ('body' in input && event.onlineMeeting && !String(event.body?.content ?? '').includes(event.onlineMeeting.joinUrl)) {
      event.isOnlineMeeting = false;
      event.onlineMeetingProvider = 'unknown';
      event.onlineMeeting = null;
    }
  }

  async function route(req, res, claims, path) {
    const url = `${req.method} ${path}`;
    if (url === 'GET /me/calendar') {
      return sendJson(res, 200, {
        id: `calendar-${claims.oid}`,
        name: 'Calendar',
        canEdit: true,
        isDefaultCalendar: true,
        owner: { name: claims.name, address: claims.preferred_username },
        allowedOnlineMeetingProviders: allowedFor(claims),
        defaultOnlineMeetingProvider: allowedFor(claims)[0] ?? 'unknown',
      }, CORS);
    }
    if (url === 'POST /me/events') {
      const input = JSON.parse(await readBody(req) || '{}');
      if (!input.start?.dateTime || !input.end?.dateTime) return error(res, 400, 'ErrorInvalidRequest', 'Start and end are required.');
      const provider = input.isOnlineMeeting ? input.onlineMeetingProvider ?? allowedFor(claims)[0] : 'unknown';
      const online = input.isOnlineMeeting && allowedFor(claims).includes(provider);
      if (input.isOnlineMeeting && !online && !isPersonal(claims)) {
        return error(res, 400, 'ErrorInvalidRequest', `Online meeting provider ${provider} is not allowed for this calendar.`);
      }
      const id = `AAMk${randomBytes(24).toString('base64url')}`;
      const event = {
        id,
        createdDateTime: new Date().toISOString(),
        subject: '',
        body: { contentType: 'html', content: '' },
        attendees: [],
        isOrganizer: true,
        isCancelled: false,
        organizer: { emailAddress: { name: claims.name, address: claims.preferred_username } },
        isOnlineMeeting: false,
        onlineMeetingProvider: 'unknown',
        onlineMeeting: null,
        webLink: `https://outlook.office365.com/owa/?itemid=${id}&exvsurl=1&path=/calendar/item`,
      };
      apply(event, input);
      if (online) {
        const joinUrl = joinUrlFor(provider);
        event.isOnlineMeeting = true;
        event.onlineMeetingProvider = provider;
        event.onlineMeeting = { joinUrl };
        event.body = { contentType: 'html', content: `${event.body?.content ?? ''}${meetingBlob(joinUrl)}` };
      }
      events.set(id, { owner: claims.oid, event });
      return sendJson(res, 201, event, CORS);
    }
    const item = /^\/me\/events\/([^/]+)(\/cancel)?$/.exec(path);
    const event = item && find(claims, decodeURIComponent(item[1]));
    if (!event) return error(res, 404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    if (item[2]) {
      if (req.method !== 'POST') return error(res, 405, 'ErrorInvalidRequest', 'The OData request is not supported.');
      if (!event.isOrganizer) return error(res, 400, 'ErrorAccessDenied', 'Your request can\'t be completed. You need to be an organizer to cancel a meeting.');
      const input = JSON.parse(await readBody(req) || '{}');
      event.isCancelled = true;
      event.cancellationComment = String(input.Comment ?? '');
      res.writeHead(202, CORS);
      return res.end();
    }
    switch (req.method) {
      case 'GET': return sendJson(res, 200, event, CORS);
      case 'PATCH': {
        apply(event, JSON.parse(await readBody(req) || '{}'));
        return sendJson(res, 200, event, CORS);
      }
      case 'DELETE':
        events.delete(event.id);
        res.writeHead(204, CORS);
        return res.end();
      default: return error(res, 405, 'ErrorInvalidRequest', 'The OData request is not supported.');
    }
  }

  /** Answers a request under /graph/v1.0 (`path` is what follows it). */
  async function handle(req, res, path) {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...CORS,
        'access-control-allow-headers': 'authorization, content-type, prefer',
        'access-control-allow-methods': 'GET, POST, PATCH, DELETE',
        'access-control-max-age': '600',
      });
      return res.end();
    }
    const entry = { method: req.method, path, status: 0 };
    log.push(entry);
    if (log.length > 100) log.shift();
    res.once('finish', () => { entry.status = res.statusCode; });

    if (throttle) {
      const { status, retryAfter } = throttle;
      throttle.count -= 1;
      if (throttle.count <= 0) throttle = null;
      const code = status === 429 ? 'TooManyRequests' : 'ServiceNotAvailable';
      return error(res, status, code, 'Please retry after the time given in Retry-After.', { 'retry-after': String(retryAfter) });
    }
    const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!match) return error(res, 401, 'InvalidAuthenticationToken', 'Access token is empty.', { 'www-authenticate': 'Bearer realm=""' });
    const { claims, error: invalid } = verifyAccessToken(match[1], GRAPH);
    if (invalid) {
      return error(res, 401, 'InvalidAuthenticationToken', invalid, { 'www-authenticate': `Bearer realm="", error="invalid_token", error_description="${invalid}"` });
    }
    const scopes = (claims.scp ?? '').split(' ');
    if (!WRITE_SCOPES.some((s) => scopes.includes(s))) return error(res, 403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    try {
      return await route(req, res, claims, path);
    } catch (err) {
      if (err instanceof SyntaxError) return error(res, 400, 'BadRequest', 'Unable to read JSON request payload.');
      throw err;
    }
  }

  return {
    handle,
    allowProviders(username, list) {
      providers.set(username.toLowerCase(), [...list]);
    },
    personalAccount(username) {
      personal.add(username.toLowerCase());
    },
    throttleNext({ status = 429, retryAfter = 1, count = 1 } = {}) {
      if (![429, 503].includes(status)) throw new Error('throttleNext: status must be 429 or 503');
      throttle = { status, retryAfter, count };
    },
    events: () => [...events.values()].map((e) => structuredClone(e.event)),
    requests: () => structuredClone(log),
    reset() {
      events = new Map();
      providers = new Map();
      personal = new Set();
      throttle = null;
      log = [];
    },
  };
}
