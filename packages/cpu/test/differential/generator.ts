/**
 * Random instruction sequences for the host differential test (issue 4, "How it is proven").
 *
 * A case is a short straight-line program: a few "target" instructions drawn from the
 * implemented user-mode integer set, each preceded by the setup instructions it needs
 * (MOV reg, imm32 for address registers, shift counts, dividends, ...). Setup keeps memory
 * operands inside the scratch area and keeps ESP inside its stack; everything else (register
 * values, flags, memory contents) stays random. The generator tracks which flags the SDM leaves
 * undefined after each instruction and never lets a later instruction read them, so the
 * comparison masks only what the SDM allows and only where the SDM allows it.
 */
import {
  AC,
  AF,
  ARITH,
  CF,
  DF,
  doubleShiftUndefined,
  ID,
  NT,
  OF,
  PF,
  rotateUndefined,
  SF,
  shiftUndefined,
  UNDEFINED_FLAGS,
  ZF,
} from "./flags.js";
import { Prng } from "./prng.js";

/** Where the harness puts code (same linear address on the host and in the emulated RAM). */
export const CODE_BASE = 0x40000;
/** Bytes of scratch: data in the first 4 KiB, the stack in the second. */
export const SCRATCH_SIZE = 0x2000;
const STACK_LOW = 0x1000;
const STACK_INIT = 0x1c00;

export interface Layout {
  /** Linear address of the scratch area. */
  scratchBase: number;
  /** True when the scratch lies below 64 KiB, so 16-bit addressing (67h) can reach it. */
  addr16: boolean;
  /** The host process's selectors (Linux: flat CS, flat DS = ES = SS, FS and GS for TLS). */
  sel: { cs: number; ds: number; fs: number; gs: number };
}

export interface InsnRecord {
  offset: number;
  length: number;
  /** The form key for target instructions, null for setup and filler. */
  form: string | null;
  /** Flags the SDM leaves undefined before this instruction runs. */
  undefBefore: number;
}

export interface TestCase {
  id: number;
  /** 32: the flat code segment; 16: a 16-bit code segment based at CODE_BASE (the host's LDT). */
  mode: 16 | 32;
  code: Uint8Array;
  /** EAX..EDI in encoding order; ESP is fixed by the layout. */
  regs: Uint32Array;
  eflags: number;
  scratchSeed: number;
  insns: InsnRecord[];
  undefAfter: number;
  /**
   * The last instruction's destination bits that are undefined when it leaves ZF=1: BSF/BSR
   * with a zero source (the whole destination), LAR r32 (bits 19:16).
   */
  zeroSourceDest: { reg: number; mask: number } | null;
}

type Size = 8 | 16 | 32;

interface FlagEffect {
  read: number;
  /** Flags the instruction sets to a defined value. */
  written: number;
  /** Flags the instruction leaves undefined. */
  undef: number;
}

const NONE: FlagEffect = { read: 0, written: 0, undef: 0 };
const ALL_DEFINED: FlagEffect = { read: 0, written: ARITH, undef: 0 };

/** Flags each condition code reads (SDM Vol. 1, Appendix B). */
const CC_READS = [
  OF,
  OF,
  CF,
  CF,
  ZF,
  ZF,
  CF | ZF,
  CF | ZF,
  SF,
  SF,
  PF,
  PF,
  SF | OF,
  SF | OF,
  ZF | SF | OF,
  ZF | SF | OF,
];

class Reject extends Error {}

interface MemOperand {
  /** ModRM mod and rm bits (reg bits 0). */
  modrm: number;
  tail: number[];
  prefix67: boolean;
  target: number;
  kind: "m32" | "m16";
}

interface Snapshot {
  bytes: number;
  insns: number;
  undef: number;
  esp: number;
  df: number;
  ac: boolean;
  nt: boolean;
}

export class CaseBuilder {
  readonly bytes: number[] = [];
  readonly insns: InsnRecord[] = [];
  undef = 0;
  esp: number;
  df: number;
  last = false;
  /** EFLAGS.AC may be set (a POPF set it): alignment checks are on. */
  ac = false;
  /** EFLAGS.NT is set: IRET would be a task return (never generated). */
  nt = false;
  zeroSourceDest: { reg: number; mask: number } | null = null;
  readonly s: number;
  readonly rng: Prng;
  readonly layout: Layout;
  /** Default operand and address size of the code segment. */
  readonly mode: 16 | 32;
  /** EIP of the first byte: the code page's linear address, or 0 in the 16-bit code segment based there. */
  readonly csBase: number;

  constructor(rng: Prng, layout: Layout, eflags: number, mode: 16 | 32 = 32) {
    this.rng = rng;
    this.layout = layout;
    this.mode = mode;
    this.csBase = mode === 16 ? 0 : CODE_BASE;
    this.s = layout.scratchBase;
    this.esp = this.s + STACK_INIT;
    this.df = eflags & DF;
    this.nt = (eflags & NT) !== 0;
  }

  snapshot(): Snapshot {
    return {
      bytes: this.bytes.length,
      insns: this.insns.length,
      undef: this.undef,
      esp: this.esp,
      df: this.df,
      ac: this.ac,
      nt: this.nt,
    };
  }

  rollback(s: Snapshot): void {
    this.bytes.length = s.bytes;
    this.insns.length = s.insns;
    this.undef = s.undef;
    this.esp = s.esp;
    this.df = s.df;
    this.ac = s.ac;
    this.nt = s.nt;
  }

  private push(bytes: readonly number[], form: string | null): void {
    this.insns.push({ offset: this.bytes.length, length: bytes.length, form, undefBefore: this.undef });
    for (const b of bytes) this.bytes.push(b & 0xff);
  }

  setup(bytes: readonly number[]): void {
    this.push(bytes, null);
  }

  /**
   * Segment overrides whose base is 0: ES, SS, DS, and CS in the flat code segment (the 16-bit
   * one is based at CODE_BASE, so CS: would address outside the scratch area).
   */
  segOverrides(): number[] {
    return this.mode === 16 ? [0x26, 0x36, 0x3e] : [0x26, 0x36, 0x3e, 0x2e];
  }

  /** The operand-size prefix for `size` in this code segment (none for byte operations). */
  o(size: Size): number[] {
    return size !== 8 && size !== this.mode ? [0x66] : [];
  }

  /** The address-size prefix a memory operand needs in this code segment. */
  a(m: MemOperand | 16 | 32): number[] {
    const size = typeof m === "number" ? m : m.kind === "m16" ? 16 : 32;
    return size !== this.mode ? [0x67] : [];
  }

  movImm(reg: number, value: number): void {
    this.setup([...this.o(32), 0xb8 + reg, ...le32(value)]);
  }

  /** mov dword [abs32], imm32 */
  store32(address: number, value: number): void {
    this.setup([...this.o(32), ...this.a(32), 0xc7, 0x05, ...le32(address), ...le32(value)]);
  }

  /** mov r32, dword [abs32] */
  load32(reg: number, address: number): void {
    this.setup([...this.o(32), ...this.a(32), 0x8b, 0x05 | (reg << 3), ...le32(address)]);
  }

  /** push imm32 (4 bytes in either code size) */
  pushImm32(value: number): void {
    this.setup([...this.o(32), 0x68, ...le32(value)]);
  }

  /** Emits a target instruction; throws Reject when it would read a flag that is undefined. */
  target(bytes: readonly number[], form: string, flags: FlagEffect): void {
    if (flags.read & this.undef) throw new Reject();
    this.push(bytes, this.mode === 16 ? `${form} c16` : form);
    this.undef = (this.undef & ~flags.written & ~flags.undef) | flags.undef;
  }

  /** Checks that a stack access of `bytes` below/above the current ESP stays in the stack area. */
  stackFits(newEsp: number, low: number, high: number): void {
    const lo = this.s + STACK_LOW + 16;
    const hi = this.s + SCRATCH_SIZE - 16;
    if (newEsp < lo || newEsp > hi || low < lo || high > hi) throw new Reject();
  }

  /** A register operand; ESP (and SP) only when the instruction does not write it. */
  reg(size: Size, written: boolean, avoid: readonly number[] = []): number {
    for (;;) {
      const r = this.rng.int(8);
      if (size !== 8 && r === 4 && written) continue;
      if (avoid.includes(r) || (size === 8 && avoid.includes(r & 3))) continue;
      return r;
    }
  }

  /**
   * A memory operand at a random scratch address, with the address registers loaded by setup.
   * `avoid` lists registers the instruction loads itself (so they cannot hold the address).
   * `espBias` is how far ESP moves before the address is computed (POP r/m).
   */
  mem(
    bytes: number,
    opts: { avoid?: readonly number[]; espBias?: number; lo?: number; hi?: number; addr16?: boolean } = {},
  ): MemOperand {
    const avoid = opts.avoid ?? [];
    const rng = this.rng;
    const lo = this.s + (opts.lo ?? 0x40);
    const hi = this.s + (opts.hi ?? 0xfc0) - bytes;
    let t = rng.range(lo, hi);
    if (rng.chance(0.5)) t &= ~(Math.min(bytes, 4) - 1);
    const use16 = opts.addr16 ?? (this.layout.addr16 && rng.chance(this.mode === 16 ? 0.8 : 0.15));
    if (use16) return this.mem16(t, avoid);
    for (let attempt = 0; attempt < 20; attempt++) {
      const r = this.mem32(t, avoid, opts.espBias ?? 0);
      if (r) return r;
    }
    throw new Reject();
  }

  private mem32(t: number, avoid: readonly number[], espBias: number): MemOperand | null {
    const rng = this.rng;
    const pickReg = (allowEsp: boolean): number => {
      for (;;) {
        const r = rng.int(8);
        if (r === 4 && !allowEsp) continue;
        if (!avoid.includes(r)) return r;
      }
    };
    const shape = rng.int(7);
    if (shape === 0) return { modrm: 0x05, tail: le32(t), prefix67: false, target: t, kind: "m32" };
    if (shape <= 3) {
      // [base], [base+disp8], [base+disp32]
      const mod = shape - 1;
      const base = pickReg(false);
      if (mod === 0 && base === 5) return null;
      const disp = mod === 1 ? rng.range(-128, 127) : mod === 2 ? rng.u32() | 0 : 0;
      this.movImm(base, t - disp);
      const tail = mod === 1 ? [disp & 0xff] : mod === 2 ? le32(disp) : [];
      return { modrm: (mod << 6) | base, tail, prefix67: false, target: t, kind: "m32" };
    }
    // SIB forms.
    const mod = rng.int(3);
    const scale = rng.int(4);
    const base = rng.chance(0.2) ? 4 : pickReg(false);
    const noBase = mod === 0 && base === 5;
    const index = rng.chance(0.2) ? 4 : pickReg(false);
    if (index !== 4 && index === base) return null;
    let disp = mod === 1 ? rng.range(-128, 127) : mod === 2 || noBase ? rng.u32() | 0 : 0;
    let indexValue = 0;
    if (index !== 4) indexValue = rng.chance(0.5) ? rng.range(-64, 64) : rng.u32() | 0;
    if (base === 4) {
      // ESP cannot be loaded by setup: the displacement (disp32) or a small index absorbs the distance.
      const esp = this.esp + espBias;
      if (mod === 2) disp = (t - esp - Math.imul(indexValue, 1 << scale)) | 0;
      else if (index !== 4) indexValue = this.rng.range(-16, 16);
      const ea = (esp + disp + Math.imul(indexValue, 1 << scale)) >>> 0;
      if (ea < this.s || ea + 8 > this.s + SCRATCH_SIZE) return null;
      t = ea;
    } else if (noBase) {
      disp = (t - Math.imul(indexValue, 1 << scale)) | 0;
    }
    if (index !== 4) this.movImm(index, indexValue);
    if (base !== 4 && !noBase) this.movImm(base, (t - disp - Math.imul(indexValue, 1 << scale)) | 0);
    const tail = [(scale << 6) | (index << 3) | base];
    if (mod === 1) tail.push(disp & 0xff);
    else if (mod === 2 || noBase) tail.push(...le32(disp));
    return { modrm: (mod << 6) | 4, tail, prefix67: false, target: t >>> 0, kind: "m32" };
  }

  private mem16(t: number, avoid: readonly number[]): MemOperand {
    const rng = this.rng;
    // rm -> [first, second] registers of the 16-bit forms (SDM Vol. 2, table 2-1).
    const regsOf: number[][] = [[3, 6], [3, 7], [5, 6], [5, 7], [6], [7], [5], [3]];
    for (;;) {
      const rm = rng.int(8);
      const mod = rng.int(3);
      const regs = mod === 0 && rm === 6 ? [] : regsOf[rm];
      if (regs.some((r) => avoid.includes(r))) continue;
      const disp =
        mod === 1 ? rng.range(-128, 127) : mod === 2 || (mod === 0 && rm === 6) ? rng.int(0x10000) : 0;
      let sum = disp;
      if (regs.length === 2) {
        const v = rng.u32();
        this.movImm(regs[1], v);
        sum += v & 0xffff;
      }
      if (regs.length > 0) this.movImm(regs[0], ((rng.u32() & 0xffff0000) | ((t - sum) & 0xffff)) >>> 0);
      else if (mod === 0 && rm === 6) {
        return { modrm: 0x06, tail: le16(t), prefix67: true, target: t, kind: "m16" };
      }
      const tail = mod === 1 ? [disp & 0xff] : mod === 2 ? le16(disp) : [];
      return { modrm: (mod << 6) | rm, tail, prefix67: true, target: t, kind: "m16" };
    }
  }
}

export function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}

function le16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}

// ---------------------------------------------------------------------------------------------
// Forms

interface ModrmSpec {
  name: string;
  opcode: readonly number[];
  /** Operand size of the instruction (decides the 66h prefix); 8 for byte forms. */
  osz: Size;
  /** Size of the r/m operand when it differs from osz (MOVZX/MOVSX). */
  rmSize?: Size;
  /** A fixed /digit, or "reg" for a register operand in the reg field. */
  digit: number | "reg";
  regSize?: Size;
  rmWrite: boolean;
  regWrite?: boolean;
  /** "mem" forces a memory operand, "reg" a register one. */
  only?: "mem" | "reg";
  imm?: () => number[];
  flags: FlagEffect;
  /** LOCK is valid for the memory form (SDM Vol. 2, LOCK). */
  lockable?: boolean;
  /** Registers the instruction reads implicitly and that setup loads. */
  avoid?: readonly number[];
  memBytes?: number;
  /** `before` loads the reg-field register. */
  regSetup?: boolean;
  /** Never add a (#UD) LOCK prefix: the host does not raise #UD for it (LOCK VERW m16, AMD). */
  noLock?: boolean;
  /** Runs after operands are chosen (setup loads that depend on them). */
  before?: (b: CaseBuilder, op: { mem: MemOperand | null; rm: number; reg: number }) => void;
  after?: (b: CaseBuilder, op: { mem: MemOperand | null; rm: number; reg: number }) => void;
}

function sizeName(s: Size): string {
  return s === 8 ? "8" : s === 16 ? "16" : "32";
}

function emitModrm(b: CaseBuilder, spec: ModrmSpec): void {
  const rng = b.rng;
  const rmSize = spec.rmSize ?? spec.osz;
  const regSize = spec.regSize ?? spec.osz;
  const useMem = spec.only === "mem" || (spec.only !== "reg" && rng.chance(0.5));
  const avoid = spec.avoid ?? [];
  const reg = spec.digit === "reg" ? b.reg(regSize, spec.regWrite ?? false, avoid) : spec.digit;
  let mem: MemOperand | null = null;
  let rm = 0;
  if (useMem) {
    // A reg-field operand that setup loads must not double as an address register.
    const regAvoid = spec.regSetup && spec.digit === "reg" ? [reg] : [];
    mem = b.mem(spec.memBytes ?? rmSize / 8, { avoid: [...avoid, ...regAvoid] });
  } else {
    rm = b.reg(rmSize, spec.rmWrite, avoid);
  }
  spec.before?.(b, { mem, rm, reg });
  const prefixes: number[] = [];
  let lock = false;
  if (mem && spec.lockable && rng.chance(0.15)) lock = true;
  // LOCK on a register form or a non-lockable instruction must raise #UD (SDM Vol. 2, LOCK).
  if (!lock && !spec.noLock && rng.chance(0.01)) {
    lock = true;
    b.last = true;
  }
  if (lock) prefixes.push(0xf0);
  prefixes.push(...b.o(spec.osz));
  if (mem) {
    prefixes.push(...b.a(mem));
    if (rng.chance(0.1)) {
      const seg = rng.pick(b.segOverrides());
      // A CS override on a write is #GP(0) (code segments are not writable): keep it rare.
      if (seg === 0x2e && spec.rmWrite) {
        if (rng.chance(0.2)) {
          prefixes.push(seg);
          b.last = true;
        }
      } else prefixes.push(seg);
    }
  }
  // Prefixes may come in any order (SDM Vol. 2, 2.1.1): shuffle them so the decoder sees all.
  for (let i = prefixes.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [prefixes[i], prefixes[j]] = [prefixes[j], prefixes[i]];
  }
  const modrm = mem ? mem.modrm | (reg << 3) : 0xc0 | (reg << 3) | rm;
  const bytes = [
    ...prefixes,
    ...spec.opcode,
    modrm,
    ...(mem ? mem.tail : []),
    ...(spec.imm ? spec.imm() : []),
  ];
  const addr = mem ? mem.kind : "reg";
  const size =
    spec.rmSize && spec.rmSize !== spec.osz
      ? `${sizeName(spec.osz)}/${sizeName(spec.rmSize)}`
      : sizeName(spec.osz);
  b.target(bytes, `${spec.name} ${size} ${addr}${lock ? " lock" : ""}`, spec.flags);
  spec.after?.(b, { mem, rm, reg });
}

type FormFn = (b: CaseBuilder) => void;

interface FormGroup {
  name: string;
  weight: number;
  gen: FormFn;
}

const ALU_NAMES = ["ADD", "OR", "ADC", "SBB", "AND", "SUB", "XOR", "CMP"] as const;

function aluFlags(op: number): FlagEffect {
  const name = ALU_NAMES[op];
  const read = op === 2 || op === 3 ? CF : 0;
  const undef = UNDEFINED_FLAGS[name]?.mask ?? 0;
  return { read, written: ARITH & ~undef, undef };
}

function sizes(rng: Prng): Size {
  return rng.pick([8, 16, 32, 32] as const);
}

function vsize(rng: Prng): 16 | 32 {
  return rng.chance(0.35) ? 16 : 32;
}

function imm(size: Size, rng: Prng): number[] {
  const v = rng.interesting(size);
  return size === 8 ? [v & 0xff] : size === 16 ? le16(v) : le32(v);
}

const FILLER = [0x8d, 0x80, 0x11, 0x11, 0x00, 0x00]; // lea eax,[eax+0x1111]: no flags touched

function gpCodes(): number[][] {
  return [
    [0xf4], // HLT
    [0xfa], // CLI (IOPL 0)
    [0xfb], // STI
    [0xe4, 0x60], // IN AL, imm8
    [0xe5, 0x40],
    [0xec], // IN AL, DX
    [0xed],
    [0xe6, 0x80], // OUT imm8, AL
    [0xe7, 0x70],
    [0xee],
    [0xef],
    [0x6c], // INSB
    [0x6d],
    [0x6e], // OUTSB
    [0x6f],
    [0x0f, 0x06], // CLTS
    [0x0f, 0x08], // INVD
    [0x0f, 0x09], // WBINVD
    [0x0f, 0x30], // WRMSR
    [0x0f, 0x32], // RDMSR
    [0x0f, 0x20, 0xc0], // MOV EAX, CR0
    [0x0f, 0x22, 0xd8], // MOV CR3, EAX
    [0x0f, 0x21, 0xc0], // MOV EAX, DR0
    [0x0f, 0x23, 0xc0], // MOV DR0, EAX
    [0x0f, 0x01, 0xf0], // LMSW AX
    [0x0f, 0x00, 0xd0], // LLDT AX
    [0x0f, 0x00, 0xd8], // LTR AX
  ];
}

function modrmGroup(name: string, weight: number, make: (rng: Prng) => ModrmSpec): FormGroup {
  return { name, weight, gen: (b) => emitModrm(b, make(b.rng)) };
}

function shiftGroup(): FormGroup {
  const names = ["ROL", "ROR", "RCL", "RCR", "SHL", "SHR", "SAL", "SAR"];
  return {
    name: "shift/rotate",
    weight: 8,
    gen: (b) => {
      const rng = b.rng;
      let digit = rng.int(8);
      if (digit === 6) digit = 4; // /6 is an undocumented alias (EXCLUDED)
      const size = sizes(rng);
      const how = rng.int(3); // 0: by 1, 1: imm8, 2: CL
      const width = size;
      const count =
        how === 0
          ? 1
          : rng.pick([0, 1, 2, width - 1, width, width + 1, 31, 32, 33, rng.int(256), rng.int(32)]);
      const masked = count & 31;
      const name = names[digit];
      let undef: number;
      let written: number;
      if (digit <= 3) {
        undef = rotateUndefined(masked);
        written = masked === 0 ? 0 : (CF | OF) & ~undef;
      } else {
        undef = shiftUndefined(name === "SAR" ? "SAR" : name === "SHR" ? "SHR" : "SHL", masked, width);
        written = masked === 0 ? 0 : ARITH & ~undef;
      }
      const read = digit === 2 || digit === 3 ? CF : 0;
      const opc = how === 0 ? 0xd0 : how === 1 ? 0xc0 : 0xd2;
      const spec: ModrmSpec = {
        name: `${name} ${how === 0 ? "1" : how === 1 ? "imm" : "CL"}`,
        opcode: [opc + (size === 8 ? 0 : 1)],
        osz: size,
        digit,
        rmWrite: true,
        imm: how === 1 ? () => [count] : undefined,
        flags: { read, written, undef },
        avoid: how === 2 ? [1] : [],
        before: how === 2 ? (bb) => bb.setup([0xb1, count]) : undefined,
      };
      emitModrm(b, spec);
    },
  };
}

function doubleShiftGroup(): FormGroup {
  return {
    name: "SHLD/SHRD",
    weight: 2,
    gen: (b) => {
      const rng = b.rng;
      const size = vsize(rng);
      const right = rng.chance(0.5);
      const byCl = rng.chance(0.5);
      // A count above the operand size leaves the result undefined: only 16-bit forms can have it.
      const count =
        size === 16
          ? rng.pick([0, 1, 2, 15, 16, rng.int(17), 32, 33, 48])
          : rng.pick([0, 1, 2, 31, 32, 33, rng.int(256)]);
      const masked = count & 31;
      if (masked > size) throw new Reject();
      const undef = doubleShiftUndefined(masked);
      emitModrm(b, {
        name: `${right ? "SHRD" : "SHLD"} ${byCl ? "CL" : "imm"}`,
        opcode: [0x0f, (right ? 0xac : 0xa4) + (byCl ? 1 : 0)],
        osz: size,
        digit: "reg",
        rmWrite: true,
        imm: byCl ? undefined : () => [count],
        flags: { read: 0, written: masked === 0 ? 0 : ARITH & ~undef, undef },
        avoid: byCl ? [1] : [],
        before: byCl ? (bb) => bb.setup([0xb1, count]) : undefined,
      });
    },
  };
}

function divGroup(): FormGroup {
  return {
    name: "DIV/IDIV",
    weight: 4,
    gen: (b) => {
      const rng = b.rng;
      const size = sizes(rng);
      const signed = rng.chance(0.5);
      const name = signed ? "IDIV" : "DIV";
      const w = BigInt(size);
      const mod = 1n << w;
      const half = 1n << (w - 1n);
      let divisor: bigint;
      let dividend: bigint; // 2*size bits, two's complement
      const kind = rng.int(20);
      const rand = (bits: bigint): bigint => {
        let v = 0n;
        for (let i = 0n; i < bits; i += 32n) v = (v << 32n) | BigInt(rng.u32());
        return v & ((1n << bits) - 1n);
      };
      if (kind === 0) {
        divisor = 0n;
        dividend = rand(2n * w);
      } else if (kind <= 2) {
        divisor = rand(w) || 1n;
        dividend = rand(2n * w);
      } else if (!signed) {
        divisor = rng.chance(0.3) ? BigInt(rng.range(1, 20)) : rand(w) || 1n;
        const q = rand(w);
        const r = rand(w) % divisor;
        dividend = q * divisor + r;
      } else {
        const sd = (() => {
          const v = rng.chance(0.3) ? BigInt(rng.range(-20, 20)) : rand(w) - half;
          return v === 0n ? 1n : v;
        })();
        let q = rand(w) - half;
        if (rng.chance(0.1)) q = -half;
        const ad = sd < 0n ? -sd : sd;
        let r = rand(w) % ad;
        if (q * sd < 0n) r = -r;
        const sdividend = q * sd + r;
        divisor = (sd + mod) % mod;
        dividend = (sdividend + (mod << w)) % (mod << w);
      }
      const lo = Number(dividend & (mod - 1n)) >>> 0;
      const hi = Number(dividend >> w) >>> 0;
      const dv = Number(divisor) >>> 0;
      const avoid = size === 8 ? [0] : [0, 2];
      emitModrm(b, {
        name,
        opcode: [size === 8 ? 0xf6 : 0xf7],
        osz: size,
        digit: signed ? 7 : 6,
        rmWrite: false,
        flags: { read: 0, written: 0, undef: UNDEFINED_FLAGS[name].mask },
        avoid,
        before: (bb, op) => {
          if (!op.mem && size !== 8 && op.rm === 4) throw new Reject(); // setup would load ESP
          if (size === 8) bb.movImm(0, (rng.u32() & 0xffff0000) | ((hi & 0xff) << 8) | (lo & 0xff));
          else if (size === 16) {
            bb.movImm(0, (rng.u32() & 0xffff0000) | lo);
            bb.movImm(2, (rng.u32() & 0xffff0000) | hi);
          } else {
            bb.movImm(0, lo);
            bb.movImm(2, hi);
          }
          if (op.mem) bb.store32(op.mem.target, (rng.u32() & ~(size === 32 ? -1 : (1 << size) - 1)) | dv);
          else if (size === 8) bb.setup([0xb0 + op.rm, dv]);
          else bb.movImm(op.rm, (size === 16 ? rng.u32() & 0xffff0000 : 0) | dv);
        },
      });
    },
  };
}

function stringGroup(): FormGroup {
  const ops = [
    { name: "MOVS", op: 0xa4, flags: NONE, src: true, dst: true, rep: "rep" },
    { name: "CMPS", op: 0xa6, flags: ALL_DEFINED, src: true, dst: true, rep: "repcc" },
    { name: "STOS", op: 0xaa, flags: NONE, src: false, dst: true, rep: "rep" },
    { name: "LODS", op: 0xac, flags: NONE, src: true, dst: false, rep: "rep" },
    { name: "SCAS", op: 0xae, flags: ALL_DEFINED, src: false, dst: true, rep: "repcc" },
  ] as const;
  return {
    name: "string",
    weight: 6,
    gen: (b) => {
      const rng = b.rng;
      const o = rng.pick(ops);
      const size = sizes(rng);
      const a16 = b.layout.addr16 && rng.chance(b.mode === 16 ? 0.75 : 0.25);
      const repKind = rng.int(3);
      const prefix = repKind === 0 ? null : o.rep === "rep" ? 0xf3 : repKind === 1 ? 0xf3 : 0xf2;
      let count = rng.pick([0, 1, 2, 3, rng.int(24)]);
      let src = b.s + rng.range(0x100, 0xf00);
      let dst = b.s + rng.range(0x100, 0xf00);
      if (prefix === 0xf3 && (o.name === "MOVS" || o.name === "STOS") && rng.chance(0.3)) {
        // Long runs (across the page boundary in the middle of the scratch area, where a bulk
        // copy path must split) and, for MOVS, overlapping source and destination in either
        // direction, where a block copy differs from the element-by-element semantics.
        const esz = size / 8;
        count = rng.chance(0.5) ? rng.range(24, 300) : rng.range(300, 0x1400 / esz);
        const span = count * esz;
        const lo = b.s + 0x20;
        const hi = b.s + SCRATCH_SIZE - 0x20;
        const place = () => (b.df ? rng.range(lo + span, hi - esz) : rng.range(lo, hi - span));
        dst = place();
        src = place();
        if (o.name === "MOVS" && rng.chance(0.6)) {
          const near = dst + rng.range(-16, 16);
          if (b.df ? near - span >= lo && near + esz <= hi : near >= lo && near + span <= hi) src = near;
        }
      }
      const regVal = (addr: number) => (a16 ? ((rng.u32() & 0xffff0000) | addr) >>> 0 : addr);
      if (o.src) b.movImm(6, regVal(src));
      if (o.dst) b.movImm(7, regVal(dst));
      if (prefix !== null) b.movImm(1, a16 ? ((rng.u32() & 0xffff0000) | count) >>> 0 : count);
      const bytes: number[] = [];
      if (prefix !== null) bytes.push(prefix);
      bytes.push(...b.o(size), ...b.a(a16 ? 16 : 32));
      if (o.src && rng.chance(0.15)) bytes.push(rng.pick(b.segOverrides()));
      bytes.push(o.op + (size === 8 ? 0 : 1));
      const rep = prefix === null ? "" : prefix === 0xf3 ? (o.rep === "rep" ? "REP " : "REPE ") : "REPNE ";
      // With a zero count a REP form changes no flag, so earlier undefined flags stay undefined.
      const flags = prefix !== null && count === 0 ? NONE : o.flags;
      b.target(bytes, `${rep}${o.name} ${sizeName(size)} ${a16 ? "a16" : "a32"}`, { ...flags, read: DF });
    },
  };
}

function stackGroup(): FormGroup {
  return {
    name: "stack",
    weight: 7,
    gen: (b) => {
      const rng = b.rng;
      const k = rng.int(12);
      const osz = vsize(rng);
      const n = osz / 8;
      const p66 = b.o(osz);
      const push = (form: string, bytes: number[], count = 1, flags = NONE): void => {
        const esp = b.esp - n * count;
        b.stackFits(esp, esp, b.esp);
        b.target(bytes, form, flags);
        b.esp = esp;
      };
      const pop = (form: string, bytes: number[], count = 1): void => {
        const esp = b.esp + n * count;
        b.stackFits(esp, b.esp, esp);
        b.target(bytes, form, NONE);
        b.esp = esp;
      };
      switch (k) {
        case 0:
          push(`PUSH r ${osz}`, [...p66, 0x50 + rng.int(8)]);
          break;
        case 1: {
          const r = rng.int(8);
          if (r === 4) throw new Reject(); // POP ESP: excluded (moves the stack to random data)
          pop(`POP r ${osz}`, [...p66, 0x58 + r]);
          break;
        }
        case 2:
          push(`PUSH imm8 ${osz}`, [...p66, 0x6a, rng.int(256)]);
          break;
        case 3:
          push(`PUSH imm ${osz}`, [...p66, 0x68, ...imm(osz, rng)]);
          break;
        case 4: {
          const esp = b.esp - n;
          b.stackFits(esp, esp, b.esp);
          emitModrm(b, { name: "PUSH rm", opcode: [0xff], osz, digit: 6, rmWrite: false, flags: NONE });
          b.esp = esp;
          break;
        }
        case 5: {
          const esp = b.esp + n;
          b.stackFits(esp, b.esp, esp);
          const useMem = rng.chance(0.7);
          if (useMem) {
            const mem = b.mem(n, { espBias: n });
            const bytes = [...p66, ...b.a(mem), 0x8f, mem.modrm, ...mem.tail];
            b.target(bytes, `POP rm ${osz} ${mem.kind}`, NONE);
          } else {
            const r = b.reg(osz, true);
            b.target([...p66, 0x8f, 0xc0 | r], `POP rm ${osz} reg`, NONE);
          }
          b.esp = esp;
          break;
        }
        case 6:
          push(`PUSHA ${osz}`, [...p66, 0x60], 8);
          break;
        case 7:
          pop(`POPA ${osz}`, [...p66, 0x61], 8);
          break;
        case 8:
          push(`PUSHF ${osz}`, [...p66, 0x9c], 1, { ...NONE, read: ARITH });
          break;
        case 9: {
          // POPF from a value pushed by setup. TF stays clear (the host would trap after the
          // next instruction, outside this case's control); AC is set sometimes: both sides have
          // CR0.AM, so later unaligned accesses raise #AC(0). IF and IOPL are random: CPL 3
          // must leave them alone.
          const v = (rng.u32() & (ARITH | DF | 0x200 | 0x3000 | NT | ID)) | 2 | (rng.chance(0.25) ? AC : 0);
          const esp = b.esp;
          b.stackFits(esp - 4, esp - 4, esp);
          b.pushImm32(v);
          b.esp = esp - 4;
          b.target([...p66, 0x9d], `POPF ${osz}`, { read: 0, written: ARITH, undef: 0 });
          b.esp = esp - 4 + n;
          b.df = v & DF;
          b.ac = (v & AC) !== 0;
          b.nt = (v & NT) !== 0;
          break;
        }
        case 10: {
          // With AC set the host (AMD) raises #AC when ENTER's new ESP is misaligned, although
          // the SDM's ENTER makes no access there: not generated (EXCLUDED, see the report).
          if (b.ac) throw new Reject();
          const level = rng.pick([0, 1, 2, 3, rng.int(256)]);
          const size = rng.chance(0.8) ? rng.int(0x40) : rng.int(0x400);
          const L = level & 31;
          const frame = (b.s + rng.range(0x1200, 0x1e00)) & ~3;
          b.movImm(5, frame);
          const esp = b.esp - n * (1 + L) - size;
          b.stackFits(esp, esp, b.esp);
          b.target(
            [...p66, 0xc8, size & 0xff, size >> 8, level],
            `ENTER ${osz} level${L === 0 ? "0" : L === 1 ? "1" : "N"}`,
            NONE,
          );
          b.esp = esp;
          break;
        }
        default: {
          const ebp = (b.s + rng.range(0x1100, 0x1f00)) & ~1;
          b.stackFits(ebp + n, ebp, ebp + n);
          b.movImm(5, ebp);
          b.target([...p66, 0xc9], `LEAVE ${osz}`, NONE);
          b.esp = ebp + n;
        }
      }
    },
  };
}

function branchGroup(): FormGroup {
  return {
    name: "branch",
    weight: 4,
    gen: (b) => {
      const rng = b.rng;
      const k = rng.int(9);
      const cc = rng.int(16);
      const here = () => b.bytes.length;
      // Near branches use the code segment's operand size, or 32 bits through 66h in the 16-bit
      // segment (a 16-bit branch in the 32-bit segment would truncate EIP below the code page:
      // EXCLUDED).
      const osz: 16 | 32 = b.mode === 16 && rng.chance(0.3) ? 32 : b.mode;
      const p = b.o(osz);
      const tag = osz !== b.mode ? " o32" : "";
      const rel = (v: number) => (osz === 16 ? le16(v) : le32(v));
      const n = osz / 8;
      const fillerLength = FILLER.length + (b.mode === 16 ? 2 : 0);
      switch (k) {
        case 0:
          b.target([0x70 + cc, fillerLength], "Jcc rel8", { ...NONE, read: CC_READS[cc] });
          break;
        case 1:
          b.target([...p, 0x0f, 0x80 + cc, ...rel(fillerLength)], `Jcc relz${tag}`, {
            ...NONE,
            read: CC_READS[cc],
          });
          break;
        case 2:
          b.target(
            rng.chance(0.5) ? [0xeb, fillerLength] : [...p, 0xe9, ...rel(fillerLength)],
            `JMP rel${tag}`,
            NONE,
          );
          break;
        case 3: {
          const a16 = rng.chance(b.mode === 16 ? 0.7 : 0.3);
          const op = rng.int(4);
          const names = ["LOOPNE", "LOOPE", "LOOP", a16 ? "JCXZ" : "JECXZ"];
          b.target([...b.a(a16 ? 16 : 32), 0xe0 + op, fillerLength], `${names[op]} ${a16 ? "a16" : "a32"}`, {
            ...NONE,
            read: op < 2 ? ZF : 0,
          });
          break;
        }
        case 4: {
          b.stackFits(b.esp - n, b.esp - n, b.esp);
          b.target([...p, 0xe8, ...rel(fillerLength)], `CALL relz${tag}`, NONE);
          b.esp -= n;
          break;
        }
        case 5:
        case 6: {
          // CALL/JMP r/m to just past the filler.
          const call = k === 5;
          if (call) b.stackFits(b.esp - n, b.esp - n, b.esp);
          if (rng.chance(0.5)) {
            const r = b.reg(32, true);
            b.movImm(r, 0);
            const target = b.csBase + here() + p.length + 2 + fillerLength;
            b.bytes.splice(b.bytes.length - 4, 4, ...le32(target));
            b.target([...p, 0xff, (call ? 0xd0 : 0xe0) | r], `${call ? "CALL" : "JMP"} rm reg${tag}`, NONE);
          } else {
            const mem = b.mem(4);
            b.store32(mem.target, 0);
            const storeAt = b.bytes.length - 4;
            const bytes = [...p, ...b.a(mem), 0xff, mem.modrm | ((call ? 2 : 4) << 3), ...mem.tail];
            const target = b.csBase + here() + bytes.length + fillerLength;
            b.bytes.splice(storeAt, 4, ...le32(target));
            b.target(bytes, `${call ? "CALL" : "JMP"} rm ${mem.kind}${tag}`, NONE);
          }
          if (call) b.esp -= n;
          break;
        }
        default: {
          // RET / RET imm16 to a return address pushed by setup.
          const extra = rng.chance(0.5) ? rng.int(16) * 2 : -1;
          const len = extra < 0 ? 1 : 3;
          const esp = b.esp;
          const after = esp + Math.max(extra, 0);
          b.stackFits(after, esp - n, after);
          const push = p.length + 1 + n;
          const target = b.csBase + here() + push + p.length + len + fillerLength;
          b.setup([...p, 0x68, ...rel(target)]);
          b.esp = esp - n;
          b.target(
            [...p, ...(extra < 0 ? [0xc3] : [0xc2, extra & 0xff, extra >> 8])],
            `${extra < 0 ? "RET" : "RET imm16"}${tag}`,
            NONE,
          );
          b.esp = after;
        }
      }
      const filler = [...b.o(32), ...b.a(32), ...FILLER];
      b.insns.push({ offset: b.bytes.length, length: filler.length, form: null, undefBefore: b.undef });
      b.bytes.push(...filler);
    },
  };
}

/**
 * Far JMP/CALL/RET and IRET within the same code segment and privilege level (CPL 3), with the
 * host's selector for it (the flat CS, or the 16-bit LDT segment): descriptor loads, RPL
 * handling, the far stack frame and IRET's CPL-3 EFLAGS rules. A target selector is sometimes
 * invalid (null, a data segment, RPL below CPL for a return) for the #GP paths.
 */
function farGroup(): FormGroup {
  return {
    name: "far transfers",
    weight: 3,
    gen: (b) => {
      const rng = b.rng;
      const n = b.mode / 8;
      const cs = b.mode === 16 ? 0x07 : b.layout.sel.cs;
      const fillerLength = FILLER.length + (b.mode === 16 ? 2 : 0);
      const off = (v: number) => (b.mode === 16 ? le16(v) : le32(v));
      const k = rng.int(5);
      const bad = rng.chance(0.1);
      const selector = (ret: boolean): number => {
        if (!bad) return ret ? cs | 3 : (cs & ~3) | rng.int(4);
        b.last = true;
        return rng.pick([0, 3, b.layout.sel.ds, (cs & ~3) | (ret ? rng.int(3) : 3)]);
      };
      const here = () => b.bytes.length;
      if (k === 0 || k === 1) {
        // JMP/CALL ptr16:16|32 (EA/9A) to just past the filler.
        const call = k === 1;
        if (call) {
          b.stackFits(b.esp - 2 * n, b.esp - 2 * n, b.esp);
          // The CS slot's upper half of a 32-bit far CALL is not specified: make it zero first.
          if (n === 4) b.setup([...b.a(32), 0xc7, 0x44, 0x24, 0xfc, 0, 0, 0, 0]);
        }
        const len = 1 + n + 2;
        const target = b.csBase + here() + len + fillerLength;
        b.target(
          [call ? 0x9a : 0xea, ...off(target), ...le16(selector(false))],
          `${call ? "CALL" : "JMP"} far ptr`,
          NONE,
        );
        if (call) b.esp -= 2 * n;
      } else if (k === 2) {
        // JMP/CALL m16:16|32 (FF /5, FF /3).
        const call = rng.chance(0.5);
        if (call) {
          b.stackFits(b.esp - 2 * n, b.esp - 2 * n, b.esp);
          if (n === 4) b.setup([...b.a(32), 0xc7, 0x44, 0x24, 0xfc, 0, 0, 0, 0]);
        }
        const mem = b.mem(n + 2);
        const sel = selector(false);
        b.store32(mem.target, 0);
        const offsetAt = b.bytes.length - 4;
        if (n === 4) b.store32(mem.target + 4, (rng.u32() & 0xffff0000) | sel);
        const bytes = [...b.a(mem), 0xff, mem.modrm | ((call ? 3 : 5) << 3), ...mem.tail];
        const target = b.csBase + here() + bytes.length + fillerLength;
        b.bytes.splice(offsetAt, 4, ...le32(n === 4 ? target : (sel << 16) | target));
        b.target(bytes, `${call ? "CALL" : "JMP"} far ${mem.kind}`, NONE);
        if (call) b.esp -= 2 * n;
      } else if (k === 3) {
        // RETF / RETF imm16 to a frame pushed by setup. While AC may be set, imm16 stays a
        // multiple of 4: the host (AMD) reads the outer SS:ESP at ESP+8+imm before rejecting a
        // selector with RPL < CPL, raising #AC where the SDM's RET raises #GP(selector).
        let extra = rng.chance(0.4) ? rng.int(8) * 2 : -1;
        if (b.ac && extra > 0) extra &= ~3;
        const esp = b.esp;
        const after = esp + Math.max(extra, 0);
        b.stackFits(after, esp - 2 * n, after);
        const sel = selector(true);
        const push = [0x68, ...off((rng.u32() & 0xffff0000) | sel)];
        const len = extra < 0 ? 1 : 3;
        const target = b.csBase + here() + 2 * push.length + len + fillerLength;
        b.setup(push);
        b.setup([0x68, ...off(target)]);
        b.esp = esp - 2 * n;
        b.target(
          extra < 0 ? [0xcb] : [0xca, extra & 0xff, extra >> 8],
          extra < 0 ? "RETF" : "RETF imm16",
          NONE,
        );
        b.esp = after;
      } else {
        // IRET at CPL 3: IOPL and IF stay, VM is ignored outside CPL 0, the rest loads; TF
        // would trap (EXCLUDED) and NT set before IRET would mean a task return (never made).
        if (b.nt) throw new Reject();
        const esp = b.esp;
        b.stackFits(esp, esp - 3 * n, esp);
        const flags =
          (rng.u32() & (ARITH | DF | 0x200 | 0x3000 | NT | ID | 0x20000)) | 2 | (rng.chance(0.2) ? AC : 0);
        const sel = selector(true);
        const push = 1 + n;
        const target = b.csBase + here() + 3 * push + 1 + fillerLength;
        b.setup([0x68, ...off(flags)]);
        b.setup([0x68, ...off((rng.u32() & 0xffff0000) | sel)]);
        b.setup([0x68, ...off(target)]);
        b.esp = esp - 3 * n;
        b.target([0xcf], `IRET`, { read: 0, written: ARITH, undef: 0 });
        b.esp = esp;
        b.df = flags & DF;
        if (n === 4) b.ac = (flags & AC) !== 0;
        b.nt = (flags & NT) !== 0;
      }
      const filler = [...b.o(32), ...b.a(32), ...FILLER];
      b.insns.push({ offset: b.bytes.length, length: filler.length, form: null, undefBefore: b.undef });
      b.bytes.push(...filler);
    },
  };
}

function faultGroup(): FormGroup {
  return {
    name: "faults",
    weight: 2,
    gen: (b) => {
      const rng = b.rng;
      b.last = true;
      const k = rng.int(6);
      if (k === 0) b.target([0x0f, 0x0b], "UD2", NONE);
      else if (k === 1) b.target([0xcc], "INT3", NONE);
      else if (k === 2) b.target([0xce], "INTO", { ...NONE, read: OF });
      else if (k === 3) {
        let v = rng.pick([3, 4, rng.int(256)]);
        if (v === 0x80) v = 0x81; // the host's system call gate (EXCLUDED)
        b.target([0xcd, v], `INT imm8 ${v === 3 ? "3" : v === 4 ? "4" : "n"}`, NONE);
      } else {
        const code = rng.pick(gpCodes());
        b.target(code, `privileged ${code.map((x) => x.toString(16).padStart(2, "0")).join(" ")}`, NONE);
      }
    },
  };
}

function bcdGroup(): FormGroup {
  return {
    name: "BCD",
    weight: 2,
    gen: (b) => {
      const rng = b.rng;
      const k = rng.int(6);
      const eff = (name: string, read: number): FlagEffect => {
        const undef = UNDEFINED_FLAGS[name].mask;
        return { read, written: ARITH & ~undef, undef };
      };
      if (k === 0) b.target([0x27], "DAA", eff("DAA", CF | AF));
      else if (k === 1) b.target([0x2f], "DAS", eff("DAS", CF | AF));
      else if (k === 2) b.target([0x37], "AAA", eff("AAA", AF));
      else if (k === 3) b.target([0x3f], "AAS", eff("AAS", AF));
      else if (k === 4) {
        const base = rng.pick([10, 10, 0, 16, rng.int(256)]);
        if (base === 0) b.last = true;
        b.target([0xd4, base], base === 10 ? "AAM" : "AAM imm8", eff("AAM", 0));
      } else {
        const base = rng.pick([10, 10, rng.int(256)]);
        b.target([0xd5, base], base === 10 ? "AAD" : "AAD imm8", eff("AAD", 0));
      }
    },
  };
}

function simpleGroup(): FormGroup {
  const list: [number[], string, FlagEffect][] = [
    [[-32, 0x98], "CWDE 32", NONE],
    [[-16, 0x98], "CBW 16", NONE],
    [[-32, 0x99], "CDQ 32", NONE],
    [[-16, 0x99], "CWD 16", NONE],
    [[0xf8], "CLC", { read: 0, written: CF, undef: 0 }],
    [[0xf9], "STC", { read: 0, written: CF, undef: 0 }],
    [[0xf5], "CMC", { read: CF, written: CF, undef: 0 }],
    [[0x9f], "LAHF", { read: SF | ZF | AF | PF | CF, written: 0, undef: 0 }],
    [[0x9e], "SAHF", { read: 0, written: SF | ZF | AF | PF | CF, undef: 0 }],
    [[0x90], "NOP", NONE],
    [[0x9b], "WAIT", NONE], // no x87 state, CR0.TS/MP clear on both sides: a no-op
  ];
  return {
    name: "simple",
    weight: 3,
    gen: (b) => {
      const rng = b.rng;
      const k = rng.int(list.length + 2);
      if (k === list.length) {
        b.df = 0;
        b.target([0xfc], "CLD", NONE);
      } else if (k === list.length + 1) {
        b.df = DF;
        b.target([0xfd], "STD", NONE);
      } else {
        // A leading -16/-32 stands for the operand size (its prefix depends on the code segment).
        const [bytes, name, fl] = list[k];
        const [first, ...rest] = bytes;
        b.target(first < 0 ? [...b.o(-first as Size), ...rest] : bytes, name, fl);
      }
    },
  };
}

function incDecRegGroup(): FormGroup {
  return {
    name: "INC/DEC r",
    weight: 2,
    gen: (b) => {
      const rng = b.rng;
      const osz = vsize(rng);
      const dec = rng.chance(0.5);
      const r = b.reg(osz, true);
      b.target([...b.o(osz), (dec ? 0x48 : 0x40) + r], `${dec ? "DEC" : "INC"} r ${osz}`, {
        read: 0,
        written: ARITH & ~CF,
        undef: 0,
      });
    },
  };
}

function movGroup(): FormGroup {
  return {
    name: "MOV",
    weight: 5,
    gen: (b) => {
      const rng = b.rng;
      const size = sizes(rng);
      const w = size === 8 ? 0 : 1;
      const k = rng.int(6);
      if (k === 0)
        emitModrm(b, {
          name: "MOV Eb/v,G",
          opcode: [0x88 + w],
          osz: size,
          digit: "reg",
          rmWrite: true,
          flags: NONE,
        });
      else if (k === 1)
        emitModrm(b, {
          name: "MOV G,Eb/v",
          opcode: [0x8a + w],
          osz: size,
          digit: "reg",
          regWrite: true,
          rmWrite: false,
          flags: NONE,
        });
      else if (k === 2)
        emitModrm(b, {
          name: "MOV E,imm",
          opcode: [0xc6 + w],
          osz: size,
          digit: 0,
          rmWrite: true,
          imm: () => imm(size, rng),
          flags: NONE,
        });
      else if (k === 3) {
        const r = b.reg(size, true);
        b.target(
          [...b.o(size), (size === 8 ? 0xb0 : 0xb8) + r, ...imm(size, rng)],
          `MOV r,imm ${size}`,
          NONE,
        );
      } else {
        // MOV AL/eAX <-> moffs: the offset is the absolute address (32-bit addressing).
        const store = k === 5;
        const t = b.s + rng.range(0x40, 0xf00);
        const a16 = b.layout.addr16 && b.mode === 16 && rng.chance(0.7);
        b.target(
          [...b.o(size), ...b.a(a16 ? 16 : 32), (store ? 0xa2 : 0xa0) + w, ...(a16 ? le16(t) : le32(t))],
          `MOV ${store ? "moffs,A" : "A,moffs"} ${size} ${a16 ? "a16" : "a32"}`,
          NONE,
        );
      }
    },
  };
}

const SREG_NAMES = ["ES", "CS", "SS", "DS", "FS", "GS"];

/**
 * A selector to load: the host's flat DS or CS with any RPL, or a null selector. Other values
 * would index descriptor tables that differ between the host and our GDT.
 */
function selectorValue(b: CaseBuilder): number {
  const { cs, ds } = b.layout.sel;
  const rpl = b.rng.chance(0.6) ? 3 : b.rng.int(4);
  switch (b.rng.int(5)) {
    case 0:
      return (cs & ~3) | rpl;
    case 1:
      return b.rng.int(4);
    default:
      return (ds & ~3) | rpl;
  }
}

function segmentGroup(): FormGroup {
  return {
    name: "segment registers",
    weight: 4,
    gen: (b) => {
      const rng = b.rng;
      const osz = vsize(rng);
      const n = osz / 8;
      const p66 = b.o(osz);
      switch (rng.int(6)) {
        case 0: {
          // MOV r/m16, Sreg (reads; a 32-bit register destination is zero-extended on P6, SDM "MOV")
          const sreg = rng.int(6);
          emitModrm(b, {
            name: `MOV E,${SREG_NAMES[sreg]}`,
            opcode: [0x8c],
            osz,
            digit: sreg,
            rmWrite: true,
            flags: NONE,
          });
          break;
        }
        case 1: {
          // MOV Sreg, r/m16 into ES, SS or DS (CS is #UD); FS/GS hold the host's TLS (EXCLUDED).
          const sreg = rng.pick([0, 2, 3, 3, 1]);
          if (sreg === 1) b.last = true;
          const value = selectorValue(b);
          emitModrm(b, {
            name: `MOV ${SREG_NAMES[sreg]},E`,
            opcode: [0x8e],
            osz: 16,
            digit: sreg,
            rmWrite: false,
            flags: NONE,
            before: (bb, op) => {
              if (op.mem) bb.store32(op.mem.target, (rng.u32() & 0xffff0000) | value);
              else if (op.rm === 4) throw new Reject();
              else bb.movImm(op.rm, (rng.u32() & 0xffff0000) | value);
            },
          });
          break;
        }
        case 2: {
          // PUSH Sreg: with a 32-bit operand the upper half of the slot is implementation-specific
          // (zero-extended or left alone, SDM "PUSH"), so setup zeroes the slot first.
          const sreg = rng.int(6);
          const esp = b.esp - n;
          b.stackFits(esp, esp, b.esp);
          if (osz === 32) b.setup([...b.o(32), ...b.a(32), 0xc7, 0x44, 0x24, 0xfc, 0, 0, 0, 0]);
          const opcode = sreg < 4 ? [0x06 + sreg * 8] : [0x0f, sreg === 4 ? 0xa0 : 0xa8];
          b.target([...p66, ...opcode], `PUSH ${SREG_NAMES[sreg]} ${osz}`, NONE);
          b.esp = esp;
          break;
        }
        case 3: {
          // POP ES/SS/DS of a value pushed by setup.
          const sreg = rng.pick([0, 2, 3]);
          const esp = b.esp;
          b.stackFits(esp - 4, esp - 4, esp);
          b.pushImm32((rng.u32() & 0xffff0000) | selectorValue(b));
          b.esp = esp - 4;
          b.target([...p66, 0x07 + sreg * 8], `POP ${SREG_NAMES[sreg]} ${osz}`, NONE);
          b.esp = esp - 4 + n;
          break;
        }
        default: {
          // LDS/LES/LSS r, m16:16|m16:32. LSS may load ESP itself, with an offset in the stack.
          const which = rng.pick(["LDS", "LES", "LSS"] as const);
          const lssEsp = which === "LSS" && osz === 32 && rng.chance(0.3);
          const r = lssEsp ? 4 : b.reg(osz, true);
          const mem = b.mem(osz === 16 ? 4 : 8);
          const value = selectorValue(b);
          let offset = rng.u32();
          if (lssEsp) {
            offset = (b.s + rng.range(0x1400, 0x1e00)) & ~3;
            b.stackFits(offset, offset, offset);
          }
          if (osz === 16) b.store32(mem.target, (value << 16) | (offset & 0xffff));
          else {
            b.store32(mem.target, offset);
            b.store32(mem.target + 4, (rng.u32() & 0xffff0000) | value);
          }
          const opcode = which === "LDS" ? [0xc5] : which === "LES" ? [0xc4] : [0x0f, 0xb2];
          b.target(
            [...p66, ...b.a(mem), ...opcode, mem.modrm | (r << 3), ...mem.tail],
            `${which} ${osz} ${mem.kind}${lssEsp ? " esp" : ""}`,
            NONE,
          );
          // If LSS faults the case ends there, so ESP is known either way.
          if (lssEsp) b.esp = offset;
        }
      }
    },
  };
}

/**
 * ARPL, and LAR/LSL/VERR/VERW of selectors whose descriptors are the same on both sides (the
 * host's flat CS and DS, the 16-bit LDT code segment, null, any RPL).
 */
function selectorInstructionGroup(): FormGroup {
  return {
    name: "selector instructions",
    weight: 2,
    gen: (b) => {
      const rng = b.rng;
      const k = rng.int(5);
      const value = () => {
        const rpl = rng.int(4);
        return rng.pick([(b.layout.sel.cs & ~3) | rpl, (b.layout.sel.ds & ~3) | rpl, 0x04 | rpl, rpl]);
      };
      if (k === 0) {
        // ARPL r/m16, r16: raises the destination's RPL to the source's; ZF says whether it did.
        emitModrm(b, {
          name: "ARPL",
          opcode: [0x63],
          osz: 16,
          digit: "reg",
          rmWrite: true,
          flags: { read: 0, written: ZF, undef: 0 },
        });
        return;
      }
      const verify = k <= 2;
      const osz = verify ? 16 : vsize(rng);
      const sel = value();
      emitModrm(b, {
        name: verify ? (k === 1 ? "VERR" : "VERW") : k === 3 ? "LAR" : "LSL",
        opcode: verify ? [0x0f, 0x00] : [0x0f, k === 3 ? 0x02 : 0x03],
        osz,
        rmSize: 16,
        digit: verify ? (k === 1 ? 4 : 5) : "reg",
        regWrite: !verify,
        rmWrite: false,
        flags: { read: 0, written: ZF, undef: 0 },
        noLock: k === 2,
        before: (bb, op) => {
          if (op.mem) bb.store32(op.mem.target, (rng.u32() & 0xffff0000) | sel);
          else if (op.rm === 4) throw new Reject();
          else bb.movImm(op.rm, (rng.u32() & 0xffff0000) | sel);
        },
        after: (bb, op) => {
          // LAR r32: bits 19:16 of the result are undefined (SDM "LAR": AND 00FxFF00H), so the
          // instruction ends the case and those bits are masked when it succeeded (ZF=1).
          if (k === 3 && osz === 32) {
            bb.last = true;
            bb.zeroSourceDest = { reg: op.reg, mask: 0x000f0000 };
          }
        },
      });
    },
  };
}

function groups(): FormGroup[] {
  const g: FormGroup[] = [];
  g.push({
    name: "ALU",
    weight: 14,
    gen: (b) => {
      const rng = b.rng;
      const op = rng.int(8);
      const size = sizes(rng);
      const w = size === 8 ? 0 : 1;
      const flags = aluFlags(op);
      const name = ALU_NAMES[op];
      const write = op !== 7;
      const k = rng.int(6);
      if (k === 0)
        emitModrm(b, {
          name: `${name} E,G`,
          opcode: [op * 8 + w],
          osz: size,
          digit: "reg",
          rmWrite: write,
          flags,
          lockable: write,
        });
      else if (k === 1)
        emitModrm(b, {
          name: `${name} G,E`,
          opcode: [op * 8 + 2 + w],
          osz: size,
          digit: "reg",
          regWrite: write,
          rmWrite: false,
          flags,
        });
      else if (k === 2) {
        b.target([...b.o(size), op * 8 + 4 + w, ...imm(size, rng)], `${name} A,imm ${size}`, flags);
      } else {
        // 80 /op ib, 81 /op iz, 83 /op ib (sign-extended), 82 /op ib (the 80 alias, valid outside 64-bit mode)
        const variants = size === 8 ? [0x80, 0x82] : [0x81, 0x83];
        const opc = rng.pick(variants);
        const immSize: Size = opc === 0x81 ? size : 8;
        emitModrm(b, {
          name: `${name} E,${opc === 0x83 ? "simm8" : opc === 0x82 ? "imm(82)" : "imm"}`,
          opcode: [opc],
          osz: size,
          digit: op,
          rmWrite: write,
          imm: () => imm(immSize, rng),
          flags,
          lockable: write,
        });
      }
    },
  });
  g.push(
    modrmGroup("INC/DEC rm", 3, (rng) => {
      const size = sizes(rng);
      const dec = rng.chance(0.5);
      return {
        name: dec ? "DEC" : "INC",
        opcode: [size === 8 ? 0xfe : 0xff],
        osz: size,
        digit: dec ? 1 : 0,
        rmWrite: true,
        flags: { read: 0, written: ARITH & ~CF, undef: 0 },
        lockable: true,
      };
    }),
  );
  g.push(incDecRegGroup());
  g.push(
    modrmGroup("NOT/NEG", 2, (rng) => {
      const size = sizes(rng);
      const neg = rng.chance(0.5);
      return {
        name: neg ? "NEG" : "NOT",
        opcode: [size === 8 ? 0xf6 : 0xf7],
        osz: size,
        digit: neg ? 3 : 2,
        rmWrite: true,
        flags: neg ? ALL_DEFINED : NONE,
        lockable: true,
      };
    }),
  );
  g.push(
    modrmGroup("TEST", 2, (rng) => {
      const size = sizes(rng);
      const withImm = rng.chance(0.4);
      const undef = UNDEFINED_FLAGS.TEST.mask;
      return {
        name: withImm ? "TEST E,imm" : "TEST E,G",
        opcode: withImm ? [size === 8 ? 0xf6 : 0xf7] : [size === 8 ? 0x84 : 0x85],
        osz: size,
        digit: withImm ? 0 : "reg",
        rmWrite: false,
        imm: withImm ? () => imm(size, rng) : undefined,
        flags: { read: 0, written: ARITH & ~undef, undef },
      };
    }),
  );
  g.push({
    name: "TEST A,imm",
    weight: 1,
    gen: (b) => {
      const size = sizes(b.rng);
      b.target([...b.o(size), size === 8 ? 0xa8 : 0xa9, ...imm(size, b.rng)], `TEST A,imm ${size}`, {
        read: 0,
        written: ARITH & ~AF,
        undef: AF,
      });
    },
  });
  g.push(
    modrmGroup("MUL/IMUL", 3, (rng) => {
      const size = sizes(rng);
      const signed = rng.chance(0.5);
      const name = signed ? "IMUL" : "MUL";
      const undef = UNDEFINED_FLAGS[name].mask;
      return {
        name: `${name} 1op`,
        opcode: [size === 8 ? 0xf6 : 0xf7],
        osz: size,
        digit: signed ? 5 : 4,
        rmWrite: false,
        flags: { read: 0, written: ARITH & ~undef, undef },
      };
    }),
  );
  g.push(
    modrmGroup("IMUL 2/3op", 3, (rng) => {
      const size = vsize(rng);
      const k = rng.int(3);
      const undef = UNDEFINED_FLAGS.IMUL.mask;
      return {
        name: k === 0 ? "IMUL G,E" : k === 1 ? "IMUL G,E,imm" : "IMUL G,E,simm8",
        opcode: k === 0 ? [0x0f, 0xaf] : k === 1 ? [0x69] : [0x6b],
        osz: size,
        digit: "reg",
        regWrite: true,
        rmWrite: false,
        imm: k === 0 ? undefined : () => imm(k === 1 ? size : 8, rng),
        flags: { read: 0, written: ARITH & ~undef, undef },
      };
    }),
  );
  g.push(divGroup());
  g.push(shiftGroup());
  g.push(doubleShiftGroup());
  g.push(movGroup());
  g.push(
    modrmGroup("MOVZX/MOVSX", 3, (rng) => {
      const osz = vsize(rng);
      const from: Size = rng.chance(0.5) ? 8 : 16;
      const sx = rng.chance(0.5);
      return {
        name: sx ? "MOVSX" : "MOVZX",
        opcode: [0x0f, (sx ? 0xbe : 0xb6) + (from === 16 ? 1 : 0)],
        osz,
        rmSize: from,
        digit: "reg",
        regWrite: true,
        rmWrite: false,
        flags: NONE,
      };
    }),
  );
  g.push({
    name: "LEA",
    weight: 3,
    gen: (b) => {
      // LEA computes without touching memory, so its address registers can stay random.
      const rng = b.rng;
      const osz = vsize(rng);
      const r = b.reg(osz, true);
      const a16 = rng.chance(0.3);
      const mod = rng.int(3);
      const rm = rng.int(8);
      const tail: number[] = [];
      if (a16) {
        if (mod === 1) tail.push(rng.int(256));
        else if (mod === 2 || (mod === 0 && rm === 6)) tail.push(...le16(rng.int(0x10000)));
      } else {
        if (rm === 4) tail.push(rng.int(256));
        if (mod === 1) tail.push(rng.int(256));
        else if (mod === 2 || (mod === 0 && rm === 5) || (mod === 0 && rm === 4 && (tail[0] & 7) === 5))
          tail.push(...le32(rng.u32()));
      }
      const bytes = [...b.o(osz), ...b.a(a16 ? 16 : 32), 0x8d, (mod << 6) | (r << 3) | rm, ...tail];
      b.target(bytes, `LEA ${osz} ${a16 ? "m16" : "m32"}`, NONE);
    },
  });
  g.push(
    modrmGroup("XCHG", 2, (rng) => {
      const size = sizes(rng);
      return {
        name: "XCHG E,G",
        opcode: [size === 8 ? 0x86 : 0x87],
        osz: size,
        digit: "reg",
        regWrite: true,
        rmWrite: true,
        flags: NONE,
        lockable: true,
      };
    }),
  );
  g.push({
    name: "XCHG eAX,r",
    weight: 1,
    gen: (b) => {
      const osz = vsize(b.rng);
      const r = b.reg(osz, true);
      if (r === 0) throw new Reject(); // 90 is NOP, covered by "simple"
      b.target([...b.o(osz), 0x90 + r], `XCHG A,r ${osz}`, NONE);
    },
  });
  g.push(
    modrmGroup("XADD", 2, (rng) => {
      const size = sizes(rng);
      return {
        name: "XADD",
        opcode: [0x0f, size === 8 ? 0xc0 : 0xc1],
        osz: size,
        digit: "reg",
        regWrite: true,
        rmWrite: true,
        flags: ALL_DEFINED,
        lockable: true,
      };
    }),
  );
  g.push(
    modrmGroup("CMPXCHG", 2, (rng) => {
      const size = sizes(rng);
      const equal = rng.chance(0.5);
      return {
        name: "CMPXCHG",
        opcode: [0x0f, size === 8 ? 0xb0 : 0xb1],
        osz: size,
        digit: "reg",
        rmWrite: true,
        regWrite: false,
        flags: ALL_DEFINED,
        lockable: true,
        avoid: [0],
        before: equal
          ? (b, op) => {
              if (op.mem) b.load32(0, op.mem.target);
              else if (size === 8) b.setup([0x88, 0xc0 | (op.rm << 3)]);
              else b.setup([...b.o(32), 0x89, 0xc0 | (op.rm << 3)]);
            }
          : undefined,
      };
    }),
  );
  g.push({
    name: "CMPXCHG8B",
    weight: 1,
    gen: (b) => {
      const rng = b.rng;
      if (rng.chance(0.05)) {
        b.last = true;
        b.target([0x0f, 0xc7, 0xc8 | rng.int(8)], "CMPXCHG8B reg (#UD)", NONE);
        return;
      }
      const mem = b.mem(8, { avoid: [0, 2] });
      if (rng.chance(0.5)) {
        b.load32(0, mem.target);
        b.load32(2, mem.target + 4);
      }
      const lock = rng.chance(0.2) ? [0xf0] : [];
      b.target(
        [...lock, ...b.a(mem), 0x0f, 0xc7, mem.modrm | 0x08, ...mem.tail],
        `CMPXCHG8B ${mem.kind}${lock.length ? " lock" : ""}`,
        {
          read: 0,
          written: ZF,
          undef: 0,
        },
      );
    },
  });
  g.push({
    name: "BSWAP",
    weight: 1,
    gen: (b) => {
      const r = b.reg(32, true);
      b.target([0x0f, 0xc8 + r], "BSWAP 32", NONE);
    },
  });
  g.push({
    name: "BT*",
    weight: 4,
    gen: (b) => {
      const rng = b.rng;
      const osz = vsize(rng);
      const op = rng.int(4); // BT BTS BTR BTC
      const names = ["BT", "BTS", "BTR", "BTC"] as const;
      const name = names[op];
      const undef = UNDEFINED_FLAGS[name].mask;
      const flags: FlagEffect = { read: 0, written: CF, undef };
      if (rng.chance(0.4)) {
        emitModrm(b, {
          name: `${name} E,imm`,
          opcode: [0x0f, 0xba],
          osz,
          digit: 4 + op,
          rmWrite: op !== 0,
          imm: () => [rng.int(256)],
          flags,
          lockable: op !== 0,
        });
        return;
      }
      // Register bit offset: into memory it addresses beyond the operand, so keep it small.
      emitModrm(b, {
        name: `${name} E,G`,
        opcode: [0x0f, [0xa3, 0xab, 0xb3, 0xbb][op]],
        osz,
        digit: "reg",
        rmWrite: op !== 0,
        flags,
        lockable: op !== 0,
        regSetup: true,
        before: (bb, o) => {
          if (!o.mem) return;
          if (o.reg === 4) throw new Reject();
          if (o.mem.kind === "m16" || o.mem.target < bb.s + 0x200 || o.mem.target > bb.s + 0xa00)
            throw new Reject();
          const bit = rng.range(-0x400, 0x1400);
          bb.movImm(o.reg, osz === 16 ? ((rng.u32() & 0xffff0000) | (bit & 0xffff)) >>> 0 : bit);
        },
      });
    },
  });
  g.push(
    modrmGroup("BSF/BSR", 2, (rng) => {
      const osz = vsize(rng);
      const rev = rng.chance(0.5);
      const name = rev ? "BSR" : "BSF";
      const undef = UNDEFINED_FLAGS[name].mask;
      return {
        name,
        opcode: [0x0f, rev ? 0xbd : 0xbc],
        osz,
        digit: "reg",
        regWrite: true,
        rmWrite: false,
        flags: { read: 0, written: ZF, undef },
        before: (b, op) => {
          // Sometimes a zero source: then ZF=1 and the destination is undefined (SDM "BSF"),
          // so such an instruction ends the case and its destination is masked when ZF=1.
          if (rng.chance(0.15)) {
            if (op.mem) b.store32(op.mem.target, 0);
            else if (op.rm !== 4) b.movImm(op.rm, 0);
          }
        },
        after: (b, op) => {
          b.last = true;
          b.zeroSourceDest = { reg: op.reg, mask: osz === 16 ? 0xffff : 0xffffffff };
        },
      };
    }),
  );
  g.push(
    modrmGroup("SETcc", 2, (rng) => {
      const cc = rng.int(16);
      return {
        name: `SET${cc.toString(16)}`,
        opcode: [0x0f, 0x90 + cc],
        osz: 8,
        digit: 0,
        rmWrite: true,
        flags: { ...NONE, read: CC_READS[cc] },
      };
    }),
  );
  g.push(
    modrmGroup("CMOVcc", 2, (rng) => {
      const cc = rng.int(16);
      return {
        name: `CMOV${cc.toString(16)}`,
        opcode: [0x0f, 0x40 + cc],
        osz: vsize(rng),
        digit: "reg",
        regWrite: true,
        rmWrite: false,
        flags: { ...NONE, read: CC_READS[cc] },
      };
    }),
  );
  g.push(
    modrmGroup("NOP Ev", 1, (rng) => ({
      name: "NOP E",
      opcode: [0x0f, 0x1f],
      osz: vsize(rng),
      digit: 0,
      rmWrite: false,
      flags: NONE,
    })),
  );
  g.push({
    name: "XLAT",
    weight: 1,
    gen: (b) => {
      const rng = b.rng;
      b.movImm(3, b.s + rng.range(0x100, 0xe00));
      const seg = rng.chance(0.2) ? [rng.pick(b.segOverrides())] : [];
      b.target([...seg, 0xd7], "XLAT", NONE);
    },
  });
  g.push({
    name: "BOUND",
    weight: 1,
    gen: (b) => {
      const rng = b.rng;
      const osz = vsize(rng);
      const r = b.reg(osz, false);
      const mem = b.mem(osz === 16 ? 4 : 8, { avoid: [r] });
      const lo = rng.interesting(osz);
      const hi = rng.chance(0.7) ? lo + rng.int(1000) : rng.interesting(osz);
      if (osz === 16) b.store32(mem.target, ((hi & 0xffff) << 16) | (lo & 0xffff));
      else {
        b.store32(mem.target, lo);
        b.store32(mem.target + 4, hi);
      }
      const idx = rng.chance(0.6) ? lo + rng.int(1000) : rng.interesting(osz);
      if (r !== 4) b.movImm(r, osz === 16 ? ((rng.u32() & 0xffff0000) | (idx & 0xffff)) >>> 0 : idx);
      b.last = true;
      b.target(
        [...b.o(osz), ...b.a(mem), 0x62, mem.modrm | (r << 3), ...mem.tail],
        `BOUND ${osz} ${mem.kind}`,
        NONE,
      );
    },
  });
  g.push(
    stringGroup(),
    stackGroup(),
    branchGroup(),
    bcdGroup(),
    simpleGroup(),
    faultGroup(),
    segmentGroup(),
    farGroup(),
    selectorInstructionGroup(),
  );
  return g;
}

/** Forms the generator never produces, and why. */
export const EXCLUDED: readonly string[] = [
  "x87, MMX, SSE: outside the CPU's ISA (issue 4)",
  "segment loads of selectors other than the host's flat CS/DS (any RPL) and null: the descriptor tables differ",
  "loads of FS/GS (MOV, POP, LFS, LGS) and FS:/GS: overrides: the host keeps its TLS there (reads of FS/GS are covered)",
  "far CALL/JMP/RET and IRET to another code segment or privilege level, task switches: need the host's descriptor tables (same-segment forms are covered)",
  "POP ESP, ESP as a written register operand: would move the stack out of the scratch area",
  "16-bit near branches in the 32-bit code segment: EIP is truncated to 16 bits but the code page lies above 64 KiB (covered in the 16-bit code segment)",
  "SHLD/SHRD r/m16 with a count above 16: result and flags undefined (SDM)",
  "BSWAP r16: result undefined (SDM)",
  "shift group /6 (SAL alias), TEST F6/F7 /1, SALC (D6), F2 on MOVS/STOS/LODS: undocumented",
  "REP/REPNE on non-string instructions: F3 0F B8/BC/BD are POPCNT/TZCNT/LZCNT on the host",
  "POPF with TF set: the host would single-step trap after the next instruction",
  "LOCK VERW m16: the host (AMD) executes it, where the SDM's LOCK rules give #UD",
  "ENTER while EFLAGS.AC is set: the host (AMD) raises #AC for a misaligned new ESP, an access the SDM's ENTER does not make",
  "RETF imm16 not a multiple of 4 while EFLAGS.AC is set: for a selector with RPL < CPL the host (AMD) raises #AC (it reads the outer SS:ESP first) where the SDM raises #GP(selector)",
  "CPUID, RDTSC, RDPMC: values differ by design",
  "SGDT/SIDT/SLDT/STR/SMSW: reveal the host's tables (and UMIP emulation); LAR/LSL/VERR/VERW of selectors other than the host's flat CS/DS, the 16-bit LDT segment and null",
  "INT 80h: the host's system call gate",
  "memory operands outside the scratch area (#PF/#GP from paging): no paging in the flat setup",
  "16-bit addressing for memory operands when vm.mmap_min_addr keeps the scratch above 64 KiB",
];

export interface GeneratorOptions {
  layout: Layout;
  /** Target instructions per case, at most. */
  maxPerCase?: number;
}

export class Generator {
  private readonly forms = groups();
  private readonly total: number;
  private readonly opts: GeneratorOptions;

  constructor(opts: GeneratorOptions) {
    this.opts = opts;
    this.total = this.forms.reduce((n, f) => n + f.weight, 0);
  }

  private pickGroup(rng: Prng): FormGroup {
    let x = rng.int(this.total);
    for (const f of this.forms) {
      x -= f.weight;
      if (x < 0) return f;
    }
    return this.forms[0];
  }

  /** Case `id` of the corpus with seed `seed`: depends on nothing else, so a failure reproduces alone. */
  generate(seed: number, id: number): TestCase {
    const rng = new Prng((seed ^ Math.imul(id + 1, 0x9e3779b1)) >>> 0);
    const regs = new Uint32Array(8);
    for (let i = 0; i < 8; i++) regs[i] = rng.interesting(32);
    regs[4] = this.opts.layout.scratchBase + STACK_INIT;
    const eflags =
      0x202 |
      (rng.u32() & ARITH) |
      (rng.chance(0.3) ? DF : 0) |
      (rng.chance(0.1) ? ID : 0) |
      (rng.chance(0.05) ? NT : 0);
    const mode = rng.chance(0.25) ? 16 : 32;
    const b = new CaseBuilder(rng, this.opts.layout, eflags, mode);
    const n = rng.range(1, this.opts.maxPerCase ?? 5);
    let made = 0;
    for (let tries = 0; made < n && !b.last && tries < n * 20; tries++) {
      const snap = b.snapshot();
      try {
        this.pickGroup(rng).gen(b);
        made++;
      } catch (e) {
        if (!(e instanceof Reject)) throw e;
        b.rollback(snap);
        b.last = false;
        b.zeroSourceDest = null;
      }
    }
    return {
      id,
      mode,
      code: Uint8Array.from(b.bytes),
      regs,
      eflags,
      scratchSeed: rng.u32() | 1,
      insns: b.insns,
      undefAfter: b.undef,
      zeroSourceDest: b.zeroSourceDest,
    };
  }
}
