#!/usr/bin/env node
// Prints the gzip and brotli sizes of the browser module as a page loads it (the wasm, the JS glue
// and its snippets from crates/web/pkg, built by scripts/build-web.sh) and fails above the budget.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const BUDGET_GZIP = 25 * 1024; // bytes; oidc-client-ts 3.5 is 18.1 KB, @azure/msal-browser 5.29 is 76.8 KB
const pkg = new URL("../crates/web/pkg/", import.meta.url).pathname;
// Modules a webmail imports only for extra features (`mailconnect/meetings`, `mailconnect/links`):
// printed, but not part of what every page loads, so not in the budget.
const OPT_IN = new Set(["meetings.js", "links.js"]);

const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith(".wasm") || (name.endsWith(".js") && !name.endsWith(".d.js"))) files.push(path);
  }
};
try {
  walk(pkg);
} catch {
  console.error(`size-web: ${pkg} is missing; run scripts/build-web.sh first`);
  process.exit(2);
}
if (!files.some((f) => f.endsWith(".wasm"))) {
  console.error(`size-web: no .wasm in ${pkg}; run scripts/build-web.sh first`);
  process.exit(2);
}

const kb = (n) => (n / 1024).toFixed(1).padStart(6) + " KB";
const rows = files.sort().map((path) => {
  const raw = readFileSync(path);
  const gzip = gzipSync(raw, { level: 9 }).length;
  const brotli = brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  return { file: relative(pkg, path), raw: raw.length, gzip, brotli };
});
const main = rows.filter((r) => !OPT_IN.has(r.file));
const total = main.reduce((t, r) => ({ raw: t.raw + r.raw, gzip: t.gzip + r.gzip, brotli: t.brotli + r.brotli }), { raw: 0, gzip: 0, brotli: 0 });

const width = Math.max(...rows.map((r) => r.file.length + " (opt-in)".length), 5);
console.log(`${"file".padEnd(width)}  ${"raw".padStart(9)}  ${"gzip -9".padStart(9)}  ${"brotli".padStart(9)}`);
const optIn = rows.filter((r) => OPT_IN.has(r.file)).map((r) => ({ ...r, file: `${r.file} (opt-in)` }));
for (const r of [...main, { file: "total", ...total }, ...optIn]) {
  console.log(`${r.file.padEnd(width)}  ${kb(r.raw)}  ${kb(r.gzip)}  ${kb(r.brotli)}`);
}
console.log(`budget: ${kb(BUDGET_GZIP).trim()} gzip (KB = 1024 bytes)`);
if (total.gzip > BUDGET_GZIP) {
  console.error(`size-web: over budget by ${kb(total.gzip - BUDGET_GZIP).trim()} gzip`);
  process.exit(1);
}
