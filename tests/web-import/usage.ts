// The package's public API as README.md and crates/web/README.md document it, type-checked against
// the shipped declarations (crates/web/pkg/*.d.ts, from scripts/build-web.sh) by
//
//   node_modules/.bin/tsc --noEmit --strict -p tests/web-import/tsconfig.json
//
// It is never run. `Is<A, B>` fixes a documented type exactly; `@ts-expect-error` marks what the
// types must refuse. Return values are checked by assignment, so additions stay allowed.

import init, {
  Connector,
  endSession,
  handleCallback,
  MailconnectError,
  type Account,
  type Action,
  type AdminConsent,
  type CallbackOptions,
  type ConnectOptions,
  type ConnectorOptions,
  type EndSessionOptions,
  type Status,
  type TokenInfo,
} from "mailconnect";
import {
  linkedMessage,
  messageLinkUrl,
  parseMailto,
  parseMessageLink,
  registerMailtoHandler,
  type Compose,
  type MessageLink,
} from "mailconnect/links";
import {
  DEFAULT_GRAPH_BASE,
  TeamsMeetings,
  type Attendee,
  type Meeting,
  type MeetingChanges,
  type NewMeeting,
  type OnlineMeetingProvider,
  type TeamsMeetingProvider,
  type TeamsMeetingsOptions,
  type TokenSource,
} from "mailconnect/meetings";

/** True only when A and B are the same type (not merely assignable). */
type Is<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function exactly<A, B>(proof: Is<A, B>): void {
  void proof;
}
/** True when T is `any`, which assignments cannot catch. */
type IsAny<T> = 0 extends 1 & T ? true : false;
type Returns<F extends (...args: never[]) => unknown> = IsAny<Awaited<ReturnType<F>>>;

export async function connectorApi(button: HTMLButtonElement): Promise<void> {
  await init();

  exactly<Action, "reconnect" | "consent" | "interaction" | "configuration" | "retry" | "none">(true);
  exactly<[Returns<typeof Connector.load>, Returns<Connector["connect"]>, Returns<Connector["status"]>], [false, false, false]>(true);
  exactly<[Returns<Connector["accessToken"]>, Returns<Connector["disconnect"]>], [false, false]>(true);

  const options: ConnectorOptions = { edge: "/oauth", connector: "teams", redirectUri: "https://mail.example.com/callback", refreshMarginMs: 60_000 };
  const teams: Connector = await Connector.load(options);
  await Connector.load({ edge: "/oauth", connector: "teams" });
  // @ts-expect-error `connector` is required
  await Connector.load({ edge: "/oauth" });
  const ticket = async (): Promise<string> => (await fetch("/webmail/ticket", { method: "POST" })).text();
  await Connector.load({ edge: "/oauth", connector: "teams", ticket });
  // @ts-expect-error a ticket is a function resolving to the ticket, not the ticket
  await Connector.load({ edge: "/oauth", connector: "teams", ticket: "eyJ..." });
  const end: EndSessionOptions = { edge: "/oauth" };
  const ended: Promise<void> = endSession(end);
  await ended;
  exactly<Returns<typeof endSession>, false>(true);
  // @ts-expect-error the edge is required
  await endSession({});

  const connect: ConnectOptions = {
    mode: "auto",
    timeoutMs: 300_000,
    returnTo: "/inbox",
    prompt: "select_account",
    loginHint: "ada@contoso.com",
    domainHint: "contoso.com",
  };
  for (const mode of ["popup", "redirect", "auto"] as const) teams.connect({ mode });
  for (const prompt of ["login", "consent", "select_account", "none"] as const) teams.connect({ prompt });
  // @ts-expect-error not a mode
  teams.connect({ mode: "tab" });
  // @ts-expect-error not a prompt
  teams.connect({ prompt: "always" });

  // connect() is not async, but returns a promise of the status.
  button.onclick = () => {
    const status: Promise<Status> = teams.connect(connect);
    status.then((s) => s.account?.name, (e: unknown) => e instanceof MailconnectError && e.code);
  };

  const status: Status = await teams.status();
  exactly<typeof status.connected, boolean>(true);
  const account: Account | undefined = status.account;
  if (account) {
    exactly<typeof account.name, string | undefined>(true);
    exactly<typeof account.username, string | undefined>(true);
    exactly<typeof account.oid, string | undefined>(true);
    exactly<typeof account.tid, string | undefined>(true);
  }

  const token: TokenInfo = await teams.accessToken();
  exactly<typeof token.accessToken, string>(true);
  exactly<typeof token.expiresAt, number>(true);
  exactly<typeof token.scope, string>(true);
  exactly<typeof token.account, Account | undefined>(true);

  const disconnected: Promise<void> = teams.disconnect();
  await disconnected;
  const onChange = (event: CustomEvent<Status>): void => {
    exactly<typeof event.detail, Status>(true);
  };
  teams.addEventListener("change", onChange);
  teams.removeEventListener("change", onChange);
  // @ts-expect-error the only event is "change"
  teams.addEventListener("click", onChange);
  teams.free();

  const done = await handleCallback();
  exactly<typeof done, void | AdminConsent>(true);
  const callbackOptions: CallbackOptions = { edge: "/oauth" };
  await handleCallback(callbackOptions);
  // @ts-expect-error the edge is a URL string
  await handleCallback({ edge: 42 });
  if (done) {
    exactly<typeof done.adminConsent, true>(true);
    exactly<typeof done.tenant, string | undefined>(true);
  }
}

export function errors(e: unknown): Action | undefined {
  if (!(e instanceof MailconnectError)) return undefined;
  const error: Error = e;
  exactly<typeof e.code, string>(true);
  exactly<typeof e.action, Action>(true);
  exactly<typeof e.retryable, boolean>(true);
  exactly<typeof e.errorCodes, number[] | undefined>(true);
  return error instanceof MailconnectError ? e.action : undefined;
}

export function links(): void {
  const base = "https://mail.example.com/webmail/";
  const byUid: MessageLink = { folder: "INBOX", uidvalidity: 1700000000, uid: 42 };
  const byId: MessageLink = { messageId: "CAF1+x@mail.example.com" };
  // @ts-expect-error a link by UID needs its UIDVALIDITY
  const broken: MessageLink = { folder: "INBOX", uid: 42 };
  void broken;
  const url: string = messageLinkUrl(byUid, base) + messageLinkUrl(byId, base);
  const parsed: MessageLink = parseMessageLink(url, base);
  if ("messageId" in parsed) exactly<typeof parsed.messageId, string>(true);
  else exactly<[typeof parsed.folder, typeof parsed.uidvalidity, typeof parsed.uid], [string, number, number]>(true);
  const here: MessageLink | undefined = linkedMessage(base);
  void here;

  const draft: Compose = parseMailto("mailto:grace@contoso.com?subject=Hi");
  exactly<[typeof draft.to, typeof draft.cc, typeof draft.bcc], [string[], string[], string[]]>(true);
  exactly<[typeof draft.subject, typeof draft.body, typeof draft.inReplyTo], [string, string, string | undefined]>(true);
  const registered: void = registerMailtoHandler("/webmail/?compose=%s");
  void registered;
}

export async function meetings(tokens: Connector): Promise<void> {
  exactly<typeof DEFAULT_GRAPH_BASE, "https://graph.microsoft.com/v1.0">(true);
  exactly<OnlineMeetingProvider, "unknown" | "skypeForBusiness" | "skypeForConsumer" | "teamsForBusiness">(true);
  exactly<TeamsMeetingProvider, "teamsForBusiness" | "skypeForConsumer">(true);

  const source: TokenSource = tokens; // a Connector is a token source
  const options: TeamsMeetingsOptions = { tokens: source, graphBase: DEFAULT_GRAPH_BASE, maxRetries: 3, maxRetryAfterMs: 60_000 };
  const calendar = new TeamsMeetings(options);
  // @ts-expect-error the token source is required
  new TeamsMeetings({ graphBase: DEFAULT_GRAPH_BASE });

  exactly<[Returns<TeamsMeetings["create"]>, Returns<TeamsMeetings["update"]>, Returns<TeamsMeetings["get"]>], [false, false, false]>(true);
  exactly<[Returns<TeamsMeetings["meetingProvider"]>, Returns<TeamsMeetings["teamsAllowed"]>], [false, false]>(true);
  exactly<[Returns<typeof parseMessageLink>, Returns<typeof parseMailto>, Returns<typeof linkedMessage>], [false, false, false]>(true);
  const provider: TeamsMeetingProvider | null = await calendar.meetingProvider();
  const allowed: boolean = await calendar.teamsAllowed();
  void [provider, allowed];

  const attendees: Attendee[] = ["grace@contoso.com", { email: "charles@contoso.com", name: "Charles" }];
  const input: NewMeeting = { subject: "Design review", start: new Date(), end: "2031-05-06T11:00:00Z", attendees, body: "<p>Agenda</p>" };
  const created: Meeting = await calendar.create(input);
  exactly<typeof created.joinUrl, string | null>(true);
  exactly<typeof created.onlineMeetingProvider, OnlineMeetingProvider>(true);
  exactly<typeof created.start, Date | undefined>(true);

  const changes: MeetingChanges = { subject: "Moved", body: (html: string) => html.replace("Agenda", "New agenda") };
  const updated: Meeting = await calendar.update(created.id, changes);
  await calendar.update(updated.id, { body: async (html) => html });
  const read: Meeting = await calendar.get(updated.id);
  const cancelled: void = await calendar.cancel(read.id, { comment: "Sorry" });
  const deleted: void = await calendar.delete(read.id);
  void [cancelled, deleted];
}
