// mailconnect/meetings: Teams meetings in Microsoft 365 calendar events (Microsoft Graph).
// Errors are the main module's MailconnectError: Graph's error code (e.g. `ErrorItemNotFound`,
// `ErrorAccessDenied`) or this module's (`teams_not_allowed`, `meeting_blob_removed`,
// `no_online_meeting`, `invalid_argument`, `network_error`, `bad_response`), with an `action`.

import type { MailconnectError } from "./mailconnect.js";
export type { MailconnectError };

export declare const DEFAULT_GRAPH_BASE: "https://graph.microsoft.com/v1.0";

/** Where the access tokens come from: a `Connector` of `mailconnect` fits. Tokens are never kept. */
export interface TokenSource {
    accessToken(): Promise<{ accessToken: string }>;
}

export interface TeamsMeetingsOptions {
    /** A connector whose token is for Microsoft Graph with `Calendars.ReadWrite`. */
    tokens: TokenSource;
    /** Graph's URL with its version. Default `https://graph.microsoft.com/v1.0`. */
    graphBase?: string;
    /** Retries after a 429 or 503 (each waits for its Retry-After). Default 3. */
    maxRetries?: number;
    /** A Retry-After longer than this fails at once (`retryable`). Default 60000. */
    maxRetryAfterMs?: number;
}

/**
 * Graph's onlineMeetingProviderType. Teams meetings come from `teamsForBusiness` (work and school
 * accounts) and `skypeForConsumer` (personal Microsoft accounts, served by Teams free).
 */
export type OnlineMeetingProvider = "unknown" | "skypeForBusiness" | "skypeForConsumer" | "teamsForBusiness";

/** The providers this module makes Teams meetings with. */
export type TeamsMeetingProvider = "teamsForBusiness" | "skypeForConsumer";

/** An attendee: an email address, or one with a display name. */
export type Attendee = string | { email: string; name?: string };

export interface Meeting {
    id: string;
    subject: string;
    start?: Date;
    end?: Date;
    attendees: { email: string; name?: string }[];
    /** The Teams join URL (`onlineMeeting.joinUrl`); null once the meeting was removed. */
    joinUrl: string | null;
    /** The event's provider (`unknown` for an event without an online meeting). */
    onlineMeetingProvider: OnlineMeetingProvider;
    isCancelled: boolean;
    /** The event in Outlook on the web. */
    webLink?: string;
    /** The HTML body, which holds the meeting blob (the join information). */
    body?: { contentType: string; content: string };
}

export interface NewMeeting {
    subject: string;
    /** A Date, or an ISO 8601 date-time with a zone; sent to Graph in UTC. */
    start: Date | string;
    end: Date | string;
    attendees?: Attendee[];
    /** HTML put before the Teams join information. */
    body?: string;
}

export interface MeetingChanges {
    subject?: string;
    start?: Date | string;
    end?: Date | string;
    /** The full new list (Graph replaces it). */
    attendees?: Attendee[];
    /**
     * Edits the body: called with the current HTML, returns the new HTML, which must still hold
     * the join URL (else `meeting_blob_removed` and nothing is sent): Graph drops the Teams meeting
     * of a body without its meeting blob.
     */
    body?: (currentHtml: string) => string | Promise<string>;
}

export class TeamsMeetings {
    constructor(options: TeamsMeetingsOptions);
    /**
     * The provider `create` uses: `teamsForBusiness` when the calendar's
     * `allowedOnlineMeetingProviders` has it, else `skypeForConsumer` (a personal account) when it
     * has that, else null.
     */
    meetingProvider(): Promise<TeamsMeetingProvider | null>;
    /** Whether the calendar allows Teams meetings: `meetingProvider()` is not null. */
    teamsAllowed(): Promise<boolean>;
    /**
     * Creates an event with a Teams meeting through `meetingProvider()`. Rejects
     * `teams_not_allowed` (action `configuration`) when the account's calendar allows neither.
     */
    create(meeting: NewMeeting): Promise<Meeting>;
    get(id: string): Promise<Meeting>;
    /** Sends only what changes, so the Teams meeting is kept. */
    update(id: string, changes: MeetingChanges): Promise<Meeting>;
    /** Cancels the meeting (organizer only); `comment` goes to the attendees. */
    cancel(id: string, options?: { comment?: string }): Promise<void>;
    /** Deletes the event without a cancellation message. */
    delete(id: string): Promise<void>;
}
