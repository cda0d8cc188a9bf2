// What the local OAuth server knows of Entra ID: its resources and permissions, how it reads a
// scope, and the shape of its errors (AADSTS numbers and texts, trace ids).
import { randomUUID } from 'node:crypto';

export const GRAPH = 'https://graph.microsoft.com';
export const OUTLOOK = 'https://outlook.office.com';
export const OUTLOOK365 = 'https://outlook.office365.com';

// Delegated permissions each resource knows, with the words the consent page shows.
export const RESOURCES = {
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
export const APP_ROLES = {
  [OUTLOOK365]: ['SMTP.SendAsApp', 'IMAP.AccessAsApp', 'POP.AccessAsApp'],
  [GRAPH]: ['Mail.Send'],
};
export const OIDC_SCOPE_WORDS = {
  openid: 'Sign you in',
  profile: 'View your basic profile',
  email: 'View your email address',
  offline_access: 'Maintain access to data you have given it access to',
};

/** The resource a scope belongs to, the way Entra reads it (core's `Scope::resource`). */
export function resourceOf(scope) {
  if (scope in OIDC_SCOPE_WORDS) return undefined;
  const i = scope.lastIndexOf('/');
  return scope.includes('://') && i > 0 ? scope.slice(0, i) : GRAPH;
}

/** Every scope `resource` grants, as a client requests it. */
export function resourceScopes(resource) {
  const names = Object.keys(RESOURCES[resource] ?? {});
  const full = resource === GRAPH ? names : names.map((n) => `${resource}/${n}`);
  return [...full, `${resource}/.default`];
}

/** Entra's AADSTS number and text for a token endpoint error, from oidc-provider's detail. */
export function entraError(body, detail, { clientId, tenant, redirectUri }) {
  const d = detail ?? '';
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
}

/** The fields Entra adds to an error body for AADSTS `code` with `text`. */
export function traced(code, text) {
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
