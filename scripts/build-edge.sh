#!/usr/bin/env bash
# Builds the edge Worker into crates/edge/build/ (index.js + index_bg.wasm), release profile.
#
# Offline and idempotent: worker-build gets wasm-bindgen and esbuild from the environment (it
# would otherwise try to download them), and nothing is rebuilt when the output is newer than
# every input. `--force` rebuilds anyway.
#
# No wasm-opt: `wasm-opt -O` (binaryen 132) made the Worker larger and no faster, since V8
# optimizes the wasm itself; Debian's binaryen 108 cannot even parse worker-build's output. What
# does matter is the names section that worker-build keeps for symbolized panic traces, a good
# part of the gzip size (README, "Measured"). It is dropped below.
#
# Needs: worker-build 0.8.7 and wasm-bindgen-cli 0.2.130 (scripts/setup.sh), node and esbuild
# (`npm ci`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

out=crates/edge/build/index.js
if [ "${1:-}" != "--force" ] && [ -f "$out" ] && [ -f crates/edge/build/index_bg.wasm ] &&
  [ -z "$(find crates/edge/src crates/edge/Cargo.toml crates/core/src crates/core/Cargo.toml Cargo.toml Cargo.lock -newer "$out" -print -quit)" ]; then
  echo "build-edge: $out is up to date"
  exit 0
fi

need() { command -v "$1" >/dev/null 2>&1 || { echo "build-edge: $1 not found (run scripts/setup.sh)" >&2; exit 1; }; }
need worker-build
need wasm-bindgen
need node
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
[ -x "$ESBUILD_BIN" ] || { echo "build-edge: $ESBUILD_BIN missing (run npm ci)" >&2; exit 1; }

cd crates/edge
# wasm-opt is off in Cargo.toml ([package.metadata.wasm-pack.profile.release]).
worker-build --release

# Drop the custom section "name"; every other section is copied as it is.
node -e '
  const fs = require("fs"), file = process.argv[1], b = fs.readFileSync(file), kept = [b.subarray(0, 8)];
  let p = 8;
  const leb = () => { let r = 0, s = 0, x; do { x = b[p++]; r |= (x & 0x7f) << s; s += 7; } while (x & 0x80); return r >>> 0; };
  while (p < b.length) {
    const start = p, id = b[p++], size = leb(), body = p;
    let name = "";
    if (id === 0) { const n = leb(); name = b.toString("utf8", p, p + n); }
    p = body + size;
    if (name !== "name") kept.push(b.subarray(start, p));
  }
  fs.writeFileSync(file, Buffer.concat(kept));' build/index_bg.wasm

touch build/index.js
echo "build-edge: $(wc -c < build/index_bg.wasm) bytes of wasm, $(gzip -9c build/index_bg.wasm | wc -c) gzipped"
