#!/usr/bin/env bash
# Builds the browser module with wasm-pack:
#   crates/web/pkg          --target web      (plain <script type="module">; copied to www/pkg/)
#   crates/web/pkg-bundler  --target bundler  (webpack, vite, esbuild)
# wasm-pack runs the wasm-bindgen found on PATH (scripts/setup.sh installs it) and never downloads;
# wasm-opt is off (see crates/web/Cargo.toml). The workspace profile strips symbols, so wasm-bindgen
# warns that it cannot read the target features and assumes reference types, which is right for
# Rust's wasm32 target. Idempotent: each run replaces the three output folders.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

for tool in wasm-pack wasm-bindgen; do
  command -v "$tool" >/dev/null || { echo "build-web: $tool not found; run scripts/setup.sh" >&2; exit 1; }
done

build() { # target out-dir
  wasm-pack --log-level warn build --mode no-install --release --no-gitignore --target "$1" --out-dir "$2" --out-name mailconnect crates/web
  # wasm-pack names the npm package after the crate; it is published as `mailconnect`.
  node -e '
    const fs = require("fs"), file = process.argv[1] + "/package.json";
    const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
    pkg.name = "mailconnect";
    fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
  ' "crates/web/$2"
}

build web pkg
build bundler pkg-bundler

rm -rf www/pkg
mkdir -p www
cp -R crates/web/pkg www/pkg
echo "build-web: crates/web/pkg, crates/web/pkg-bundler, www/pkg"
