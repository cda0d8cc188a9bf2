#!/usr/bin/env node
// Replaces the bodies of Rust's panic paths and formatting code with `unreachable`, in place, in a
// wasm file of the browser module that still has its function names (scripts/opt-web-wasm.sh runs
// it before wasm-opt, which then drops what only they used, and the names):
//   node scripts/snip-web-wasm.mjs FILE.wasm
//
// Why: the module's panic handler (crates/web/src/lib.rs) aborts without reading the message, but
// stable Rust's precompiled `core` still builds each panic's message arguments before calling it,
// so the table keeps `<char as Debug>::fmt`, `Formatter::pad` and their tables alive: about 3 KB of
// the package's gzip for text nobody reads (nightly's `panic_immediate_abort` does the same job).
// What is snipped:
// - functions that always panic (`core::panicking::*`, `slice_error_fail`, `unwrap_failed`, ...):
//   with that handler they end in `unreachable` anyway, so a panic still traps, at the same place;
// - `fmt` methods and `core::fmt` functions, which only `core::fmt::write` (`format!`, `to_string`,
//   `write!`) can call. The script fails if the module links it (or std's panic handler, which
//   calls it): then they are live.
import { readFileSync, writeFileSync } from "node:fs";
import { assemble, functionBodies, functionNames, leb, sections, TRAP_BODY } from "./wasm-bytes.mjs";

const file = process.argv[2];
if (!file) {
  console.error("usage: node scripts/snip-web-wasm.mjs FILE.wasm");
  process.exit(2);
}
// Demangled names: precompiled `core` is `core[hash]::…`, generic code of the crates `core::…::h<hash>`.
const CORE = String.raw`core(\[[0-9a-f]+\])?::`;
const ALWAYS_PANICS = new RegExp(
  String.raw`^${CORE}(panicking::|str::slice_error_fail|slice::index::slice_\w*fail|cell::panic_already_|option::(unwrap|expect)_failed|result::unwrap_failed)`,
);
const FORMATTING = new RegExp(String.raw`^<.* as ${CORE}fmt::\w+>::fmt(::h[0-9a-f]{16})?$|^<?${CORE}fmt::`);
// What runs the fmt methods, under any name it may keep after inlining; std's panic handler too.
const FORMATTING_ENGINE = /fmt::write|write_fmt|fmt::format|^std(\[[0-9a-f]+\])?::panicking/;

const wasm = readFileSync(file);
const list = sections(wasm, file);

const { code, bodies, imported } = functionBodies(list, file);
const names = functionNames(list);
const linked = [...names.values()];
if (linked.length === 0 || linked.some((n) => /^_(ZN|R)/.test(n))) {
  throw new Error(`${file} has no demangled function names: build it without stripping symbols, and demangled (wasm-bindgen's default)`);
}
if (linked.some((n) => FORMATTING_ENGINE.test(n))) {
  throw new Error(`${file} links Rust's formatting (format!, to_string, write!, or std's panic handler): its fmt methods are live, so nothing can be snipped`);
}

const rewritten = [leb(bodies.length)];
let snipped = 0;
for (const [i, { start, end }] of bodies.entries()) {
  const name = names.get(imported + i) ?? "";
  if (ALWAYS_PANICS.test(name) || FORMATTING.test(name)) {
    rewritten.push(leb(TRAP_BODY.length), TRAP_BODY);
    snipped++;
  } else {
    rewritten.push(leb(end - start), code.body.subarray(start, end));
  }
}
code.body = Buffer.concat(rewritten);
writeFileSync(file, assemble(wasm, list));
console.log(`snip-web-wasm: ${snipped} panic and formatting functions in ${file}`);
