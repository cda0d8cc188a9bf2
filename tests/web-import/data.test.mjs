// The data that scripts/gc-web-data.mjs zeroes in the browser package's wasm: only what nothing
// reads. Checked on the package as scripts/build-web.sh left it (crates/web/pkg, after wasm-opt)
// against the linker's output it was made from (target/wasm32-unknown-unknown/web/mailconnect.wasm,
// the same build): at the same memory addresses, every string literal of crates/web and
// crates/core that the linker kept as a data object (error messages, edge fields, storage keys)
// is still there byte for byte, the rest of the data is unchanged or zero, and core's panic and formatting data
// is gone. Builds nothing.
//
//   node --test tests/web-import/data.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { activeData, sections, SYMBOL, symbolTable } from '../../scripts/wasm-bytes.mjs';

const REPO = new URL('../../', import.meta.url).pathname;
const LINKED = resolve(REPO, process.env.CARGO_TARGET_DIR ?? 'target', 'wasm32-unknown-unknown/web/mailconnect.wasm');
const PACKAGE = `${REPO}crates/web/pkg/mailconnect_bg.wasm`;

/**
 * A module's memory as its data segments lay it out, from address `base` on (wasm-opt drops the
 * package's leading zeros, so both modules are read from the linked module's first address),
 * and the addresses where its data objects start (from the symbol table, where there is one).
 */
function memory(path, base) {
  const wasm = readFileSync(path);
  const list = sections(wasm, path);
  const { data, segments } = activeData(list, path);
  base ??= Math.min(...segments.map((s) => s.address));
  const bytes = Buffer.alloc(Math.max(...segments.map((s) => s.address + s.size)) - base);
  for (const s of segments) {
    assert.ok(s.address >= base, `${path} has data below address ${base}`);
    data.body.copy(bytes, s.address - base, s.start, s.start + s.size);
  }
  const starts = () => new Set(symbolTable(list, path).filter((s) => s.kind === SYMBOL.DATA && s.segment !== undefined)
    .map((s) => segments[s.segment].address + s.offset - base));
  return { base, bytes, starts };
}

/** Every occurrence of `needle` in `haystack`. */
function occurrences(haystack, needle) {
  const found = [];
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + 1)) found.push(at);
  return found;
}

/**
 * The string literals of a crate's sources (comments, attributes and the unit tests that end a
 * file, from its `#[cfg(test)]` on, left out), as the bytes the compiler stores. Panics' own messages (`expect`, `panic!`, `assert!`, `unreachable!`) are
 * left out too: they are the data the pass is there to drop.
 */
function literals(dir) {
  const found = new Set();
  for (const file of readdirSync(dir, { recursive: true }).filter((f) => f.endsWith('.rs'))) {
    const source = readFileSync(`${dir}/${file}`, 'utf8').split('#[cfg(test)]')[0];
    for (const line of source.split('\n')) {
      const code = line.trim();
      if (code.startsWith('//') || code.startsWith('#[') || /\bexpect\(|(panic|assert\w*|unreachable)!/.test(code)) continue;
      for (const [, body] of code.matchAll(/(?<![A-Za-z0-9_'])"((?:[^"\\]|\\.)*)"/g)) {
        const text = body.replace(/\\(u\{([0-9a-fA-F]+)\}|.)/g, (_, c, hex) =>
          hex ? String.fromCodePoint(parseInt(hex, 16)) : ({ n: '\n', t: '\t', r: '\r', 0: '\0' })[c] ?? c);
        if (Buffer.byteLength(text) >= 6) found.add(text);
      }
    }
  }
  return [...found];
}

const linked = memory(LINKED);
const shipped = memory(PACKAGE, linked.base);

test('the package has the linked data at the same addresses: each byte unchanged or zeroed', () => {
  assert.ok(shipped.bytes.length <= linked.bytes.length, 'the package has data past the linked module\'s');
  let changed = 0, zeroed = 0;
  for (let i = 0; i < shipped.bytes.length; i++) {
    if (shipped.bytes[i] === linked.bytes[i]) continue;
    if (shipped.bytes[i] !== 0) changed++;
    else zeroed++;
  }
  assert.equal(changed, 0, 'bytes differ from the linker\'s output without being zeroed: not the same build (rebuild with scripts/build-web.sh)');
  assert.ok(zeroed > 1000, `only ${zeroed} bytes zeroed: scripts/gc-web-data.mjs did not run`);
});

test('every string literal of crates/web and crates/core that the linker kept is still there, byte for byte', () => {
  // Where a data object starts: "/session" is also inside the path "crates/web/src/session.rs" of
  // a panic's `Location`, which is zeroed; its own object is not.
  const starts = linked.starts();
  let checked = 0;
  for (const text of [...literals(`${REPO}crates/web/src`), ...literals(`${REPO}crates/core/src`)]) {
    const bytes = Buffer.from(text);
    const at = occurrences(linked.bytes, bytes).filter((i) => starts.has(i));
    if (at.length === 0) continue; // not linked: test code, the Worker's, or built into code
    checked++;
    for (const i of at) {
      assert.ok(shipped.bytes.subarray(i, i + bytes.length).equals(bytes), `${JSON.stringify(text)} at ${linked.base + i} was zeroed`);
    }
  }
  assert.ok(checked >= 100, `only ${checked} literals found in the linked data`);
});

test("core's panic messages and formatting tables are gone", () => {
  const dead = [
    'attempt to divide by zero',
    'RefCell already borrowed',
    '`async fn` resumed after completion',
    ' is out of bounds of `',
    '00010203040506070809101112131415',
    'library/core/src/unicode/',
    '0123456789abcdef',
  ];
  const linkedToo = dead.filter((text) => linked.bytes.includes(text));
  assert.ok(linkedToo.length >= 4, `only ${linkedToo.length} of the known dead strings are in the linked data: update this list`);
  for (const text of linkedToo) assert.ok(!shipped.bytes.includes(text), `${JSON.stringify(text)} is still in the package`);
});
