#!/usr/bin/env node
// Zeroes the data that nothing in the browser module reads any more, in place, in a wasm file of
// the package after scripts/snip-web-wasm.mjs (scripts/opt-web-wasm.sh runs it before wasm-opt,
// whose memory packing then cuts the zeroed runs out of the data segments):
//   node scripts/gc-web-data.mjs LINKED.wasm FILE.wasm
// LINKED is the linker's output that wasm-bindgen made FILE from: built with wasm-ld's
// --emit-relocs (crates/web/build.rs), so it keeps its symbol table (each data object's address
// and size) and its relocations (each reference from a function or a data object to another).
//
// Why: snipping Rust's panic and formatting code leaves its data behind (panic messages and
// `Location`s with source paths, the formatting and Unicode tables). wasm-ld dropped what was dead
// before the snip, when that data was still referenced; wasm-opt cannot see where one object ends
// and the next begins inside a data segment.
// How: the functions a page can run are those reachable from the exports, the start function and
// the function table (all of it), through the calls and function addresses in their bodies; the
// data objects it can read are those whose address a live function, a live data object (vtables,
// string slices in statics) or a global holds. A function that is only `unreachable` in FILE
// (snipped) holds nothing, and an address that live code only passes to one (a panic's message
// and `Location`) is not read. The objects left are zeroed, not removed, so every address stays
// valid. Anything this reasoning does not cover fails the build: a relocation of a kind it does
// not know, data that differs between LINKED and FILE, a missing symbol table. Where it cannot
// tell, it keeps: a function of LINKED whose name does not map to exactly one function of FILE
// keeps its references, a function it cannot decode reads what it holds, and a reference past
// the end of its object keeps what it points at too.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { activeData, assemble, functionBodies, functionNames, Reader, sections, SYMBOL, symbolTable, TRAP_BODY } from "./wasm-bytes.mjs";

const [linkedPath, file] = process.argv.slice(2);
if (!linkedPath || !file) {
  console.error("usage: node scripts/gc-web-data.mjs LINKED.wasm FILE.wasm");
  process.exit(2);
}
const fail = (message) => {
  throw new Error(`gc-web-data: ${message}`);
};

// Symbol flags and relocation types: LLVM's BinaryFormat/WasmRelocs.def and the tool
// conventions' Linking.md.
const UNDEFINED = 0x10, EXPORTED = 0x20, NO_STRIP = 0x80;
const TO_FUNCTION = new Set([0, 1, 2, 12, 18, 19, 24, 26]); // function index, table index (LEB, I32, REL, 64-bit)
const TO_DATA = new Set([3, 4, 5, 11, 14, 15, 16, 17, 23]); // memory address (LEB, SLEB, I32, REL, 64-bit, LOCREL)
const NO_EDGE = new Set([6, 7, 10, 13, 20]); // type, global, tag, table number
const HAS_ADDEND = new Set([3, 4, 5, 8, 9, 11, 14, 15, 16, 17, 21, 22, 23, 25]);

const linked = readFileSync(linkedPath);
const linkedSections = sections(linked, linkedPath);
const customBody = (s) => {
  const reader = new Reader(s.body);
  reader.name();
  return reader;
};
const one = (list, id, path) => list.find((s) => s.id === id) ?? fail(`${path} has no section ${id}`);

// ---- LINKED: symbols, relocations, roots ---------------------------------------------------
const linkedFunctions = functionBodies(linkedSections, linkedPath);
const linkedData = activeData(linkedSections, linkedPath);

const symbols = symbolTable(linkedSections, linkedPath);
for (const symbol of symbols.filter((s) => s.kind === SYMBOL.DATA && s.segment !== undefined)) {
  const segment = linkedData.segments[symbol.segment] ?? fail(`${linkedPath}: data symbol ${symbol.name} is in no data segment`);
  symbol.address = segment.address + symbol.offset;
}
const dataSymbols = symbols.filter((s) => s.kind === SYMBOL.DATA && s.address !== undefined);
if (dataSymbols.length === 0) fail(`${linkedPath}: the symbol table has no data symbols`);

/** The data symbols whose bytes include `address`. */
const containing = (address) => dataSymbols.filter((s) => s.address <= address && address < s.address + s.size);

/** The relocations of a section of LINKED, by the id of the section they apply to. */
function relocations(id) {
  const index = linkedSections.findIndex((s) => s.id === id);
  const list = [];
  for (const s of linkedSections.filter((s) => s.id === 0 && new Reader(s.body).name().startsWith("reloc."))) {
    const reader = customBody(s);
    if (reader.u32() !== index) continue;
    for (let i = reader.u32(); i > 0; i--) {
      const type = s.body[reader.pos++];
      const offset = reader.u32();
      const symbol = reader.u32();
      const addend = HAS_ADDEND.has(type) ? reader.s32() : 0;
      if (!TO_FUNCTION.has(type) && !TO_DATA.has(type) && !NO_EDGE.has(type)) {
        fail(`${linkedPath}: relocation of type ${type} in section ${id}, which this pass does not know`);
      }
      list.push({ type, offset, symbol, addend });
    }
  }
  if (list.length === 0) fail(`${linkedPath} has no relocations for section ${id}: link it with --emit-relocs (crates/web/build.rs)`);
  return list;
}

// Where each relocation sits: in a function (code), or at a memory address (data).
const fromFunction = new Map(); // function index -> relocations
{
  const { bodies, imported } = linkedFunctions;
  let f = 0;
  for (const r of relocations(10).sort((a, b) => a.offset - b.offset)) {
    while (f < bodies.length && bodies[f].end <= r.offset) f++;
    if (f === bodies.length || r.offset < bodies[f].start) fail(`${linkedPath}: a code relocation outside every function body`);
    const index = imported + f;
    if (!fromFunction.has(index)) fromFunction.set(index, []);
    fromFunction.get(index).push(r);
  }
}
const fromData = relocations(11).map((r) => {
  const segment = linkedData.segments.find((s) => s.start <= r.offset && r.offset < s.start + s.size);
  if (!segment) fail(`${linkedPath}: a data relocation outside every data segment`);
  return { ...r, address: segment.address + r.offset - segment.start };
});

// ---- FILE: which functions are only `unreachable` (snipped), mapped to LINKED by name --------
// LINKED's names are mangled; wasm-bindgen demangled FILE's, and numbered repeats `name[1]`.
// c++filt demangles Rust's both manglings as rustc-demangle does; a name that does not match
// one-to-one maps to nothing, and its function keeps its references.
const fileWasm = readFileSync(file);
const fileSections = sections(fileWasm, file);
const fileFunctions = functionBodies(fileSections, file);
const fileNames = functionNames(fileSections);
const emptyInFile = new Map(); // name -> is its only function `unreachable`
for (const [i, { start, end }] of fileFunctions.bodies.entries()) {
  const name = fileNames.get(fileFunctions.imported + i)?.replace(/\[\d+\]$/, "");
  if (name === undefined) continue;
  const empty = fileFunctions.code.body.subarray(start, end).equals(TRAP_BODY);
  emptyInFile.set(name, emptyInFile.has(name) ? false : empty);
}
if (emptyInFile.size === 0) fail(`${file} has no function names: run this before wasm-opt`);
const linkedNames = functionNames(linkedSections);
const demangled = new Map();
{
  const indices = [...linkedNames.keys()];
  let output;
  try {
    output = execFileSync("c++filt", { input: indices.map((i) => linkedNames.get(i)).join("\n") + "\n", encoding: "utf8", maxBuffer: 1 << 28 });
  } catch {
    fail("c++filt (binutils) not found; run scripts/setup.sh");
  }
  const lines = output.split("\n");
  const count = new Map();
  for (const line of lines) count.set(line, (count.get(line) ?? 0) + 1);
  indices.forEach((index, i) => {
    if (count.get(lines[i]) === 1) demangled.set(index, lines[i]);
  });
}
const holdsNothing = (index) => index >= linkedFunctions.imported && emptyInFile.get(demangled.get(index)) === true;

// ---- reachability ----------------------------------------------------------------------------
const liveFunctions = new Set();
const liveData = new Set();
const work = [];
const reachFunction = (index) => {
  if (!liveFunctions.has(index)) (liveFunctions.add(index), work.push(() => visitFunction(index)));
};
const reachData = (symbol) => {
  if (!liveData.has(symbol)) (liveData.add(symbol), work.push(() => visitData(symbol)));
};
const reachAddress = (address) => containing(address).forEach(reachData);
function follow(r) {
  const symbol = symbols[r.symbol] ?? fail(`${linkedPath}: a relocation names symbol ${r.symbol}, which does not exist`);
  if (TO_FUNCTION.has(r.type)) {
    if (symbol.kind !== SYMBOL.FUNCTION) fail(`${linkedPath}: a function relocation names a symbol of kind ${symbol.kind}`);
    reachFunction(symbol.index);
  } else if (TO_DATA.has(r.type)) {
    if (symbol.kind !== SYMBOL.DATA) fail(`${linkedPath}: a memory relocation names a symbol of kind ${symbol.kind}`);
    if (symbol.address === undefined) fail(`${linkedPath}: a memory relocation names ${symbol.name}, which is not defined`);
    reachData(symbol);
    // An address computed past its object (an end pointer, a field of a neighbour) keeps that too.
    if (r.addend < 0 || r.addend >= symbol.size) reachAddress(symbol.address + r.addend);
  }
}
function visitFunction(index) {
  if (index < linkedFunctions.imported || holdsNothing(index)) return;
  for (const r of fromFunction.get(index) ?? []) if (!onlyPassedToTrap(r)) follow(r);
}
/**
 * Whether a reference is an `i32.const` whose value only ever reaches a call that traps. Between
 * it and a call only `i32.const`, `local.get` and `global.get` (which push one value each, and
 * read no memory): then the value is the call's argument. The callee traps if it is only
 * `unreachable` in FILE; a callee that only passes that parameter on, the same way, to such a
 * call (a `#[track_caller]` function such as `RefCell::borrow_mut` with its `Location`) does not
 * read it either. That is how live code hands a panic its message and `Location`, which nothing
 * reads once the panic is snipped. A function this cannot decode reads everything.
 */
function onlyPassedToTrap(r) {
  if (r.type !== 4) return false;
  const { caller, at } = instructionAt(r.offset - 1);
  const instructions = decode(caller);
  const i = instructions?.findIndex((ins) => ins.pos === at) ?? -1;
  return i >= 0 && instructions[i].op === 0x41 && reachesOnlyTraps(instructions, i);
}
/** Whether the value that instruction `i` pushes is an argument of a call that never reads it. */
function reachesOnlyTraps(instructions, i) {
  let after = 0;
  for (i++; PUSH_ONE.has(instructions[i].op); i++) after++;
  if (instructions[i].op !== 0x10) return false;
  const callee = instructions[i].immediate;
  if (holdsNothing(callee)) return true;
  const params = paramCount(callee);
  return callee >= linkedFunctions.imported && after < params && paramOnlyPassedToTrap(callee, params - 1 - after);
}
const PUSH_ONE = new Set([0x41, 0x20, 0x23]); // i32.const, local.get, global.get
const onlyToTrap = new Map();
function paramOnlyPassedToTrap(index, param) {
  const key = `${index}:${param}`;
  if (!onlyToTrap.has(key)) {
    onlyToTrap.set(key, false); // a cycle proves nothing
    const instructions = decode(index);
    onlyToTrap.set(key, !!instructions && instructions.every((ins, i) => ins.op !== 0x20 || ins.immediate !== param || reachesOnlyTraps(instructions, i)));
  }
  return onlyToTrap.get(key);
}
/** The function of LINKED whose body holds code offset `at`. */
function instructionAt(at) {
  const { bodies, imported } = linkedFunctions;
  let low = 0, high = bodies.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (bodies[mid].start <= at) low = mid;
    else high = mid - 1;
  }
  return { caller: imported + low, at };
}
/** Parameter counts of LINKED's own functions (type and function sections). */
const paramCounts = (() => {
  const types = [];
  const typeSection = new Reader(one(linkedSections, 1, linkedPath).body);
  for (let i = typeSection.u32(); i > 0; i--) {
    if (typeSection.bytes[typeSection.pos++] !== 0x60) fail(`${linkedPath} has a type that is not a function type`);
    const params = typeSection.u32();
    typeSection.pos += params; // one byte per value type
    const results = typeSection.u32();
    typeSection.pos += results;
    types.push(params);
  }
  const functionSection = new Reader(one(linkedSections, 3, linkedPath).body);
  const counts = [];
  for (let i = functionSection.u32(); i > 0; i--) counts.push(types[functionSection.u32()]);
  return counts;
})();
const paramCount = (index) => paramCounts[index - linkedFunctions.imported];

/**
 * The instructions of a function of LINKED: `{ op, pos, immediate }` (`immediate`: that of
 * `local.get` and `call`), or undefined for an instruction outside the MVP, bulk memory,
 * reference types, sign extension and saturating conversions (what Rust's wasm32 target emits),
 * or a body that does not decode to its last byte.
 */
const decoded = new Map();
function decode(index) {
  if (!decoded.has(index)) decoded.set(index, decodeBody(linkedFunctions.bodies[index - linkedFunctions.imported]));
  return decoded.get(index);
}
function decodeBody({ start, end }) {
  const code = linkedFunctions.code.body;
  const reader = new Reader(code, start);
  for (let i = reader.u32(); i > 0; i--) (reader.u32(), reader.pos++); // locals: count, type
  const skipLeb = () => {
    while (code[reader.pos++] & 0x80);
  };
  const instructions = [];
  let depth = 1;
  while (reader.pos < end) {
    const pos = reader.pos;
    const op = code[reader.pos++];
    let immediate;
    if (op === 0x02 || op === 0x03 || op === 0x04) (skipLeb(), depth++); // block type: one byte, or a type index
    else if (op === 0x0b) depth--;
    else if (op === 0x0c || op === 0x0d || (op >= 0x21 && op <= 0x26) || op === 0xd2 || op === 0xd0 || op === 0x3f || op === 0x40) skipLeb();
    else if (op === 0x10 || op === 0x20) immediate = reader.u32();
    else if (op === 0x0e) for (let n = reader.u32() + 1; n > 0; n--) skipLeb();
    else if (op === 0x11) (skipLeb(), skipLeb());
    else if (op === 0x1c) {
      const types = reader.u32();
      reader.pos += types;
    }
    else if (op >= 0x28 && op <= 0x3e) (skipLeb(), skipLeb()); // memarg: alignment, offset
    else if (op === 0x41 || op === 0x42) skipLeb();
    else if (op === 0x43) reader.pos += 4;
    else if (op === 0x44) reader.pos += 8;
    else if (op === 0xfc) {
      const sub = reader.u32();
      if (sub > 17) return undefined;
      const immediates = [0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 2, 1, 2, 1, 2, 1, 1, 1][sub];
      for (let n = immediates; n > 0; n--) skipLeb();
    } else if (!(op <= 0x01 || op === 0x05 || op === 0x0f || op === 0x1a || op === 0x1b || op === 0xd1 || (op >= 0x45 && op <= 0xc4))) {
      return undefined;
    }
    instructions.push({ op, pos, immediate });
    if (depth === 0) break;
  }
  return depth === 0 && reader.pos === end ? instructions : undefined;
}
function visitData(symbol) {
  for (const r of fromData) if (symbol.address <= r.address && r.address < symbol.address + symbol.size) follow(r);
}

for (const { body } of linkedSections.filter((s) => s.id === 7)) {
  const reader = new Reader(body);
  for (let i = reader.u32(); i > 0; i--) {
    reader.name();
    const kind = body[reader.pos++];
    const index = reader.u32();
    if (kind === 0) reachFunction(index);
  }
}
for (const { body } of linkedSections.filter((s) => s.id === 8)) reachFunction(new Reader(body).u32());
for (const { body } of linkedSections.filter((s) => s.id === 9)) {
  const reader = new Reader(body);
  for (let i = reader.u32(); i > 0; i--) {
    const flags = reader.u32();
    if (flags !== 0) fail(`${linkedPath} has an element segment of kind ${flags} (only kind 0 is known)`);
    while (body[reader.pos++] !== 0x0b); // offset expression, to its `end`
    for (let n = reader.u32(); n > 0; n--) reachFunction(reader.u32());
  }
}
// Globals that hold an address (wasm-bindgen's `__instance_terminated`, exported to the glue).
for (const { body } of linkedSections.filter((s) => s.id === 6)) {
  const reader = new Reader(body);
  for (let i = reader.u32(); i > 0; i--) {
    reader.pos += 2; // value type, mutability
    if (body[reader.pos++] !== 0x41) fail(`${linkedPath} has a global whose value is not an i32.const`);
    reachAddress(reader.s32() >>> 0);
    if (body[reader.pos++] !== 0x0b) fail(`${linkedPath} has a global whose value is not an i32.const`);
  }
}
for (const s of symbols) {
  if (!(s.flags & (EXPORTED | NO_STRIP)) || s.flags & UNDEFINED) continue;
  if (s.kind === SYMBOL.FUNCTION) reachFunction(s.index);
  if (s.kind === SYMBOL.DATA) reachData(s);
}
// Data relocations that sit in no symbol's bytes: nothing tells who reads them, so they count.
for (const r of fromData) if (containing(r.address).length === 0) follow(r);
while (work.length) work.pop()();

// ---- the dead bytes: dead symbols' ranges, less any live symbol's ----------------------------
const ranges = (list) => list.filter((s) => s.size > 0).map((s) => [s.address, s.address + s.size]).sort((a, b) => a[0] - b[0]);
const live = ranges([...liveData]);
const dead = [];
for (const [start, end] of ranges(dataSymbols.filter((s) => !liveData.has(s)))) {
  let from = start;
  for (const [liveStart, liveEnd] of live) {
    if (liveEnd <= from || liveStart >= end) continue;
    if (liveStart > from) dead.push([from, liveStart]);
    from = Math.max(from, liveEnd);
  }
  if (from < end) dead.push([from, end]);
}

// ---- FILE: the same memory image, then the dead bytes zeroed --------------------------------
const fileData = activeData(fileSections, file);
const body = Buffer.from(fileData.data.body);
/** Where `address` is in FILE's data section body. */
const locate = (address) => {
  const s = fileData.segments.find((s) => s.address <= address && address < s.address + s.size);
  return s ? s.start + address - s.address : fail(`${file} has no data at address ${address}, where ${linkedPath} has`);
};
for (const s of linkedData.segments) {
  for (let i = 0; i < s.size; i++) {
    if (body[locate(s.address + i)] !== linkedData.data.body[s.start + i]) fail(`${file} and ${linkedPath} differ at address ${s.address + i}: not the same build, or ${file} was done already`);
  }
}
let zeroed = 0, nonZero = 0;
for (const [start, end] of dead) {
  for (let address = start; address < end; address++) {
    const at = locate(address);
    if (body[at] !== 0) nonZero++;
    body[at] = 0;
    zeroed++;
  }
}
fileData.data.body = body;
// wasm-bindgen copies LINKED's linking and relocation sections, which no longer match FILE.
const kept = fileSections.filter((s) => !(s.id === 0 && /^(linking|reloc\.)/.test(new Reader(s.body).name())));
writeFileSync(file, assemble(fileWasm, kept));
const deadCount = dataSymbols.length - liveData.size;
console.log(`gc-web-data: ${deadCount} of ${dataSymbols.length} data objects unread, ${nonZero} bytes zeroed in ${file}`);
