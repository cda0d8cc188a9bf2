// mailconnect/links as published (crates/web/pkg/links.js, from scripts/build-web.sh), in Node:
// the link functions are the wasm module's (core's MessageLink, src/links.rs), and parsing needs
// no page, so Node instantiates the module as a page's init() would. The message-link vectors
// are core's own (crates/core/tests/vectors/message-links.json). What needs a page
// (linkedMessage, registerMailtoHandler) runs in each engine in tests/e2e/links.test.mjs.
//
//   node --test tests/web-import/links.test.mjs

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MailconnectError, initSync } from '../../crates/web/pkg/mailconnect.js';
import { messageLinkUrl, parseMailto, parseMessageLink } from '../../crates/web/pkg/links.js';

initSync({ module: readFileSync(new URL('../../crates/web/pkg/mailconnect_bg.wasm', import.meta.url)) });

const VECTORS = JSON.parse(readFileSync(new URL('../../crates/core/tests/vectors/message-links.json', import.meta.url), 'utf8'));
const BASE = VECTORS.base;

/** The error `f` throws, checked to be a MailconnectError with `code`. */
function thrown(f, code) {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof MailconnectError, `${e}`);
    assert.equal(e.code, code, e.message);
    assert.equal(e.retryable, false);
    return e;
  }
  assert.fail(`expected ${code}`);
}

describe('message links (core\'s vectors)', () => {
  for (const { link, url } of VECTORS.build) {
    test(`builds ${url} and parses it back`, () => {
      assert.equal(messageLinkUrl(link, BASE), url);
      assert.deepEqual(parseMessageLink(url, BASE), link);
    });
  }

  for (const { input, link } of VECTORS.parse) {
    test(`${link ? 'accepts' : 'refuses'} ${JSON.stringify(input)}`, () => {
      if (link) assert.deepEqual(parseMessageLink(input, BASE), link);
      else assert.equal(thrown(() => parseMessageLink(input, BASE), 'invalid_message_link').action, 'none');
    });
  }
});

describe('message link arguments', () => {
  test('a base that is not https (or http on loopback), or has a query, is a configuration error', () => {
    for (const base of ['http://mail.example.com/', 'ftp://mail.example.com/', 'https://mail.example.com/?x=1', 'https://a@mail.example.com/', 'mail.example.com/', undefined]) {
      const e = thrown(() => parseMessageLink(`${base}?mid=a@b`, base), 'configuration_error');
      assert.equal(e.action, 'configuration');
    }
    assert.deepEqual(parseMessageLink('http://localhost:8787/?mid=a@b', 'http://localhost:8787/'), { messageId: 'a@b' });
    assert.deepEqual(parseMessageLink('http://[::1]:8787/?mid=a@b', 'http://[::1]:8787/'), { messageId: 'a@b' });
  });

  test('UIDs given as digits read as the numbers parseMessageLink reads (leading zeros too)', () => {
    const url = messageLinkUrl({ folder: 'INBOX', uidvalidity: 1, uid: 7 }, BASE);
    assert.equal(messageLinkUrl({ folder: 'INBOX', uidvalidity: '1', uid: '0000000000000000000007' }, BASE), url);
    assert.deepEqual(parseMessageLink(url.replace('uid=7', 'uid=0000000000000000000007'), BASE), { folder: 'INBOX', uidvalidity: 1, uid: 7 });
  });

  test('building a link that is not one is a configuration error, not a URL', () => {
    for (const link of [{ folder: 'INBOX', uidvalidity: 1, uid: 0 }, { folder: '', uidvalidity: 1, uid: 1 }, { folder: 'INBOX', uidvalidity: 1.5, uid: 1 }, { folder: 'INBOX', uidvalidity: '+1', uid: 1 }, { folder: 'INBOX', uidvalidity: 1, uid: '4294967296' }, { messageId: 'nobody' }, {}, null]) {
      thrown(() => messageLinkUrl(link, BASE), 'configuration_error');
    }
  });
});

describe('mailto: links (RFC 6068)', () => {
  const compose = (fields) => ({ to: [], cc: [], bcc: [], subject: '', body: '', ...fields });

  test('the RFC\'s examples read as it says', () => {
    const cases = [
      ['mailto:chris@example.com', { to: ['chris@example.com'] }],
      ['mailto:infobot@example.com?subject=current-issue', { to: ['infobot@example.com'], subject: 'current-issue' }],
      ['mailto:infobot@example.com?body=send%20current-issue%0D%0Asend%20index', { to: ['infobot@example.com'], body: 'send current-issue\r\nsend index' }],
      ['mailto:list@example.org?In-Reply-To=%3C3469A91.D10AF4C@example.com%3E', { to: ['list@example.org'], inReplyTo: '<3469A91.D10AF4C@example.com>' }],
      ['mailto:joe@example.com?cc=bob@example.com&body=hello', { to: ['joe@example.com'], cc: ['bob@example.com'], body: 'hello' }],
      ['mailto:?to=joe@example.com&cc=bob@example.com&body=hello', { to: ['joe@example.com'], cc: ['bob@example.com'], body: 'hello' }],
      ['mailto:gorby%25kremvax@example.com', { to: ['gorby%kremvax@example.com'] }],
      ['mailto:unlikely%3Faddress@example.com?blat=foop', { to: ['unlikely?address@example.com'] }],
      ['mailto:Mike%26family@example.org', { to: ['Mike&family@example.org'] }],
    ];
    for (const [url, fields] of cases) assert.deepEqual(parseMailto(url), compose(fields), url);
  });

  test('several recipients, + kept literally, a broken escape kept, other headers dropped', () => {
    const url = 'MAILTO:a@x.example,%20b@x.example?to=c@x.example&bcc=d@x.example,e@x.example&subject=1+1%3D2%20(100%)&from=ceo@x.example&X-Mailer=evil';
    assert.deepEqual(parseMailto(url), compose({ to: ['a@x.example', 'b@x.example', 'c@x.example'], bcc: ['d@x.example', 'e@x.example'], subject: '1+1=2 (100%)' }));
  });

  test('a run of escapes that is UTF-8 is decoded, one that is not stays as written', () => {
    const url = 'mailto:ren%C3%A9@x.example?subject=caf%C3%A9%20cr%C3%A8me&body=%FF%20x%C3';
    assert.deepEqual(parseMailto(url), compose({ to: ['rené@x.example'], subject: 'café crème', body: '%FF%20x%C3' }));
  });

  test('anything but a mailto: URL is invalid_mailto', () => {
    for (const url of ['https://mail.example.com/', 'mid:a@b', 'javascript:alert(1)', '']) thrown(() => parseMailto(url), 'invalid_mailto');
  });
});
