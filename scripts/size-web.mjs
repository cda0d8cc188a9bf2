#!/usr/bin/env node
// Prints the gzip and brotli sizes of the browser module's npm package (crates/web/pkg, built by
// scripts/build-web.sh) and fails when the default package is over the budget.
//
//   node scripts/size-web.mjs             every shipped file, the total, the budget
//   node scripts/size-web.mjs --verbose   and where the wasm's bytes go (twiggy, on a build of
//                                         its own that keeps the function names)
//
// What counts: every file the package ships, as `npm pack` lists it from package.json `files`,
// that a page can load (the wasm, the JS glue, any snippet or shim, mailconnect/links), except the
// opt-in mailconnect/meetings, which only webmails with a calendar import. Type declarations,
// package.json and documents are listed apart: no browser loads them.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

// The Rust module (issue 13) is over the 45 KB that issue set (README, Measured): this limit holds
// it just above its measured size (with issues 14 and 15, and the dead data zeroed), so that any
// growth fails and is seen.
// For comparison: oidc-client-ts 3.5 is 18.1 KB, @azure/msal-browser 5.29 is 76.8 KB.
const BUDGET_GZIP = 54 * 1024; // bytes
const REPO = new URL("../", import.meta.url).pathname;
const PKG = `${REPO}crates/web/pkg/`;
const OPT_IN = new Set(["meetings.js", "meetings.d.ts"]);
const NOT_LOADED = /(^|\/)(package\.json|[^/]*\.d\.ts|[^/]*\.md|LICENSE[^/]*)$/i;

/** The files `npm pack` would put in the package (package.json `files` and npm's own rules). */
function shippedFiles() {
  let listing;
  try {
    listing = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: PKG, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch {
    console.error(`size-web: ${PKG} is missing or not a package; run scripts/build-web.sh first`);
    process.exit(2);
  }
  return JSON.parse(listing)[0].files.map((f) => f.path).sort();
}

const files = shippedFiles();
if (!files.some((f) => f.endsWith(".wasm"))) {
  console.error(`size-web: the package in ${PKG} ships no .wasm; run scripts/build-web.sh first`);
  process.exit(2);
}

const rows = files.map((file) => {
  const raw = readFileSync(PKG + file);
  const gzip = gzipSync(raw, { level: 9 }).length;
  const brotli = brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  const kind = OPT_IN.has(file) ? "opt-in" : NOT_LOADED.test(file) ? "not loaded" : "default";
  return { file, raw: raw.length, gzip, brotli, kind };
});
const sum = (list) => list.reduce((t, r) => ({ raw: t.raw + r.raw, gzip: t.gzip + r.gzip, brotli: t.brotli + r.brotli }), { raw: 0, gzip: 0, brotli: 0 });
const counted = rows.filter((r) => r.kind === "default");
const total = sum(counted);

const kb = (n) => (n / 1024).toFixed(1).padStart(6) + " KB";
const width = Math.max(...rows.map((r) => r.file.length + " (not loaded)".length), 24);
const line = (label, r) => console.log(`${label.padEnd(width)}  ${kb(r.raw)}  ${kb(r.gzip)}  ${kb(r.brotli)}`);
console.log(`${"file".padEnd(width)}  ${"raw".padStart(9)}  ${"gzip -9".padStart(9)}  ${"brotli".padStart(9)}`);
for (const r of counted) line(r.file, r);
line("total (default package)", total);
for (const r of rows.filter((r) => r.kind !== "default")) line(`${r.file} (${r.kind})`, r);
console.log(`budget: ${kb(BUDGET_GZIP).trim()} gzip for the default package (KB = 1024 bytes)`);

if (process.argv.includes("--verbose")) breakdown();

if (total.gzip > BUDGET_GZIP) {
  console.error(`size-web: over budget by ${kb(total.gzip - BUDGET_GZIP).trim()} gzip`);
  process.exit(1);
}

/**
 * Where the wasm's bytes go. The package's wasm has no names (its wasm-opt drops them), so this
 * builds the same crate, profile and features as scripts/build-web.sh's wasm-pack, in a target
 * directory of its own (the package's build is left alone), runs wasm-bindgen and
 * scripts/opt-web-wasm.sh on it as the package build does, keeping the names, and asks twiggy.
 */
function breakdown() {
  const target = `${REPO}target/size-web-names`;
  const run = (cmd, args, env = {}) => execFileSync(cmd, args, { cwd: REPO, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8", env: { ...process.env, ...env } });
  try {
    run("twiggy", ["--version"]);
  } catch {
    console.error("size-web: --verbose needs twiggy; run scripts/setup.sh");
    process.exit(2);
  }
  console.log("\nwasm breakdown: building with names (target/size-web-names)...");
  run("cargo", ["build", "--quiet", "--lib", "-p", "mailconnect-web", "--target", "wasm32-unknown-unknown", "--profile", "web", "--no-default-features", "--features", "abort-on-panic"],
    { CARGO_TARGET_DIR: target });
  mkdirSync(`${target}/bindgen`, { recursive: true });
  run("wasm-bindgen", ["--target", "web", "--out-dir", `${target}/bindgen`, "--out-name", "mailconnect", `${target}/wasm32-unknown-unknown/web/mailconnect.wasm`]);
  const wasm = `${target}/bindgen/mailconnect_bg.wasm`;
  run("bash", ["scripts/opt-web-wasm.sh", `${target}/wasm32-unknown-unknown/web/mailconnect.wasm`, wasm, "--debuginfo"]);

  const shipped = rows.find((r) => r.file.endsWith(".wasm"));
  const named = readFileSync(wasm).length;
  console.log(`${shipped.file}: ${shipped.raw} bytes shipped; this build: ${named} bytes, names included\n`);
  console.log(byCrate(run("twiggy", ["top", "--format", "csv", "-n", "1000000", wasm])));
  console.log(run("twiggy", ["top", "-n", "25", wasm]));
  console.log(run("twiggy", ["dominators", "-d", "2", "-r", "30", wasm]));
}

/**
 * twiggy's items summed by crate (that of the first path in a Rust name: `<u32 as core::fmt::Display>`
 * is core's), with data segments, exports and wasm-bindgen's shims, and the wasm's other parts by kind.
 */
function byCrate(csv) {
  const totals = new Map();
  for (const row of csv.trim().split("\n").slice(1)) {
    const [, quoted, plain, size] = /^(?:"((?:[^"]|"")*)"|([^,]*)),(\d+),/.exec(row) ?? [];
    if (size === undefined) continue;
    const name = quoted?.replaceAll('""', '"') ?? plain;
    const crate = /^data segment/.test(name) ? "(data segments)"
      : /subsection$|^custom section/.test(name) ? "(names and custom sections, not shipped)"
      : /^(import|export|type|table|elem|memory|global|code\[|wasm magic)|headers$/.test(name) ? "(module structure: types, imports, exports, tables)"
      // Methods of primitive types (`<char>::is_whitespace`) are core's.
      : /^<[^:]*>::/.test(name) ? "core"
      : (/([A-Za-z_][A-Za-z0-9_]*)(\[[0-9a-f]+\])?::/.exec(name)?.[1]
        // Unmangled: the exports and wasm-bindgen's shims, with what wasm-opt inlined into them.
        ?? (/^[A-Za-z_][A-Za-z0-9_]*$| shim$/.test(name) ? "(exported functions and shims)" : "(other)"));
    totals.set(crate, (totals.get(crate) ?? 0) + Number(size));
  }
  const all = [...totals.values()].reduce((a, b) => a + b, 0);
  const lines = [...totals].sort((a, b) => b[1] - a[1])
    .map(([crate, bytes]) => `${String(bytes).padStart(8)}  ${((100 * bytes) / all).toFixed(1).padStart(5)}%  ${crate}`);
  return ["bytes by crate (shallow sizes, names build):", ...lines].join("\n") + "\n";
}
