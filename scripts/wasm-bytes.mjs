// Reading and writing the binary format of a wasm module, for the build scripts that rewrite the
// browser module's wasm in place (scripts/short-web-names.mjs, scripts/snip-web-wasm.mjs,
// scripts/gc-web-data.mjs).

/** Reads LEB128 numbers, names and limits from `bytes`, from `pos` on. */
export class Reader {
  constructor(bytes, pos = 0) {
    this.bytes = bytes;
    this.pos = pos;
  }

  u32() {
    return this.#leb(false) >>> 0;
  }

  /** A signed LEB128 number (32 bits). */
  s32() {
    return this.#leb(true);
  }

  #leb(signed) {
    let result = 0, shift = 0, byte;
    do {
      byte = this.bytes[this.pos++];
      result |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    return signed && shift < 32 && byte & 0x40 ? result | (-1 << shift) : result;
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

/**
 * The data section of a module and its segments, all active in memory 0 at an `i32.const`
 * address (what wasm-ld and wasm-opt write for a module without threads): `{ data, segments }`,
 * each segment `{ address, start, size }`, `start` where its bytes begin in `data.body`.
 */
export function activeData(list, path) {
  const data = list.find((s) => s.id === 11);
  if (!data) throw new Error(`${path} has no data section`);
  const reader = new Reader(data.body);
  const segments = [];
  for (let i = reader.u32(); i > 0; i--) {
    const flags = reader.u32();
    if (flags === 2 && reader.u32() !== 0) throw new Error(`${path} has data for a memory other than 0`);
    else if (flags !== 0 && flags !== 2) throw new Error(`${path} has a passive data segment (only active ones are known)`);
    if (data.body[reader.pos++] !== 0x41) throw new Error(`${path} has a data segment whose address is not an i32.const`);
    const address = reader.s32() >>> 0;
    if (data.body[reader.pos++] !== 0x0b) throw new Error(`${path} has a data segment whose address is not an i32.const`);
    const size = reader.u32();
    segments.push({ address, start: reader.pos, size });
    reader.pos += size;
  }
  return { data, segments };
}

/** How many functions a module imports: function indices count them first. */
export function importedFunctions(list, path) {
  let imported = 0;
  for (const { body } of list.filter((s) => s.id === 2)) {
    const reader = new Reader(body);
    for (let i = reader.u32(); i > 0; i--) {
      reader.name();
      reader.name();
      if (reader.importKind(path)) imported++;
    }
  }
  return imported;
}

/**
 * The code section and where each function's body is in it: `{ code, bodies, imported }`, each
 * body `{ start, end }` in `code.body`; the body at `i` is function `imported + i`.
 */
export function functionBodies(list, path) {
  const code = list.find((s) => s.id === 10);
  if (!code) throw new Error(`${path} has no code section`);
  const reader = new Reader(code.body);
  const bodies = [];
  for (let i = reader.u32(); i > 0; i--) {
    const size = reader.u32();
    bodies.push({ start: reader.pos, end: reader.pos + size });
    reader.pos += size;
  }
  return { code, bodies, imported: importedFunctions(list, path) };
}

/** The body of a function that only traps: no locals, `unreachable`, `end`. */
export const TRAP_BODY = Buffer.from([0x00, 0x00, 0x0b]);

/** Function names by function index, from the name section (empty without one). */
export function functionNames(list) {
  const names = new Map();
  for (const { body } of list.filter((s) => s.id === 0)) {
    const reader = new Reader(body);
    if (reader.name() !== "name") continue;
    while (reader.pos < body.length) {
      const subsection = body[reader.pos++];
      const end = reader.u32() + reader.pos;
      if (subsection === 1) {
        for (let i = reader.u32(); i > 0; i--) {
          const index = reader.u32();
          names.set(index, reader.name());
        }
      }
      reader.pos = end;
    }
  }
  return names;
}

/** Symbol kinds in a linking section (the tool conventions' Linking.md). */
export const SYMBOL = { FUNCTION: 0, DATA: 1, GLOBAL: 2, SECTION: 3, TAG: 4, TABLE: 5 };

/**
 * The symbol table of a module linked with wasm-ld's --emit-relocs (its `linking` section):
 * `{ kind, flags, name, index }`, and for a defined data symbol `{ segment, offset, size }`
 * (a data segment's index, and where in it). Throws when the module has none.
 */
export function symbolTable(list, path) {
  const UNDEFINED = 0x10, EXPLICIT_NAME = 0x40;
  const linking = list.find((s) => s.id === 0 && new Reader(s.body).name() === "linking");
  if (!linking) throw new Error(`${path} has no linking section: link it with --emit-relocs (crates/web/build.rs)`);
  const { body } = linking;
  const reader = new Reader(body);
  reader.name();
  if (reader.u32() !== 2) throw new Error(`${path}: linking section version is not 2`);
  const symbols = [];
  while (reader.pos < body.length) {
    const type = body[reader.pos++];
    const end = reader.u32() + reader.pos;
    if (type === 8) {
      for (let i = reader.u32(); i > 0; i--) {
        const symbol = { kind: body[reader.pos++], flags: reader.u32() };
        if (symbol.kind === SYMBOL.DATA) {
          symbol.name = reader.name();
          if (!(symbol.flags & UNDEFINED)) [symbol.segment, symbol.offset, symbol.size] = [reader.u32(), reader.u32(), reader.u32()];
        } else if (symbol.kind === SYMBOL.SECTION) {
          symbol.index = reader.u32();
        } else if (Object.values(SYMBOL).includes(symbol.kind)) {
          symbol.index = reader.u32();
          if (!(symbol.flags & UNDEFINED) || symbol.flags & EXPLICIT_NAME) symbol.name = reader.name();
        } else {
          throw new Error(`${path}: symbol of unknown kind ${symbol.kind}`);
        }
        symbols.push(symbol);
      }
    }
    reader.pos = end;
  }
  return symbols;
}
