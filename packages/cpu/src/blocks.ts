import type { CpuCore } from "./core.js";

/*
 * Compiled blocks: runs of the run loop's inline instruction forms (32-bit code, no prefixes),
 * translated once into a JavaScript function that V8 then compiles to machine code, so a hot
 * loop no longer pays a fetch-window check, an opcode load, a `switch` and the ModRM decode for
 * every instruction. A block goes on past a conditional jump not taken (the taken branch
 * leaves it, or loops back to its start inside the function), decodes on at the target of a
 * JMP or CALL inside the fetch window, and at the return address of such a CALL when its RET
 * finds that address on the stack. It ends at any other jump or return, at the first form it
 * does not know, after 64 instructions, or near the edge of the fetch window. The guest
 * registers it uses live in locals, written back at every exit and before every general-path
 * call.
 *
 * A block is keyed by the physical address of its first byte and is only run while its bytes
 * are unchanged: its first statement compares them (as aligned dwords) with RAM and returns
 * `bn = -1` if any differs, whoever wrote them (the CPU, a device, DMA, a monitor, a snapshot
 * restore); the caller then drops it and interprets. A store the block makes itself into its
 * own bytes, and every access that leaves the RAM fast path (the general path, which may
 * reach a device), ends the block after that instruction, so the next block entry compares
 * again and an event a device raised is taken at the next boundary.
 *
 * Generated code mirrors `runInline` form by form: the same segment-window, TLB, alignment and
 * direct-RAM checks before touching RAM, and the same general-path calls (after recording
 * instrEip, instrEsp and the instruction count) when a check fails, so faults stay precise.
 * A flag-setting instruction skips its lazy-flag stores when a later instruction in the block
 * overwrites every arithmetic flag with nothing between them that reads flags or may fault.
 */

/**
 * A compiled block: runs from EIP `pc` with `ic` instructions retired, loops back to its start
 * only while `ic` stays within `limit`, sets `cpu.bn` to the instructions it retired and
 * returns the next EIP.
 */
export type BlockFn = (cpu: CpuCore, pc: number, ic: number, limit: number) => number;

export interface CompiledBlock {
  fn: BlockFn;
  /** The block's bytes lie at offsets [lo, len) from its first byte (lo <= 0: a jump back). */
  lo: number;
  len: number;
  /** Instructions in the block. */
  n: number;
}

/** At most this many instructions per block. */
const MAX_INSNS = 64;
/** Leave room for the longest instruction: a block never decodes past `room - 16`. */
const MAX_INSN_LEN = 16;

interface Insn {
  code: string;
  /** The lazy-flag stores of a flag writer, droppable ("" if none or not separable). */
  flags: string;
  /** Writes every arithmetic flag without reading any. */
  fw: boolean;
  /** Reads flags (Jcc, INC/DEC's CF, rotates, RCL/RCR). */
  fr: boolean;
  /** May fault or leave the block early (any memory access, branches). */
  mf: boolean;
}

const MIN = "-2147483648";

function i32(ram: Uint8Array, q: number): number {
  return ram[q] | (ram[q + 1] << 8) | (ram[q + 2] << 16) | (ram[q + 3] << 24);
}

function reg8(g: number): string {
  return g < 4 ? `(r[${g}] & 255)` : `((r[${g - 4}] >> 8) & 255)`;
}

function setReg8(g: number, v: string): string {
  return g < 4
    ? `r[${g}] = (r[${g}] & -256) | (${v} & 255);`
    : `r[${g - 4}] = (r[${g - 4}] & -65281) | ((${v} & 255) << 8);`;
}

function flags32(kind: number): string {
  if (kind === 0) return "cpu.lop = 1; cpu.lres = res; cpu.lop1 = a; cpu.lop2 = b;";
  if (kind === 5 || kind === 7) return "cpu.lop = 3; cpu.lres = res; cpu.lop1 = a; cpu.lop2 = b;";
  return "cpu.lop = 5; cpu.lres = res;";
}

function aluExpr(kind: number): string {
  switch (kind) {
    case 0:
      return "(a + b) | 0";
    case 1:
      return "a | b";
    case 4:
      return "a & b";
    case 5:
    case 7:
      return "(a - b) | 0";
    default:
      return "a ^ b";
  }
}

/** ADD OR AND SUB XOR CMP (not ADC SBB). */
function isPlainAlu(kind: number): boolean {
  return kind !== 2 && kind !== 3;
}

/**
 * Compiles the code at physical address `p0` (RAM index) into a block, or returns null if its
 * first instruction is not a form blocks know. The fetch window allows `before` bytes below
 * `p0` and `room` bytes from `p0` on (one page, so the bytes are contiguous in RAM).
 */
export function compileBlock(
  ram: Uint8Array,
  ram32: Int32Array,
  p0: number,
  before: number,
  room: number,
): CompiledBlock | null {
  const insns: Insn[] = [];
  /** The window's bytes: instructions start at [lo, limit], so that they end before hi. */
  const lo = p0 - before;
  const hi = p0 + room;
  const limit = hi - MAX_INSN_LEN;
  const inWindow = (t: number) => t >= lo && t <= limit;
  let q = p0;
  let ended = false;
  /** Byte ranges decoded, [start, end) physical, for the check of the bytes at entry. */
  const ranges: number[] = [];
  let rangeStart = p0;
  /** Continues decoding at physical `t` (a followed jump, call or return). */
  const jumpTo = (t: number) => {
    ranges.push(rangeStart, q);
    q = t;
    rangeStart = t;
  };
  /** Return offsets of the calls followed into their targets, innermost last. */
  const calls: number[] = [];
  // The general-path call's bookkeeping for the instruction at block offset k, index i.
  const sync = (k: number, i: number) =>
    `@FLUSH@ cpu.instrEip = pc + ${k}; cpu.icount = ic + ${i}; cpu.instrEsp = r[4];`;

  while (!ended && insns.length < MAX_INSNS && inWindow(q)) {
    const k = q - p0;
    const i = insns.length;
    const op = ram[q];
    const exitAfter = (nx: number) => `if (x !== 0) { cpu.bn = ic - ic0 + ${i + 1}; return pc + ${nx}; }`;
    /** Leaves the block before this instruction (the interpreter then runs it). */
    const exitBefore = `{ cpu.bn = ic - ic0 + ${i}; return pc + ${k}; }`;

    /** The memory operand of ModRM `m` at q (after the ModRM byte): offset expression and segment. */
    const ea = (m: number, at: number): { expr: string; seg: number; next: number } => {
      const mod = m >> 6;
      const rm = m & 7;
      let p = at;
      let seg = 3;
      const parts: string[] = [];
      let disp = 0;
      if (rm === 4) {
        const sib = ram[p++];
        const base = sib & 7;
        const index = (sib >> 3) & 7;
        if (base === 5 && mod === 0) {
          disp = i32(ram, p);
          p += 4;
        } else {
          parts.push(`r[${base}]`);
          if (base === 4 || base === 5) seg = 2;
        }
        if (index !== 4) parts.push(sib >> 6 ? `(r[${index}] << ${sib >> 6})` : `r[${index}]`);
      } else if (rm === 5 && mod === 0) {
        disp = i32(ram, p);
        p += 4;
      } else {
        parts.push(`r[${rm}]`);
        if (rm === 5) seg = 2;
      }
      if (mod === 1) disp = (ram[p++] << 24) >> 24;
      else if (mod === 2) {
        disp = i32(ram, p);
        p += 4;
      }
      if (disp !== 0 || parts.length === 0) parts.push(`${disp | 0}`);
      return {
        expr: parts.length === 1 ? `(${parts[0]} | 0)` : `((${parts.join(" + ")}) | 0)`,
        seg,
        next: p,
      };
    };
    const winR = (s: number, size: number) =>
      `(off ^ ${MIN}) >= cpu.segRlo[${s}] && ((off + ${size - 1}) ^ ${MIN}) <= cpu.segRhi[${s}]`;
    const winW = (s: number, size: number) =>
      `(off ^ ${MIN}) >= cpu.segWlo[${s}] && ((off + ${size - 1}) ^ ${MIN}) <= cpu.segWhi[${s}]`;
    const direct32 = (tlb: string, s: number) =>
      `((e = cpu.${tlb}[(lin = (sb[${s}] + off) | 0) >>> 12]) & 1) !== 0 && ((pa = (e & -4096) | (lin & 4095)) & 3) === 0 && pa >>> 2 < ram32.length`;
    /** v = the dword at S:off. */
    const read32 = (s: number) =>
      `if (${winR(s, 4)} && ${direct32("tlbR", s)}) v = ram32[pa >>> 2];
       else { ${sync(k, i)} v = cpu.rd32(${s}, off); x = 1; }`;
    /** The dword at S:off = val (a register or local). */
    const write32 = (s: number, val: string, span: number) =>
      `if (${winW(s, 4)} && ${direct32("tlbW", s)}) {
         ram32[pa >>> 2] = ${val};
         if (((pa - ${lo - 3}) >>> 0) < ${span}) x = 1;
       } else { ${sync(k, i)} cpu.wr32(${s}, off, ${val}); x = 1; }`;
    const read8 = (s: number) =>
      `if (${winR(s, 1)} && ((e = cpu.tlbR[(lin = (sb[${s}] + off) | 0) >>> 12]) & 1) !== 0) v = ram[(e & -4096) | (lin & 4095)];
       else { ${sync(k, i)} v = cpu.rd8(${s}, off); x = 1; }`;
    const write8 = (s: number, val: string, span: number) =>
      `if (${winW(s, 1)} && ((e = cpu.tlbW[(lin = (sb[${s}] + off) | 0) >>> 12]) & 1) !== 0) {
         pa = (e & -4096) | (lin & 4095); ram[pa] = ${val};
         if (((pa - ${lo}) >>> 0) < ${span}) x = 1;
       } else { ${sync(k, i)} cpu.wr8(${s}, off, ${val}); x = 1; }`;
    /** Push a dword (a register or local) on a flat 32-bit stack, or the general path. */
    const push = (val: string, span: number) =>
      `off = (r[4] - 4) | 0;
       if (cpu.ssB && ${winW(2, 4)} && ${direct32("tlbW", 2)}) {
         ram32[pa >>> 2] = ${val}; r[4] = off;
         if (((pa - ${lo - 3}) >>> 0) < ${span}) x = 1;
       } else { ${sync(k, i)} cpu.push32(${val}); @RELOAD4@ x = 1; }`;
    // A store's overlap test with this block's bytes: any store into the window (a dword
    // from 3 bytes below it) ends the block, as the block's final extent is not known yet.
    const span32 = hi - lo + 3;
    const span8 = hi - lo;

    let ins: Insn | null = null;
    switch (op) {
      case 0x90:
        ins = { code: "", flags: "", fw: false, fr: false, mf: false };
        q += 1;
        break;
      case 0x01:
      case 0x03:
      case 0x09:
      case 0x0b:
      case 0x21:
      case 0x23:
      case 0x29:
      case 0x2b:
      case 0x31:
      case 0x33:
      case 0x39:
      case 0x3b:
      case 0x85: {
        const m = ram[q + 1];
        const kind = op === 0x85 ? 4 : op >> 3;
        const writes = kind !== 7 && op !== 0x85;
        const g = (m >> 3) & 7;
        if (m >= 0xc0) {
          const d = op & 2 ? g : m & 7;
          const sreg = op & 2 ? m & 7 : g;
          const same = d === sreg && (kind === 6 || kind === 5);
          ins = {
            code: same
              ? `{ const a = r[${d}], b = a, res = 0; @F@ r[${d}] = 0; }`
              : `{ const a = r[${d}], b = r[${sreg}], res = ${aluExpr(kind)}; @F@ ${writes ? `r[${d}] = res;` : ""} }`,
            flags: flags32(kind),
            fw: true,
            fr: false,
            mf: false,
          };
          q += 2;
          break;
        }
        const e = ea(m, q + 2);
        const s = e.seg;
        const nx = e.next - p0;
        if (op & 2 || !writes) {
          // r32 op= m32, CMP r32/m32, TEST m32, r32: a load.
          const ab = op & 2 ? `const a = r[${g}], b = v;` : `const a = v, b = r[${g}];`;
          ins = {
            code: `off = ${e.expr}; ${read32(s)}
              { ${ab} const res = ${aluExpr(kind)}; @F@ ${writes ? `r[${g}] = res;` : ""} }
              ${exitAfter(nx)}`,
            flags: flags32(kind),
            fw: true,
            fr: false,
            mf: true,
          };
        } else {
          ins = {
            code: `off = ${e.expr};
              if (${winW(s, 4)} && ${direct32("tlbW", s)} && (cpu.tlbR[lin >>> 12] & 1) !== 0) {
                const a = ram32[pa >>> 2], b = r[${g}], res = ${aluExpr(kind)};
                ${flags32(kind)}
                ram32[pa >>> 2] = res;
                if (((pa - ${lo - 3}) >>> 0) < ${span32}) x = 1;
              } else { ${sync(k, i)} cpu.aluRmw32(${kind}, ${s}, off, r[${g}]); x = 1; }
              ${exitAfter(nx)}`,
            flags: "",
            fw: true,
            fr: false,
            mf: true,
          };
        }
        q = e.next;
        break;
      }
      case 0x81:
      case 0x83: {
        const m = ram[q + 1];
        const kind = (m >> 3) & 7;
        if (!isPlainAlu(kind)) break;
        const immAt = m >= 0xc0 ? q + 2 : ea(m, q + 2).next;
        const imm = op === 0x83 ? (ram[immAt] << 24) >> 24 : i32(ram, immAt);
        const end = immAt + (op === 0x83 ? 1 : 4);
        if (m >= 0xc0) {
          const d = m & 7;
          ins = {
            code: `{ const a = r[${d}], b = ${imm}, res = ${aluExpr(kind)}; @F@ ${kind !== 7 ? `r[${d}] = res;` : ""} }`,
            flags: flags32(kind),
            fw: true,
            fr: false,
            mf: false,
          };
        } else {
          const e = ea(m, q + 2);
          const s = e.seg;
          const nx = end - p0;
          if (kind === 7) {
            ins = {
              code: `off = ${e.expr}; ${read32(s)}
                { const a = v, b = ${imm}, res = (a - b) | 0; @F@ }
                ${exitAfter(nx)}`,
              flags: flags32(kind),
              fw: true,
              fr: false,
              mf: true,
            };
          } else {
            ins = {
              code: `off = ${e.expr};
                if (${winW(s, 4)} && ${direct32("tlbW", s)} && (cpu.tlbR[lin >>> 12] & 1) !== 0) {
                  const a = ram32[pa >>> 2], b = ${imm}, res = ${aluExpr(kind)};
                  ${flags32(kind)}
                  ram32[pa >>> 2] = res;
                  if (((pa - ${lo - 3}) >>> 0) < ${span32}) x = 1;
                } else { ${sync(k, i)} cpu.aluRmw32(${kind}, ${s}, off, ${imm}); x = 1; }
                ${exitAfter(nx)}`,
              flags: "",
              fw: true,
              fr: false,
              mf: true,
            };
          }
        }
        q = end;
        break;
      }
      case 0x05:
      case 0x0d:
      case 0x25:
      case 0x2d:
      case 0x35:
      case 0x3d:
      case 0xa9: {
        const kind = op === 0xa9 ? 4 : op >> 3;
        const imm = i32(ram, q + 1);
        ins = {
          code: `{ const a = r[0], b = ${imm}, res = ${aluExpr(kind)}; @F@ ${kind !== 7 && op !== 0xa9 ? "r[0] = res;" : ""} }`,
          flags: flags32(kind),
          fw: true,
          fr: false,
          mf: false,
        };
        q += 5;
        break;
      }
      case 0x3c:
      case 0xa8: {
        const imm = ram[q + 1];
        ins = {
          code:
            op === 0x3c
              ? `{ const a = r[0] & 255, b = ${imm}, res = (a - b) | 0; @F@ }`
              : `{ const res = r[0] & ${imm}; @F@ }`,
          flags:
            op === 0x3c
              ? "cpu.lop = 19; cpu.lres = res & 255; cpu.lop1 = a; cpu.lop2 = b;"
              : "cpu.lop = 21; cpu.lres = res; cpu.lop1 = 0; cpu.lop2 = 0;",
          fw: true,
          fr: false,
          mf: false,
        };
        q += 2;
        break;
      }
      case 0x84:
      case 0xf6: {
        const m = ram[q + 1];
        if (m < 0xc0) break;
        if (op === 0xf6 && (m & 0x38) !== 0) break;
        const rhs = op === 0x84 ? reg8((m >> 3) & 7) : `${ram[q + 2]}`;
        ins = {
          code: `{ const res = ${reg8(m & 7)} & ${rhs}; @F@ }`,
          flags:
            op === 0x84
              ? "cpu.lop = 21; cpu.lres = res; cpu.lop1 = 0; cpu.lop2 = 0;"
              : "cpu.lop = 21; cpu.lres = res;",
          fw: true,
          fr: false,
          mf: false,
        };
        q += op === 0x84 ? 2 : 3;
        break;
      }
      case 0x88:
      case 0x8a: {
        const m = ram[q + 1];
        const g = (m >> 3) & 7;
        if (m >= 0xc0) {
          ins = {
            code: op === 0x88 ? setReg8(m & 7, reg8(g)) : setReg8(g, reg8(m & 7)),
            flags: "",
            fw: false,
            fr: false,
            mf: false,
          };
          q += 2;
          break;
        }
        const e = ea(m, q + 2);
        const nx = e.next - p0;
        ins = {
          code:
            op === 0x88
              ? `off = ${e.expr}; v = ${reg8(g)}; ${write8(e.seg, "v", span8)} ${exitAfter(nx)}`
              : `off = ${e.expr}; ${read8(e.seg)} ${setReg8(g, "v")} ${exitAfter(nx)}`,
          flags: "",
          fw: false,
          fr: false,
          mf: true,
        };
        q = e.next;
        break;
      }
      case 0x89:
      case 0x8b: {
        const m = ram[q + 1];
        const g = (m >> 3) & 7;
        if (m >= 0xc0) {
          ins = {
            code: op === 0x89 ? `r[${m & 7}] = r[${g}];` : `r[${g}] = r[${m & 7}];`,
            flags: "",
            fw: false,
            fr: false,
            mf: false,
          };
          q += 2;
          break;
        }
        const e = ea(m, q + 2);
        const nx = e.next - p0;
        ins = {
          code:
            op === 0x8b
              ? `off = ${e.expr}; ${read32(e.seg)} r[${g}] = v; ${exitAfter(nx)}`
              : `off = ${e.expr}; v = r[${g}]; ${write32(e.seg, "v", span32)} ${exitAfter(nx)}`,
          flags: "",
          fw: false,
          fr: false,
          mf: true,
        };
        q = e.next;
        break;
      }
      case 0x8d: {
        const m = ram[q + 1];
        if (m >= 0xc0) break;
        const e = ea(m, q + 2);
        ins = { code: `r[${(m >> 3) & 7}] = ${e.expr};`, flags: "", fw: false, fr: false, mf: false };
        q = e.next;
        break;
      }
      case 0xc7: {
        const m = ram[q + 1];
        if ((m & 0x38) !== 0) break;
        if (m >= 0xc0) {
          ins = { code: `r[${m & 7}] = ${i32(ram, q + 2)};`, flags: "", fw: false, fr: false, mf: false };
          q += 6;
          break;
        }
        const e = ea(m, q + 2);
        const imm = i32(ram, e.next);
        const nx = e.next + 4 - p0;
        ins = {
          code: `off = ${e.expr}; v = ${imm}; ${write32(e.seg, "v", span32)} ${exitAfter(nx)}`,
          flags: "",
          fw: false,
          fr: false,
          mf: true,
        };
        q = e.next + 4;
        break;
      }
      case 0x40:
      case 0x41:
      case 0x42:
      case 0x43:
      case 0x45:
      case 0x46:
      case 0x47:
      case 0x48:
      case 0x49:
      case 0x4a:
      case 0x4b:
      case 0x4d:
      case 0x4e:
      case 0x4f: {
        const d = op & 7;
        const inc = op < 0x48;
        ins = {
          code: `{ const a = r[${d}], res = (a ${inc ? "+" : "-"} 1) | 0; @F@ r[${d}] = res; }`,
          flags: `cpu.keepCF(); cpu.lop = ${inc ? 6 : 7}; cpu.lres = res; cpu.lop1 = a; cpu.lop2 = 1;`,
          fw: false,
          fr: true,
          mf: false,
        };
        q += 1;
        break;
      }
      case 0x50:
      case 0x51:
      case 0x52:
      case 0x53:
      case 0x54:
      case 0x55:
      case 0x56:
      case 0x57:
      case 0x68:
      case 0x6a: {
        const val =
          op === 0x6a ? `${(ram[q + 1] << 24) >> 24}` : op === 0x68 ? `${i32(ram, q + 1)}` : `r[${op & 7}]`;
        const len = op === 0x6a ? 2 : op === 0x68 ? 5 : 1;
        ins = {
          code: `v = ${val}; ${push("v", span32)} ${exitAfter(k + len)}`,
          flags: "",
          fw: false,
          fr: false,
          mf: true,
        };
        q += len;
        break;
      }
      case 0x58:
      case 0x59:
      case 0x5a:
      case 0x5b:
      case 0x5d:
      case 0x5e:
      case 0x5f: {
        ins = {
          code: `off = r[4];
            if (cpu.ssB && ${winR(2, 4)} && ${direct32("tlbR", 2)}) { v = ram32[pa >>> 2]; r[4] = (off + 4) | 0; }
            else { ${sync(k, i)} v = cpu.pop32(); @RELOAD4@ x = 1; }
            r[${op & 7}] = v;
            ${exitAfter(k + 1)}`,
          flags: "",
          fw: false,
          fr: false,
          mf: true,
        };
        q += 1;
        break;
      }
      case 0xb8:
      case 0xb9:
      case 0xba:
      case 0xbb:
      case 0xbc:
      case 0xbd:
      case 0xbe:
      case 0xbf:
        ins = { code: `r[${op & 7}] = ${i32(ram, q + 1)};`, flags: "", fw: false, fr: false, mf: false };
        q += 5;
        break;
      case 0x99:
        ins = { code: "r[2] = r[0] >> 31;", flags: "", fw: false, fr: false, mf: false };
        q += 1;
        break;
      case 0xa1:
      case 0xa3: {
        const off = i32(ram, q + 1);
        ins = {
          code:
            op === 0xa1
              ? `off = ${off}; ${read32(3)} r[0] = v; ${exitAfter(k + 5)}`
              : `off = ${off}; v = r[0]; ${write32(3, "v", span32)} ${exitAfter(k + 5)}`,
          flags: "",
          fw: false,
          fr: false,
          mf: true,
        };
        q += 5;
        break;
      }
      case 0xc1:
      case 0xd1:
      case 0xd3: {
        const m = ram[q + 1];
        if (m < 0xc0) break;
        const kk = (m >> 3) & 7;
        const d = m & 7;
        const len = op === 0xc1 ? 3 : 2;
        q += len;
        if (op === 0xd3) {
          ins = {
            code: `r[${d}] = cpu.shift(${kk}, 32, r[${d}], r[1] & 255);`,
            flags: "",
            fw: false,
            fr: true,
            mf: false,
          };
          break;
        }
        const c = (op === 0xd1 ? 1 : ram[q - 1]) & 31;
        if (c === 0) {
          ins = { code: "", flags: "", fw: false, fr: false, mf: false };
          break;
        }
        if (kk === 4 || kk === 5 || kk === 7) {
          let body: string;
          if (kk === 5)
            body = `res = (v >>> ${c}) | 0; f = ((v >>> ${c - 1}) & 1) | ((v >>> 31) & 1 ? 2048 : 0);`;
          else if (kk === 7) body = `res = v >> ${c}; f = (v >> ${c - 1}) & 1;`;
          else
            body = `res = v << ${c}; const cf = (v >>> ${32 - c}) & 1; f = cf | (((res >>> 31) & 1) ^ cf ? 2048 : 0);`;
          ins = {
            code: `{ const v = r[${d}]; let res = 0, f = 0; ${body} r[${d}] = res; @F@ }`,
            flags: "cpu.flagsv = (cpu.flagsv & -2066) | f; cpu.lop = 8; cpu.lres = res;",
            fw: true,
            fr: false,
            mf: false,
          };
          break;
        }
        if (kk <= 1) {
          const body =
            kk === 0
              ? `const res = (v << ${c}) | (v >>> ${32 - c}); const cf = res & 1; const of = ((res >>> 31) & 1) ^ cf;`
              : `const res = (v >>> ${c}) | (v << ${32 - c}); const cf = (res >>> 31) & 1; const of = cf ^ ((res >>> 30) & 1);`;
          ins = {
            code: `{ const v = r[${d}]; ${body} r[${d}] = res; @F@ }`,
            flags: "cpu.replaceCfOf(cf, of ? 2048 : 0);",
            fw: false,
            fr: true,
            mf: false,
          };
          break;
        }
        ins = {
          code: `r[${d}] = cpu.shift(${kk}, 32, r[${d}], ${c});`,
          flags: "",
          fw: false,
          fr: true,
          mf: false,
        };
        break;
      }
      case 0x69:
      case 0x6b: {
        const m = ram[q + 1];
        if (m < 0xc0) break;
        const imm = op === 0x6b ? (ram[q + 2] << 24) >> 24 : i32(ram, q + 2);
        ins = {
          code: `{ const a = r[${m & 7}], lo = Math.imul(a, ${imm}); r[${(m >> 3) & 7}] = lo; @F@ }`,
          flags: `cpu.flagsv = (cpu.flagsv & -2066) | (a * ${imm} !== lo ? 2049 : 0); cpu.lop = 8; cpu.lres = lo;`,
          fw: true,
          fr: false,
          mf: false,
        };
        q += op === 0x6b ? 3 : 6;
        break;
      }
      case 0x0f: {
        const op2 = ram[q + 1];
        if (op2 === 0xb6 || op2 === 0xb7) {
          const m = ram[q + 2];
          const g = (m >> 3) & 7;
          if (m >= 0xc0) {
            ins = {
              code: `r[${g}] = ${op2 === 0xb6 ? reg8(m & 7) : `r[${m & 7}] & 65535`};`,
              flags: "",
              fw: false,
              fr: false,
              mf: false,
            };
            q += 3;
            break;
          }
          const e = ea(m, q + 3);
          const nx = e.next - p0;
          const s = e.seg;
          const rd =
            op2 === 0xb6
              ? read8(s)
              : `if (${winR(s, 2)} && ((e = cpu.tlbR[(lin = (sb[${s}] + off) | 0) >>> 12]) & 1) !== 0 && (lin & 4095) !== 4095) {
                   pa = (e & -4096) | (lin & 4095); v = ram[pa] | (ram[pa + 1] << 8);
                 } else { ${sync(k, i)} v = cpu.rd16(${s}, off); x = 1; }`;
          ins = {
            code: `off = ${e.expr}; ${rd} r[${g}] = v; ${exitAfter(nx)}`,
            flags: "",
            fw: false,
            fr: false,
            mf: true,
          };
          q = e.next;
          break;
        }
        if (op2 >= 0x80 && op2 <= 0x8f) {
          ins = jcc(i, k + 6 + i32(ram, q + 2), cond(op2 & 15), exitBefore);
          q += 6;
        }
        break;
      }
      case 0x70:
      case 0x71:
      case 0x72:
      case 0x73:
      case 0x74:
      case 0x75:
      case 0x76:
      case 0x77:
      case 0x78:
      case 0x79:
      case 0x7a:
      case 0x7b:
      case 0x7c:
      case 0x7d:
      case 0x7e:
      case 0x7f:
        // Not taken: the block goes on with the next instruction.
        ins = jcc(i, k + 2 + ((ram[q + 1] << 24) >> 24), cond(op & 15), exitBefore);
        q += 2;
        break;
      case 0xeb:
      case 0xe9: {
        const len = op === 0xe9 ? 5 : 2;
        const to = k + len + (op === 0xe9 ? i32(ram, q + 1) : (ram[q + 1] << 24) >> 24);
        q += len;
        if (to === 0) {
          // Back to the block's start: loop inside the block while the budget allows.
          ins = {
            code: `if (ic + ${i + 1} + @N@ <= limit) { ic += ${i + 1}; continue; }
              cpu.bn = ic - ic0 + ${i + 1}; return pc;`,
            flags: "",
            fw: false,
            fr: false,
            mf: true,
          };
          ended = true;
        } else if (inWindow(p0 + to)) {
          // Inside the window (so inside CS's limit): go on decoding at the target.
          ins = { code: "", flags: "", fw: false, fr: false, mf: false };
          jumpTo(p0 + to);
        } else {
          ins = {
            code: `t = (pc + ${to}) | 0;
              if ((t ^ ${MIN}) > cpu.csLimitF) ${exitBefore}
              cpu.bn = ic - ic0 + ${i + 1}; return t;`,
            flags: "",
            fw: false,
            fr: false,
            mf: true,
          };
          ended = true;
        }
        break;
      }
      case 0xe8: {
        const to = k + 5 + i32(ram, q + 1);
        const follow = inWindow(p0 + to);
        ins = {
          code: `t = (pc + ${to}) | 0;
            if ((t ^ ${MIN}) > cpu.csLimitF) ${exitBefore}
            v = pc + ${k + 5};
            ${push("v", span32)}
            ${follow ? `if (x !== 0) { cpu.bn = ic - ic0 + ${i + 1}; return t; }` : `cpu.bn = ic - ic0 + ${i + 1}; return t;`}`,
          flags: "",
          fw: false,
          fr: false,
          mf: true,
        };
        q += 5;
        if (follow) {
          calls.push(k + 5);
          jumpTo(p0 + to);
        } else ended = true;
        break;
      }
      case 0xc3: {
        // The return of a call this block followed goes on at the return address when the
        // stack holds it; any other RET leaves the block.
        const back = calls.length > 0 ? calls[calls.length - 1] : null;
        ins = {
          code: `off = r[4];
            if (cpu.ssB && ${winR(2, 4)} && ${direct32("tlbR", 2)} && ((v = ram32[pa >>> 2]) ^ ${MIN}) <= cpu.csLimitF) {
              r[4] = (off + 4) | 0;
              ${back !== null ? `if (v !== ((pc + ${back}) | 0)) { cpu.bn = ic - ic0 + ${i + 1}; return v; }` : `cpu.bn = ic - ic0 + ${i + 1}; return v;`}
            } else ${exitBefore}`,
          flags: "",
          fw: false,
          fr: false,
          mf: true,
        };
        q += 1;
        if (back !== null) {
          calls.pop();
          jumpTo(p0 + back);
        } else ended = true;
        break;
      }
    }
    if (ins === null) break;
    insns.push(ins);
  }

  const n = insns.length;
  if (n === 0) return null;
  ranges.push(rangeStart, q);
  let first = p0;
  let end = p0;
  for (let j = 0; j < ranges.length; j += 2) {
    first = Math.min(first, ranges[j]);
    end = Math.max(end, ranges[j + 1]);
  }
  // Drop the flag stores a later full writer overwrites before anything reads them or faults.
  const body: string[] = [];
  for (let i = 0; i < n; i++) {
    const ins = insns[i];
    let keep = true;
    if (ins.flags !== "") {
      for (let j = i + 1; j < n; j++) {
        const o = insns[j];
        if (o.mf || o.fr) break;
        if (o.fw) {
          keep = false;
          break;
        }
      }
    }
    body.push(ins.code.replace("@F@", keep ? ins.flags : "").replace("@N@", `${n}`));
  }
  if (!ended) body.push(`cpu.bn = ic - ic0 + ${n}; return pc + ${q - p0};`);

  // The bytes this block was built from, as aligned dwords (bytes outside it masked off).
  const masks = new Map<number, number>();
  for (let j = 0; j < ranges.length; j += 2) {
    for (let b = ranges[j]; b < ranges[j + 1]; b++) {
      const w = b >>> 2;
      masks.set(w, (masks.get(w) ?? 0) | (0xff << ((b & 3) * 8)));
    }
  }
  const checks: string[] = [];
  for (const [w, mask] of [...masks].sort((a, b) => a[0] - b[0])) {
    if (w >= ram32.length) return null;
    const want = ram32[w] & mask;
    checks.push(mask === -1 ? `ram32[${w}] !== ${want}` : `(ram32[${w}] & ${mask}) !== ${want}`);
  }

  const src = `"use strict";
    const ram32 = cpu.ram32;
    if (${checks.join(" || ")}) { cpu.bn = -1; return pc; }
    ${localize(body.join("\n"))}`;
  const fn = new Function("cpu", "pc", "ic", "limit", src) as BlockFn;
  return { fn, lo: first - p0, len: end - p0, n };
}

/**
 * Wraps a block's body: the guest registers it uses, the segment windows and bases, the TLBs
 * and the CS limit in locals (none of them can change inside a block except through the
 * block's own code, and a general-path call ends the block), registers written back at every
 * exit and before every general-path call (which may fault, or read or change ESP).
 */
function localize(body: string): string {
  const decls: string[] = ["const r = cpu.regs, ram = cpu.ram, n32 = ram32.length, ic0 = ic;"];
  const uses = (re: RegExp) => [...new Set([...body.matchAll(re)].map((m) => m[1]))].sort();
  for (const [field, name] of [
    ["segRlo", "rlo"],
    ["segRhi", "rhi"],
    ["segWlo", "wlo"],
    ["segWhi", "whi"],
  ]) {
    for (const s of uses(new RegExp(`cpu\\.${field}\\[(\\d)\\]`, "g"))) {
      decls.push(`const ${name}${s} = cpu.${field}[${s}];`);
      body = body.replaceAll(`cpu.${field}[${s}]`, `${name}${s}`);
    }
  }
  for (const s of uses(/\bsb\[(\d)\]/g)) {
    decls.push(`const sb${s} = cpu.segBase[${s}];`);
    body = body.replaceAll(`sb[${s}]`, `sb${s}`);
  }
  decls.push("const tlbR = cpu.tlbR, tlbW = cpu.tlbW, csl = cpu.csLimitF, ssb = cpu.ssB;");
  body = body
    .replaceAll("cpu.tlbR[", "tlbR[")
    .replaceAll("cpu.tlbW[", "tlbW[")
    .replaceAll("ram32.length", "n32")
    .replaceAll("cpu.csLimitF", "csl")
    .replaceAll("cpu.ssB", "ssb")
    .replace(/\br\[(\d)\]/g, "r$1");
  const regs = uses(/\br(\d)\b/g);
  if (regs.length > 0) decls.push(`let ${regs.map((g) => `r${g} = r[${g}]`).join(", ")};`);
  const written = uses(/\br(\d) = /g);
  const flush = written.map((g) => `r[${g}] = r${g};`).join(" ");
  body = body
    .replaceAll("@FLUSH@", flush)
    .replaceAll("@RELOAD4@", regs.includes("4") ? "r4 = r[4];" : "")
    .replace(/\breturn /g, `${flush} return `);
  return `${decls.join("\n")}
    let x = 0, off = 0, lin = 0, e = 0, pa = 0, v = 0, t = 0;
    for (;;) {
      ${body}
    }`;
}

/**
 * A conditional jump (instruction index `i`) to block offset `to`: the
 * taken branch leaves the block (or loops to its start), the block goes on when not taken.
 */
function jcc(i: number, to: number, cc: string, exitBefore: string): Insn {
  const taken =
    to === 0
      ? `if (ic + ${i + 1} + @N@ <= limit) { ic += ${i + 1}; continue; } cpu.bn = ic - ic0 + ${i + 1}; return t;`
      : `cpu.bn = ic - ic0 + ${i + 1}; return t;`;
  return {
    code: `t = (pc + ${to}) | 0;
      if ((t ^ ${MIN}) > cpu.csLimitF) ${exitBefore}
      if (${cc}) { ${taken} }`,
    flags: "",
    fw: false,
    fr: true,
    mf: true,
  };
}

/** A condition code (the low nibble of Jcc) as an expression on the lazy flags. */
function cond(cc: number): string {
  if (cc === 4 || cc === 5)
    return `((cpu.lop !== 0 ? cpu.lres === 0 : (cpu.flagsv & 64) !== 0) === ${cc === 4})`;
  return `cpu.cond(${cc})`;
}
