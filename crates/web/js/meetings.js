// mailconnect/meetings: Teams meetings in Microsoft 365 calendar events, over Microsoft Graph with
// the access token of a connected mailconnect Connector. Opt-in and separate from the main module
// (which has a size budget): only webmails with calendar features import it. Tokens are asked of
// the token source for every request and never kept, so a refreshed token is always used.
//
// Graph's rules this follows (learn.microsoft.com/graph/api/event-update and friends):
// - a Teams meeting is `isOnlineMeeting: true` + an `onlineMeetingProvider` at creation, one that
//   the calendar's `allowedOnlineMeetingProviders` lists: `teamsForBusiness` for work and school
//   accounts, `skypeForConsumer` for personal Microsoft accounts (served by Teams free). The
//   other values of Graph's onlineMeetingProviderType are not Teams: `skypeForBusiness` (retired)
//   and `unknown`. Asked for a provider its calendar lacks, a personal account gets an event
//   without a meeting, so the provider is read from the calendar, never assumed;
// - the meeting lives in a "meeting blob" inside the event's body: a PATCH that rewrites `body`
//   without it turns the meeting off. So updates send only the properties that change, and a body
//   edit starts from the current body and must keep the join URL in it;
// - 429 and 503 come with Retry-After (seconds): wait that long and try again, a bounded number of
//   times, for every method (Graph throttles before doing anything).

import { MailconnectError } from "./mailconnect.js";

export const DEFAULT_GRAPH_BASE = "https://graph.microsoft.com/v1.0";
// The providers whose meetings are Teams meetings, in order of preference.
const TEAMS_PROVIDERS = ["teamsForBusiness", "skypeForConsumer"];
// Times go out and come back in UTC, so a Date maps to Graph's {dateTime, timeZone} without guessing.
const PREFER_UTC = 'outlook.timezone="UTC"';

/** An error of this module, with the main module's class and shape ({code, action, retryable}). */
function fail(message, code, action) {
  return new MailconnectError(message, code, action, action === "retry");
}

/** What a Graph error means for the user: Graph's codes are kept as they are in `code`. */
function graphError(status, body, what) {
  const code = body?.error?.code ?? `http_${status}`;
  const message = `${what}: Graph answered ${status} ${code}${body?.error?.message ? `: ${body.error.message}` : ""}`;
  if (status === 401) return fail(message, code, "reconnect");
  // 403 on a delegated token: the app lacks Calendars.ReadWrite, which an admin grants.
  if (status === 403) return fail(message, code, "consent");
  if (status === 429 || status >= 500) return fail(message, code, "retry");
  return fail(message, code, "none");
}

/** Graph's {dateTime, timeZone} for a Date or a date-time string with a zone (ISO 8601). */
function graphTime(value, name) {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) throw fail(`${name} is not a date`, "invalid_argument", "none");
  return { dateTime: date.toISOString().replace(/Z$/, ""), timeZone: "UTC" };
}

function graphAttendees(list) {
  return list.map((a) => {
    const { email, name } = typeof a === "string" ? { email: a } : a;
    return { type: "required", emailAddress: { address: email, ...(name ? { name } : {}) } };
  });
}

/** The event as this module returns it. */
function meeting(event) {
  const time = (t) => (t?.dateTime ? new Date(`${t.dateTime.replace(/Z$/, "")}Z`) : undefined);
  return {
    id: event.id,
    subject: event.subject ?? "",
    start: time(event.start),
    end: time(event.end),
    attendees: (event.attendees ?? []).map((a) => ({ email: a.emailAddress?.address, name: a.emailAddress?.name })),
    joinUrl: event.onlineMeeting?.joinUrl ?? null,
    onlineMeetingProvider: event.onlineMeetingProvider ?? "unknown",
    isCancelled: event.isCancelled === true,
    webLink: event.webLink,
    body: event.body,
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class TeamsMeetings {
  /**
   * @param {object} options
   * @param {{ accessToken(): Promise<{ accessToken: string }> }} options.tokens a Connector of the
   *   main module (or anything with the same accessToken()) for a Graph connector with Calendars.ReadWrite
   * @param {string} [options.graphBase] Graph's URL with its version, default DEFAULT_GRAPH_BASE
   * @param {number} [options.maxRetries] retries after 429/503, default 3
   * @param {number} [options.maxRetryAfterMs] give up rather than wait longer than this, default 60000
   */
  constructor({ tokens, graphBase = DEFAULT_GRAPH_BASE, maxRetries = 3, maxRetryAfterMs = 60_000 }) {
    if (typeof tokens?.accessToken !== "function") throw fail("tokens must have an accessToken() method (a Connector)", "configuration_error", "configuration");
    this.tokens = tokens;
    this.graphBase = graphBase.replace(/\/+$/, "");
    this.maxRetries = maxRetries;
    this.maxRetryAfterMs = maxRetryAfterMs;
  }

  /** One Graph call, with a fresh token each attempt and Retry-After honoured. */
  async #request(method, path, what, body) {
    for (let attempt = 0; ; attempt += 1) {
      const { accessToken } = await this.tokens.accessToken();
      let res;
      try {
        res = await fetch(`${this.graphBase}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${accessToken}`,
            prefer: PREFER_UTC,
            ...(body ? { "content-type": "application/json" } : {}),
          },
          body: body ? JSON.stringify(body) : undefined,
        });
      } catch (err) {
        throw fail(`${what}: Microsoft Graph could not be reached (${err.message})`, "network_error", "retry");
      }
      if (res.status === 429 || res.status === 503) {
        // Retry-After is seconds for Graph; an HTTP date is allowed by RFC 9110, so read both.
        const header = res.headers.get("retry-after");
        const seconds = Number(header);
        const waitMs = header === null ? 2 ** attempt * 1000
          : Number.isFinite(seconds) ? seconds * 1000 : Math.max(Date.parse(header) - Date.now(), 0);
        if (attempt < this.maxRetries && waitMs <= this.maxRetryAfterMs) {
          await res.body?.cancel();
          await sleep(waitMs);
          continue;
        }
      }
      const text = await res.text();
      let json;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        throw fail(`${what}: Graph answered ${res.status} with something that is not JSON`, "bad_response", "retry");
      }
      if (!res.ok) throw graphError(res.status, json, what);
      return json;
    }
  }

  /**
   * The provider this module creates the user's Teams meetings with: the first of TEAMS_PROVIDERS
   * that the calendar's allowedOnlineMeetingProviders lists, or null when it lists none.
   */
  async meetingProvider() {
    const calendar = await this.#request("GET", "/me/calendar?$select=allowedOnlineMeetingProviders", "Reading the calendar");
    const allowed = calendar.allowedOnlineMeetingProviders ?? [];
    return TEAMS_PROVIDERS.find((provider) => allowed.includes(provider)) ?? null;
  }

  /** Whether the user's calendar allows Teams meetings (meetingProvider() is not null). */
  async teamsAllowed() {
    return (await this.meetingProvider()) !== null;
  }

  /**
   * Creates an event with a Teams meeting, through the provider the calendar allows. Rejects
   * `teams_not_allowed` (action `configuration`) when the calendar allows none of them.
   */
  async create({ subject, start, end, attendees = [], body }) {
    const provider = await this.meetingProvider();
    if (!provider) {
      throw fail("Teams meetings are not allowed for this account's calendar: ask your admin to allow Microsoft Teams as an online meeting provider", "teams_not_allowed", "configuration");
    }
    const event = await this.#request("POST", "/me/events", "Creating the meeting", {
      subject,
      start: graphTime(start, "start"),
      end: graphTime(end, "end"),
      attendees: graphAttendees(attendees),
      ...(body ? { body: { contentType: "html", content: body } } : {}),
      isOnlineMeeting: true,
      onlineMeetingProvider: provider,
    });
    if (!event.onlineMeeting?.joinUrl) throw fail("Graph created the event without a Teams meeting", "no_online_meeting", "retry");
    return meeting(event);
  }

  async get(id) {
    return meeting(await this.#request("GET", `/me/events/${encodeURIComponent(id)}`, "Reading the meeting"));
  }

  /**
   * Changes subject, time or attendees: only those are sent, so the meeting blob in the body is
   * left alone. `body`, if given, is a function of the current HTML body to the new one; the new
   * one must still hold the join URL (else `meeting_blob_removed`, nothing sent).
   */
  async update(id, { subject, start, end, attendees, body } = {}) {
    const changes = {};
    if (subject !== undefined) changes.subject = subject;
    if (start !== undefined) changes.start = graphTime(start, "start");
    if (end !== undefined) changes.end = graphTime(end, "end");
    if (attendees !== undefined) changes.attendees = graphAttendees(attendees);
    if (body !== undefined) {
      const current = await this.get(id);
      const content = await body(current.body?.content ?? "");
      // In HTML the join URL's `&` may be written `&amp;`.
      if (current.joinUrl && !content.includes(current.joinUrl) && !content.includes(current.joinUrl.replaceAll("&", "&amp;"))) {
        throw fail("the new body drops the Teams meeting's join information, which would remove the meeting: keep it", "meeting_blob_removed", "none");
      }
      changes.body = { contentType: "html", content };
    }
    return meeting(await this.#request("PATCH", `/me/events/${encodeURIComponent(id)}`, "Updating the meeting", changes));
  }

  /** Cancels the meeting (organizer only) and sends `comment` to the attendees. */
  async cancel(id, { comment = "" } = {}) {
    await this.#request("POST", `/me/events/${encodeURIComponent(id)}/cancel`, "Cancelling the meeting", { Comment: comment });
  }

  /** Deletes the event without a cancellation message. */
  async delete(id) {
    await this.#request("DELETE", `/me/events/${encodeURIComponent(id)}`, "Deleting the meeting");
  }
}
