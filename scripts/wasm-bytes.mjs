// Reading and writing the binary format of a wasm module, for the build scripts that rewrite the
// browser module's wasm in place (scripts/short-web-names.mjs, scripts/snip-web-wasm.mjs).

/** Reads LEB128 numbers, names and limits from `bytes`, from `pos` on. */
export class Reader {
  constructor(bytes, pos = 0) {
    this.bytes = bytes;
    this.pos = pos;
  }

  u32() {
    let result = 0, shift = 0, byte;
    do {
      byte = this.bytes[this.pos++];
      result |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    return result >>> 0;
  }

  name() {
    const length = this.u32();
    this.pos += length;
    return this.bytes.toString("utf8", this.pos - length, this.pos);
  }

  /** Skips limits (a flags byte, a minimum, and a maximum when flag 1 is set). */
  limits() {
    const flags = this.bytes[this.pos++];
    this.u32();
    if (flags & 1) this.u32();
  }

  /** Skips the description of an import after its names; `true` for a function. */
  importKind(path) {
    const kind = this.bytes[this.pos++];
    if (kind === 0) this.u32(); // function: type index
    else if (kind === 1) (this.pos++, this.limits()); // table: element type, limits
    else if (kind === 2) this.limits(); // memory
    else if (kind === 3) this.pos += 2; // global: value type, mutability
    else if (kind === 4) (this.pos++, this.u32()); // tag: attribute, type index
    else throw new Error(`unknown import kind ${kind} in ${path}`);
    return kind === 0;
  }
}

/** `n` as unsigned LEB128. */
export function leb(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return Buffer.from(out);
}

/** A name as the format writes it: its UTF-8 length, then its bytes. */
export function encodeName(text) {
  const bytes = Buffer.from(text, "utf8");
  return Buffer.concat([leb(bytes.length), bytes]);
}

/** The sections of a module: `{ id, body }`, `body` a view of `wasm`. */
export function sections(wasm, path) {
  if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error(`${path} is not a wasm module`);
  const reader = new Reader(wasm, 8);
  const list = [];
  while (reader.pos < wasm.length) {
    const id = wasm[reader.pos++];
    const size = reader.u32();
    list.push({ id, body: wasm.subarray(reader.pos, reader.pos + size) });
    reader.pos += size;
  }
  return list;
}

/** A module of these sections (with the header of `wasm`). */
export function assemble(wasm, list) {
  return Buffer.concat([wasm.subarray(0, 8), ...list.flatMap(({ id, body }) => [Buffer.from([id]), leb(body.length), body])]);
}
