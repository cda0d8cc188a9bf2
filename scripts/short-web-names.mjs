#!/usr/bin/env node
// Shortens the names that wasm-bindgen gives the glue between the browser module's wasm and its
// JavaScript, in one package folder of scripts/build-web.sh:
//   node scripts/short-web-names.mjs crates/web/pkg
// Each import and export named `__wbg_…` or `__wbindgen_…` (`__wbg_set_method_639e69af35614d36`:
// a name plus a 16-digit hash) becomes `__w` and a number, in the wasm's import and export
// sections and, as whole words, in every .js and .d.ts of the folder. The hashes are random
// digits that gzip cannot compress, and each name is written twice (wasm and glue): 3.6 KB of the
// package's gzip. Nothing else changes: the import module names (a bundler resolves
// `./mailconnect_bg.js` by them), the exports the glue calls by their Rust names, the code.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";

const GLUE_NAME = /^__(wbg|wbindgen)_[A-Za-z0-9_]+$/;
const dir = process.argv[2];
if (!dir) {
  console.error("usage: node scripts/short-web-names.mjs PACKAGE_DIR");
  process.exit(2);
}
const wasmPath = `${dir}/mailconnect_bg.wasm`;
const texts = readdirSync(dir, { recursive: true }).filter((f) => /\.(js|d\.ts)$/.test(f)).map((f) => `${dir}/${f}`);
const allText = texts.map((f) => readFileSync(f, "utf8")).join("\n");

const renames = new Map();
let next = 0;
/** The short name of a glue name: `__w` and a number that occurs nowhere in the glue yet. */
function rename(name) {
  if (!GLUE_NAME.test(name)) return name;
  if (!renames.has(name)) {
    let short;
    do short = `__w${(next++).toString(36)}`;
    while (new RegExp(`\\b${short}\\b`).test(allText));
    renames.set(name, short);
  }
  return renames.get(name);
}

// ---- the wasm: rewrite the names in the import (2) and export (7) sections -----------------
const wasm = readFileSync(wasmPath);
let pos = 0;
const u32 = (bytes) => {
  let result = 0, shift = 0, byte;
  do {
    byte = bytes[pos++];
    result |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80);
  return result >>> 0;
};
const leb = (n) => {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return Buffer.from(out);
};
const name = (bytes) => {
  const length = u32(bytes);
  const text = bytes.subarray(pos, pos + length).toString("utf8");
  pos += length;
  return text;
};
const encodeName = (text) => {
  const bytes = Buffer.from(text, "utf8");
  return Buffer.concat([leb(bytes.length), bytes]);
};
/** Skips limits (a flags byte, a minimum, and a maximum when flag 1 is set). */
const limits = (bytes) => {
  const flags = bytes[pos++];
  u32(bytes);
  if (flags & 1) u32(bytes);
};

if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error(`${wasmPath} is not a wasm module`);
const parts = [wasm.subarray(0, 8)];
pos = 8;
while (pos < wasm.length) {
  const id = wasm[pos++];
  const size = u32(wasm);
  const start = pos, end = pos + size;
  if (id !== 2 && id !== 7) {
    parts.push(Buffer.from([id]), leb(size), wasm.subarray(start, end));
    pos = end;
    continue;
  }
  const section = wasm.subarray(start, end);
  pos = 0;
  const count = u32(section);
  const out = [leb(count)];
  for (let i = 0; i < count; i++) {
    if (id === 2) {
      const module = name(section);
      const field = name(section);
      const descStart = pos;
      const kind = section[pos++];
      if (kind === 0) u32(section); // function: type index
      else if (kind === 1) (pos++, limits(section)); // table: element type, limits
      else if (kind === 2) limits(section); // memory
      else if (kind === 3) pos += 2; // global: value type, mutability
      else if (kind === 4) (pos++, u32(section)); // tag: attribute, type index
      else throw new Error(`unknown import kind ${kind} in ${wasmPath}`);
      out.push(encodeName(module), encodeName(rename(field)), section.subarray(descStart, pos));
    } else {
      const field = name(section);
      const descStart = pos;
      pos++;
      u32(section);
      out.push(encodeName(rename(field)), section.subarray(descStart, pos));
    }
  }
  if (pos !== section.length) throw new Error(`section ${id} of ${wasmPath} did not parse to its end`);
  const body = Buffer.concat(out);
  parts.push(Buffer.from([id]), leb(body.length), body);
  pos = end;
}
writeFileSync(wasmPath, Buffer.concat(parts));

// ---- the glue: the same names, as whole words --------------------------------------------------
if (renames.size) {
  const pattern = new RegExp(`\\b(${[...renames.keys()].join("|")})\\b`, "g");
  for (const file of texts) {
    const text = readFileSync(file, "utf8");
    writeFileSync(file, text.replace(pattern, (n) => renames.get(n)));
  }
}
console.log(`short-web-names: ${renames.size} names in ${dir}`);
