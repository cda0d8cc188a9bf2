// The webmail's back end acting for its users (issue 14): a user connects in the "browser" (a
// ticket minted by crates/cli/examples/mint_ticket.rs binds the session, then the code flow), and
// `mailconnect user-token` gets that user's delegated token from the edge's users route, whose
// XOAUTH2 strings log in to Dovecot as the user; `user-disconnect` forgets the grant everywhere;
// and each refusal is said clearly with the CLI's exit status.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_KEY, BACKEND_API_KEY, imapLogin, imapSearch, pop3Login, smtpLogin, smtpSend, startMailStack } from './harness.mjs';

const ADA = { account: 'ada', mailbox: 'ada@contoso.dev' };

describe('mailconnect user-token: a webmail user\'s delegated token for the back end, against Dovecot', () => {
  let stack;
  before(async () => {
    stack = await startMailStack();
    await stack.connectUser(ADA.account, 'outlook-mail', ADA.mailbox);
  });
  after(() => stack?.stop());

  const userToken = (account, connector, ...args) => stack.userCommand('user-token', account, connector, args);

  test('the XOAUTH2 string (for the connected account\'s mailbox by default) logs in to IMAP, POP3 and SMTP as the user', async () => {
    const xoauth2 = await userToken(ADA.account, 'outlook-mail');
    assert.equal(xoauth2.code, 0, xoauth2.stderr);
    assert.match(Buffer.from(xoauth2.stdout.trim(), 'base64').toString('utf8'), /^user=ada@contoso\.dev\x01auth=Bearer [\w-]+\.[\w-]+\.[\w-]+\x01\x01$/);
    const imap = await imapLogin(stack.mail.imap, xoauth2.stdout.trim());
    assert.match(imap.reply, /^a OK .*Logged in/);

    const pop3Form = await userToken(ADA.account, 'outlook-mail', '--pop3');
    assert.equal(pop3Form.code, 0, pop3Form.stderr);
    const pop3 = await pop3Login(stack.mail.pop3, pop3Form.stdout.replace(/\n$/, ''));
    assert.match(pop3.reply, /^\+OK Logged in/);

    const smtp = await smtpLogin(stack.mail.smtp, xoauth2.stdout.trim());
    assert.match(smtp.reply, /^235 /);
    const subject = `sent for Ada by the back end ${randomBytes(6).toString('hex')}`;
    assert.match(await smtpSend(smtp.conn, { from: ADA.mailbox, to: ADA.mailbox, subject, body: 'While Ada was away.' }), /^250 /);
    let uids = [];
    for (let i = 0; i < 50 && uids.length === 0; i += 1) {
      uids = await imapSearch(imap.conn, subject);
      if (uids.length === 0) await sleep(100);
    }
    assert.equal(uids.length, 1, `"${subject}" did not arrive in Ada's mailbox`);
    for (const { conn } of [imap, pop3, smtp]) conn.close();
  });

  test('--json is the edge\'s answer: the delegated token, its expiry and the connected account', async () => {
    const out = await userToken(ADA.account, 'outlook-mail', '--json');
    assert.equal(out.code, 0, out.stderr);
    const answer = JSON.parse(out.stdout);
    assert.equal(answer.token_type, 'Bearer');
    assert.ok(answer.expires_at > Date.now() / 1000 + 60, JSON.stringify(answer.expires_at));
    assert.equal(answer.account.username, ADA.mailbox);
    assert.match(answer.scope, /IMAP\.AccessAsUser\.All/);
    assert.equal(answer.refresh_token, undefined);
    const claims = JSON.parse(Buffer.from(answer.access_token.split('.')[1], 'base64url').toString('utf8'));
    assert.equal(claims.preferred_username, ADA.mailbox);
  });

  test('--mailbox builds the strings for another mailbox, which the server refuses for Ada\'s token', async () => {
    const out = await userToken(ADA.account, 'outlook-mail', '--mailbox', 'grace@contoso.dev');
    assert.equal(out.code, 0, out.stderr);
    const imap = await imapLogin(stack.mail.imap, out.stdout.trim());
    assert.equal(imap.reply, 'a NO [AUTHENTICATIONFAILED] Authentication failed.');
    imap.conn.close();
  });

  test('doctor --account diagnoses the user\'s delegated token against the servers', async () => {
    const out = await stack.doctor(['--edge', `${stack.edge.url}/oauth`, '--connector', 'outlook-mail', '--account', ADA.account, '--user', ADA.mailbox, '--margin', '1800'], { apiKey: BACKEND_API_KEY });
    assert.equal(out.code, 0, out.stdout + out.stderr);
    assert.match(out.stdout, /^mailconnect doctor: ada@contoso\.dev with account ada's token of connector outlook-mail from /m);
    assert.match(out.stdout, /^token +ok +delegated token for https:\/\/outlook\.office\.com, .*scopes .*IMAP\.AccessAsUser\.All.*, user ada@contoso\.dev, expires in \d+ s$/m);
    for (const protocol of ['imap', 'pop3', 'smtp']) assert.match(out.stdout, new RegExp(`^${protocol} +ok +127\\.0\\.0\\.1:\\d+ \\(plain\\) accepted XOAUTH2 for ada@contoso\\.dev$`, 'm'));
  });

  describe('refusals, said clearly', () => {
    test('a wrong key, or a relay\'s connector key: exit 1 with the edge\'s invalid_api_key', async () => {
      for (const apiKey of [randomBytes(32).toString('base64'), API_KEY]) {
        const out = await stack.userCommand('user-token', ADA.account, 'outlook-mail', [], { apiKey });
        assert.equal(out.code, 1, out.stderr);
        assert.equal(out.stdout, '');
        assert.match(out.stderr, /^mailconnect: .*\(invalid_api_key; action: configuration\)\n$/);
      }
    });

    test('a connector without backend_access: exit 1, the edge names the setting', async () => {
      const out = await userToken(ADA.account, 'teams');
      assert.equal(out.code, 1, out.stderr);
      assert.match(out.stderr, /^mailconnect: .*backend_access.*\n$/);
    });

    test('a user who never connected: exit 1, the user must connect in the webmail', async () => {
      const out = await userToken('grace', 'outlook-mail');
      assert.equal(out.code, 1, out.stderr);
      assert.match(out.stderr, /^mailconnect: .*\(not_connected; action: reconnect\)\n$/);
    });

    test('the key on the command line or none at all: exit 2, nothing sent', async () => {
      const argv = await stack.mailconnect(['user-token', '--edge', `${stack.edge.url}/oauth`, '--account', 'ada', '--connector', 'outlook-mail', '--api-key', 'k']);
      assert.equal(argv.code, 2);
      assert.match(argv.stderr, /never pass the API key on the command line/);
      const none = await stack.userCommand('user-token', ADA.account, 'outlook-mail', [], { apiKey: '' });
      assert.equal(none.code, 2);
      assert.match(none.stderr, /set MAILCONNECT_API_KEY/);
      const bad = await stack.userCommand('user-token', 'ada/../grace', 'outlook-mail');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /an account id is 1 to 128 of/);
    });
  });

  test('user-disconnect forgets the grant for every device: the next user-token says to connect again', async () => {
    await stack.connectUser('grace', 'outlook-mail', 'grace@contoso.dev');
    assert.equal((await userToken('grace', 'outlook-mail', '--token')).code, 0);
    const out = await stack.userCommand('user-disconnect', 'grace', 'outlook-mail');
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, 'disconnected\n');
    const gone = await userToken('grace', 'outlook-mail');
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /\(not_connected; action: reconnect\)/);
    assert.equal((await userToken(ADA.account, 'outlook-mail', '--token')).code, 0, 'another user keeps her grant');
  });
});
