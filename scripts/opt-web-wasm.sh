#!/usr/bin/env bash
# Rust's panic and formatting code snipped (scripts/snip-web-wasm.mjs says why), the data that
# only it read zeroed (scripts/gc-web-data.mjs, from LINKED, the linker's output that wasm-bindgen
# made FILE from), then wasm-opt -Oz, on a wasm file of the browser module that still has its
# function names, in place: scripts/build-web.sh runs it on both packages, `node
# scripts/size-web.mjs --verbose` on a build that keeps its names (further arguments, such as
# --debuginfo, go to wasm-opt).
#   scripts/opt-web-wasm.sh LINKED.wasm FILE.wasm [wasm-opt args...]
#
# wasm-opt comes from npm `binaryen` (package.json pins 132.0.0): Debian's binaryen 108 moves the
# export of wasm-bindgen's externref table to the function table, and the module then fails at
# init ("WebAssembly.Table.set(): Argument 1 is invalid").
# The features are those Rust's wasm32-unknown-unknown target enables (LLVM's generic CPU), given
# explicitly: without them wasm-opt refuses the memory.copy and memory.fill that Rust emits; none
# beyond them, so wasm-opt introduces nothing a browser of that target could lack. wasm-opt drops
# the function names (no -g); the producers and target_features sections go too. Its memory
# packing cuts the zeroed runs out of the data segments.
set -euo pipefail
wasm_opt="$(dirname "$0")/../node_modules/.bin/wasm-opt"
[ -x "$wasm_opt" ] || { echo "opt-web-wasm: $wasm_opt not found; run scripts/setup.sh" >&2; exit 1; }
[ $# -ge 2 ] && [ -f "$1" ] && [ -f "$2" ] || { echo "usage: scripts/opt-web-wasm.sh LINKED.wasm FILE.wasm [wasm-opt args...]" >&2; exit 2; }
linked=$1
file=$2
shift 2
node "$(dirname "$0")/snip-web-wasm.mjs" "$file"
node "$(dirname "$0")/gc-web-data.mjs" "$linked" "$file"
"$wasm_opt" "$file" -o "$file" -Oz --strip-producers --strip-target-features \
  --enable-reference-types --enable-multivalue --enable-bulk-memory --enable-mutable-globals \
  --enable-sign-ext --enable-nontrapping-float-to-int "$@"
