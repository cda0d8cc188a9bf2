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
import { assemble, encodeName, leb, Reader, sections } from "./wasm-bytes.mjs";

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
const rewritten = sections(wasm, wasmPath).map(({ id, body }) => {
  if (id !== 2 && id !== 7) return { id, body };
  const reader = new Reader(body);
  const count = reader.u32();
  const out = [leb(count)];
  for (let i = 0; i < count; i++) {
    if (id === 2) {
      const module = reader.name();
      const field = reader.name();
      const descStart = reader.pos;
      reader.importKind(wasmPath);
      out.push(encodeName(module), encodeName(rename(field)), body.subarray(descStart, reader.pos));
    } else {
      const field = reader.name();
      const descStart = reader.pos;
      reader.pos++;
      reader.u32();
      out.push(encodeName(rename(field)), body.subarray(descStart, reader.pos));
    }
  }
  if (reader.pos !== body.length) throw new Error(`section ${id} of ${wasmPath} did not parse to its end`);
  return { id, body: Buffer.concat(out) };
});
writeFileSync(wasmPath, assemble(wasm, rewritten));

// ---- the glue: the same names, as whole words --------------------------------------------------
if (renames.size) {
  const pattern = new RegExp(`\\b(${[...renames.keys()].join("|")})\\b`, "g");
  for (const file of texts) {
    const text = readFileSync(file, "utf8");
    writeFileSync(file, text.replace(pattern, (n) => renames.get(n)));
  }
}
console.log(`short-web-names: ${renames.size} names in ${dir}`);
