// Tokens from the edge, through the `mailconnect` command, logging in to a real mail server
// (Dovecot, its oauth2 passdb checking tokens as Exchange Online does): IMAP AUTHENTICATE
// XOAUTH2, the POP3 two-line form, SMTP submission AUTH XOAUTH2 and a message that arrives; then
// the refusals (expired, another resource, another mailbox), each at the server.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectLines } from '../support/mail-server.mjs';
import { RELAY, untilExpired, imapLogin, imapSearch, pop3Login, smtpLogin, smtpSend, startMailStack } from './harness.mjs';

const REFUSED = {
  imap: 'a NO [AUTHENTICATIONFAILED] Authentication failed.',
  pop3: '-ERR [AUTH] Authentication failed.',
  smtp: '535 5.7.8 Authentication failed.',
};

describe('XOAUTH2 with app-only tokens from the edge, against Dovecot', () => {
  let stack;
  before(async () => {
    stack = await startMailStack();
  });
  after(() => stack?.stop());

  test('mailconnect app-token --user logs in to IMAP with AUTHENTICATE XOAUTH2', async () => {
    const { reply, conn } = await imapLogin(stack.mail.imap, await stack.appToken('relay', '--user', RELAY));
    assert.match(reply, /^a OK .*Logged in/);
    assert.deepEqual(await imapSearch(conn, 'nothing sent with this subject'), []);
    conn.close();
  });

  test('the --pop3 form logs in to POP3: AUTH XOAUTH2, then the string after the server\'s +', async () => {
    const twoLines = await stack.appToken('relay', '--user', RELAY, '--pop3');
    assert.match(twoLines, /^AUTH XOAUTH2\r\n[A-Za-z0-9+/]+=*$/);
    const { goAhead, reply, conn } = await pop3Login(stack.mail.pop3, twoLines);
    assert.equal(goAhead.trim(), '+');
    assert.match(reply, /^\+OK Logged in/);
    conn.close();
  });

  test('SMTP submission takes AUTH XOAUTH2, and the message sent arrives in the mailbox', async () => {
    const xoauth2 = await stack.appToken('relay', '--user', RELAY);
    const { ehlo, reply, conn } = await smtpLogin(stack.mail.smtp, xoauth2);
    assert.ok(ehlo.some((l) => /^250[- ]AUTH .*XOAUTH2/.test(l)), ehlo.join('\n'));
    assert.match(reply, /^235 /);
    const subject = `relay test ${randomBytes(6).toString('hex')}`;
    const sent = await smtpSend(conn, { from: RELAY, to: RELAY, subject, body: 'Sent with a token from the edge.\n.A line that starts with a dot.' });
    assert.match(sent, /^250 /);
    conn.close();
    const imap = await imapLogin(stack.mail.imap, xoauth2);
    let uids = [];
    for (let i = 0; i < 50 && uids.length === 0; i += 1) {
      uids = await imapSearch(imap.conn, subject);
      if (uids.length === 0) await sleep(100);
    }
    assert.equal(uids.length, 1, `"${subject}" did not arrive`);
    imap.conn.send(`b UID FETCH ${uids[0]} BODY[TEXT]`);
    let text = '';
    for (let line = await imap.conn.line(); !line.startsWith('b '); line = await imap.conn.line()) text += `${line}\n`;
    assert.match(text, /Sent with a token from the edge\.\n\.A line that starts with a dot\./);
    imap.conn.close();
  });

  test('the bare token (--token) logs in with OAUTHBEARER (RFC 7628) too', async () => {
    const token = await stack.appToken('relay', '--token');
    const oauthbearer = Buffer.from(`n,a=${RELAY},\x01auth=Bearer ${token}\x01\x01`).toString('base64');
    const conn = await connectLines(stack.mail.imap);
    await conn.line();
    conn.send(`a AUTHENTICATE OAUTHBEARER ${oauthbearer}`);
    assert.match(await conn.line(), /^a OK .*Logged in/);
    conn.close();
  });

  test('a delegated token (the service mailbox\'s password grant) opens its own user\'s mailbox', async () => {
    const { reply, conn } = await imapLogin(stack.mail.imap, await stack.appToken('mailbox', '--user', 'ada@contoso.dev'));
    assert.match(reply, /^a OK /);
    conn.close();
  });

  describe('refusals, each at the server', () => {
    test('an expired token', async () => {
      stack.edge.oauth.setMode({ accessTokenTtl: 2 });
      const answer = JSON.parse(await stack.appToken('relay-short', '--user', RELAY, '--json').finally(() => stack.edge.oauth.setMode({ accessTokenTtl: 3600 })));
      assert.ok(answer.expires_in <= 2);
      await untilExpired(answer.access_token);
      const before = stack.mail.refusals().length;
      const imap = await imapLogin(stack.mail.imap, answer.xoauth2);
      assert.equal(imap.reply, REFUSED.imap);
      assert.equal(JSON.parse(imap.challenge).status, '401', 'the RFC 7628 error challenge');
      const pop3 = await pop3Login(stack.mail.pop3, answer.xoauth2_pop3);
      assert.equal(pop3.reply, REFUSED.pop3);
      const smtp = await smtpLogin(stack.mail.smtp, answer.xoauth2);
      assert.equal(smtp.reply, REFUSED.smtp);
      for (const { conn } of [imap, pop3, smtp]) conn.close();
      assert.deepEqual(stack.mail.refusals().slice(before).map((r) => [r.service, r.reason]), [
        ['imap', 'Lifetime validation failed, the token is expired.'],
        ['pop3', 'Lifetime validation failed, the token is expired.'],
        ['submission', 'Lifetime validation failed, the token is expired.'],
      ]);
    });

    test('a token for another resource (Microsoft Graph)', async () => {
      const before = stack.mail.refusals().length;
      const imap = await imapLogin(stack.mail.imap, await stack.appToken('graph-relay', '--user', RELAY));
      assert.equal(imap.reply, REFUSED.imap);
      imap.conn.close();
      assert.deepEqual(stack.mail.refusals().slice(before), [{ service: 'imap', reason: 'Invalid audience.' }]);
    });

    test('an app-only token for a mailbox its service principal was not given', async () => {
      const xoauth2 = await stack.appToken('relay', '--user', 'grace@contoso.dev');
      const imap = await imapLogin(stack.mail.imap, xoauth2);
      assert.equal(imap.reply, REFUSED.imap);
      const smtp = await smtpLogin(stack.mail.smtp, xoauth2);
      assert.equal(smtp.reply, REFUSED.smtp);
      for (const { conn } of [imap, smtp]) conn.close();
    });

    test('a delegated token for another user than the mailbox', async () => {
      const imap = await imapLogin(stack.mail.imap, await stack.appToken('mailbox', '--user', 'grace@contoso.dev'));
      assert.equal(imap.reply, REFUSED.imap);
      imap.conn.close();
    });
  });
});
