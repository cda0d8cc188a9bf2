#!/usr/bin/env bash
# Builds the browser module with wasm-pack:
#   crates/web/pkg          --target web      (plain <script type="module">; copied to www/pkg/)
#   crates/web/pkg-bundler  --target bundler  (webpack, vite, esbuild)
# wasm-pack runs the wasm-bindgen found on PATH (scripts/setup.sh installs it) and never downloads;
# the cargo profile is `web` (the workspace Cargo.toml says why), with the crate's own panic handler
# (feature abort-on-panic: crates/web/src/lib.rs says why). wasm-pack's own wasm-opt is off
# (--no-opt: it would run Debian's binaryen, crates/web/Cargo.toml says why); `optimize` below runs
# binaryen 132 from npm instead (with Rust's panic and formatting code snipped first, by name: the
# `web` profile keeps the names for that, and wasm-opt drops them). Idempotent: each run replaces
# the three output folders.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

for tool in wasm-pack wasm-bindgen; do
  command -v "$tool" >/dev/null || { echo "build-web: $tool not found; run scripts/setup.sh" >&2; exit 1; }
done

# Snipping, dead data and wasm-opt -Oz on the package's wasm, right after wasm-pack
# (scripts/opt-web-wasm.sh), with the linker's output that wasm-pack's wasm-bindgen read.
optimize() { # out-dir
  bash scripts/opt-web-wasm.sh "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/web/mailconnect.wasm" "crates/web/$1/mailconnect_bg.wasm"
}

build() { # target out-dir
  # wasm-pack leaves files of an earlier build in place (an old snippets/ folder would ship).
  rm -rf "crates/web/$2"
  wasm-pack --log-level warn build --mode no-install --profile web --no-opt --no-gitignore --target "$1" --out-dir "$2" --out-name mailconnect crates/web --no-default-features --features abort-on-panic
  optimize "$2"
  # wasm-bindgen's glue names (`__wbg_…_<hash>`) shortened in the wasm and its JS alike.
  node scripts/short-web-names.mjs "crates/web/$2"
  # mailconnect/meetings (Teams meetings over Graph) is plain JS beside the wasm module, opt-in,
  # importing MailconnectError from ./mailconnect.js; mailconnect/links re-exports the main
  # module's link functions (Rust) at their old path.
  cp crates/web/js/{meetings,links}.{js,d.ts} "crates/web/$2/"
  # wasm-pack names the npm package after the crate; it is published as `mailconnect`. `exports`
  # makes `mailconnect/meetings` and `mailconnect/links` importable (and the wasm file, for `init(url)`), with types.
  node -e '
    const fs = require("fs"), file = process.argv[1] + "/package.json";
    const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
    pkg.name = "mailconnect";
    pkg.files.push("meetings.js", "meetings.d.ts", "links.js", "links.d.ts");
    pkg.exports = {
      ".": { types: "./" + pkg.types, default: "./" + pkg.main },
      "./meetings": { types: "./meetings.d.ts", default: "./meetings.js" },
      "./links": { types: "./links.d.ts", default: "./links.js" },
      "./mailconnect_bg.wasm": "./mailconnect_bg.wasm",
      "./package.json": "./package.json",
    };
    fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
  ' "crates/web/$2"
  # The JS ships minified (wasm-bindgen's glue is generated; the one hand-written file is
  # crates/web/js/error.js): whitespace, comments and local names are most of its gzip bytes.
  # `MailconnectError` spells its name out; wasm-bindgen's classes keep theirs. The .d.ts files
  # keep the docs.
  node --input-type=module -e '
    import { transformSync } from "esbuild";
    import { readFileSync, readdirSync, writeFileSync } from "node:fs";
    const dir = process.argv[1];
    for (const file of readdirSync(dir, { recursive: true })) {
      if (!file.endsWith(".js")) continue;
      const path = `${dir}/${file}`;
      const options = { minify: true, format: "esm", target: "es2022", legalComments: "none" };
      writeFileSync(path, transformSync(readFileSync(path, "utf8"), options).code);
    }
  ' "crates/web/$2"
}

build web pkg
build bundler pkg-bundler

rm -rf www/pkg
mkdir -p www
cp -R crates/web/pkg www/pkg
echo "build-web: crates/web/pkg, crates/web/pkg-bundler, www/pkg"
