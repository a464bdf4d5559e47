import type {
  Cpu,
  CpuParts,
  EventInjection,
  InterruptKind,
  IrqLine,
  RegIndex,
  RunOptions,
  SegIndex,
  SegmentState,
  StopReason,
  TableRegister,
} from "@pagurus/spec";
import { Exception } from "@pagurus/spec";
import type { BlockFn } from "./blocks.js";
import { compileBlock } from "./blocks.js";
import { ABORT, CR0_PE, EFLAGS_WRITABLE, FAULT, IF, TF, VM } from "./core.js";
import { CPUID_PGE, CPUID_PSE, SystemInstructions } from "./opcodes0f.js";
import { KIND_EXCEPTION, KIND_EXTERNAL, KIND_SOFTWARE } from "./system.js";

/** Options of {@link Ia32Cpu}. */
export interface Ia32CpuOptions {
  /**
   * Non-standard: PUSHF/POPF, IRET, far RET, SGDT/SIDT/SLDT/STR/SMSW, LAR/LSL/VERR/VERW,
   * MOV from a segment register and PUSH of a segment register raise #GP(0) at CPL > 0, so
   * a trap-and-emulate monitor can run a guest kernel at CPL 3 (README). Default false.
   */
  virtualizationAssist?: boolean;
  /**
   * CPUID.1:EDX paging features to advertise (and allow in CR4). Defaults to PSE and PGE
   * when a translation unit is present, none otherwise.
   */
  pagingFeatures?: { pse?: boolean; pge?: boolean };
  /**
   * How many times the run loop interprets an instruction address before it compiles the
   * straight-line code from there into a JavaScript function (README, "Speed"). 0 turns
   * compiled blocks off. Default 16; at most 255.
   */
  blockThreshold?: number;
}

/** Slots of the compiled-block cache (direct-mapped by physical address). */
const BLOCK_SLOTS = 1 << 16;

/** The whole CPU state as plain JSON data ({@link Ia32Cpu.save}). */
export interface CpuSnapshot {
  /** EAX..EDI as unsigned numbers. */
  regs: number[];
  eip: number;
  eflags: number;
  /** ES CS SS DS FS GS LDTR TR, with their descriptor caches. */
  segments: SegmentState[];
  cr0: number;
  cr2: number;
  cr3: number;
  cr4: number;
  dr: number[];
  gdtr: TableRegister;
  idtr: TableRegister;
  cpl: number;
  halted: boolean;
  a20: boolean;
  intr: boolean;
  instructionCount: number;
  tscOffset: number;
  /** Instruction count at which interrupts are still held off (STI/MOV SS shadow), or -1. */
  shadowAt: number;
  singleStepArmed: boolean;
  shutdownReport: string | null;
  inShutdown: boolean;
}

/**
 * An IA-32 (i686) interpreter: real mode, protected mode with 16- and 32-bit segments,
 * paging through an {@link AddressTranslation}, exceptions and interrupts, hardware task
 * switching. Build it from a board's parts, load code into memory, then {@link run}.
 */
export class Ia32Cpu extends SystemInstructions implements Cpu<CpuSnapshot>, EventInjection {
  readonly intr: IrqLine;
  readonly a20: IrqLine;
  intrLevel = false;
  stopRequested = false;
  /** TF was set when the current instruction started: #DB after it (SDM 17.3.1.4). */
  singleStepArmed = false;
  /** Shutdown after a triple fault: only reset() leaves it. */
  inShutdown = false;
  /**
   * How many times an instruction boundary took the slow path ({@link checkEvents}): stop
   * requests, single-step, INTR with IF = 1, the STI/MOV SS shadow, HLT. A diagnostic: a guest
   * that runs on the fast path keeps it far below the instruction count.
   */
  eventChecks = 0;

  // ---- compiled blocks (blocks.ts): slot = first byte's physical address & (BLOCK_SLOTS - 1)
  /** Physical address of the block in each slot, -1 for none. */
  readonly blockTag = new Int32Array(BLOCK_SLOTS).fill(-1);
  /** The block's bytes are at [lo, len) from its first; len 0 marks an address whose first instruction cannot be compiled. */
  readonly blockLo = new Int32Array(BLOCK_SLOTS);
  readonly blockLen = new Int32Array(BLOCK_SLOTS);
  readonly blockN = new Int32Array(BLOCK_SLOTS);
  readonly blockFn: (BlockFn | null)[] = new Array<BlockFn | null>(BLOCK_SLOTS).fill(null);
  /** Interpretations of an address (by slot) since its slot last changed. */
  readonly blockHeat = new Uint8Array(BLOCK_SLOTS);
  blockThreshold: number;

  constructor(parts: CpuParts, options: Ia32CpuOptions = {}) {
    super(parts);
    const threshold = Math.min(255, Math.max(0, Math.floor(options.blockThreshold ?? 16)));
    this.blockThreshold = this.ram32.length === 0 ? 0 : threshold;
    this.virtualizationAssist = options.virtualizationAssist ?? false;
    const hasMmu = this.translation !== null;
    const pse = options.pagingFeatures?.pse ?? hasMmu;
    const pge = options.pagingFeatures?.pge ?? hasMmu;
    this.pagingFeatures = (pse ? CPUID_PSE : 0) | (pge ? CPUID_PGE : 0);
    this.intr = {
      set: (level: boolean): void => {
        this.intrLevel = level;
        if (level) this.eventPending = true;
      },
    };
    this.a20 = {
      set: (level: boolean): void => {
        const mask = level ? -1 : ~(1 << 20);
        if (mask !== this.a20Mask) {
          this.a20Mask = mask;
          this.flushTlbs();
        }
      },
    };
    this.reset();
  }

  get instructionCount(): number {
    return this.icount;
  }

  // =====================================================================================
  // Reset (SDM Vol. 3A, 9.1.1, table 9-1)
  // =====================================================================================

  reset(): void {
    this.regs.fill(0);
    this.regs[2] = 0x619; // EDX: family/model/stepping, as CPUID.1:EAX
    this.pc = 0xfff0;
    this.flagsv = 2;
    this.lop = /* LF_NONE */ 0;
    this.cr0 = 0x60000010;
    this.cr2 = 0;
    this.cr3 = 0;
    this.cr4 = 0;
    this.dr.fill(0);
    this.dr[6] = 0xffff0ff0 | 0;
    this.dr[7] = 0x400;
    this.gdtrBase = 0;
    this.gdtrLimit = 0xffff;
    this.idtrBase = 0;
    this.idtrLimit = 0xffff;
    for (let s = 0; s < 6; s++) {
      this.segSel[s] = 0;
      this.segBase[s] = 0;
      this.segLimit[s] = 0xffff;
      this.segAccess[s] = 0x93;
    }
    this.segSel[/* CS */ 1] = 0xf000;
    this.segBase[/* CS */ 1] = 0xffff0000 | 0;
    this.segAccess[/* CS */ 1] = 0x9b;
    this.segSel[6] = 0;
    this.segBase[6] = 0;
    this.segLimit[6] = 0xffff;
    this.segAccess[6] = 0x82;
    this.segSel[7] = 0;
    this.segBase[7] = 0;
    this.segLimit[7] = 0xffff;
    this.segAccess[7] = 0x8b;
    this.refreshAllSegments();
    this.setCpl(0);
    this.halted = false;
    this.inShutdown = false;
    this.shutdownReport = null;
    this.unimplementedReport = null;
    this.icount = 0;
    this.tscOffset = 0;
    this.shadowAt = -1;
    this.singleStepArmed = false;
    this.stopRequested = false;
    this.eventPending = true;
    this.controlChanged();
  }

  override controlChanged(): void {
    if (this.translation !== null)
      this.translation.setControl(this.cr0 >>> 0, this.cr3 >>> 0, this.cr4 >>> 0);
    this.flushTlbs();
    this.selectTlb();
  }

  // =====================================================================================
  // Run loop
  // =====================================================================================

  run(options?: RunOptions): StopReason {
    if (this.inShutdown) return "shutdown";
    let end = this.icount + (options?.instructions ?? Number.POSITIVE_INFINITY);
    const until = options?.until;
    const hasUntil = until !== undefined;
    const untilLin = hasUntil ? until | 0 : 0;
    this.eventPending = true;
    for (;;) {
      try {
        for (;;) {
          if (this.eventPending) {
            const s = this.checkEvents();
            if (s !== null) return s;
          }
          if (this.icount >= end) return "budget";
          if (hasUntil && ((this.csBase + this.pc) | 0) === untilLin) return "address";
          if (this.csD) {
            const left = end - this.icount;
            // Short bursts: V8 then runs runInline as a normal optimized function rather than
            // one long on-stack-replaced loop, measurably faster.
            const budget = Math.min(left, 0x1000);
            if (this.blockThreshold !== 0 && this.runBlocks(budget, hasUntil, untilLin) !== 0) continue;
            if (this.runInline(budget, hasUntil, untilLin) !== 0) continue;
          }
          this.step();
          this.icount++;
        }
      } catch (e) {
        if (e === FAULT) {
          this.pc = this.instrEip;
          this.regs[4] = this.instrEsp;
          this.singleStepArmed = false;
          // A fault does not retire its instruction but still uses budget, so a handler
          // that faults forever cannot hang run().
          end--;
          // The handler may run with IF = 1 (a trap gate, a task gate's EFLAGS): look at INTR
          // at the next boundary.
          this.eventPending = true;
          if (
            !this.deliverEvent(
              this.faultVector,
              this.faultCode,
              this.faultHasCode,
              KIND_EXCEPTION,
              this.instrEip,
            )
          ) {
            this.inShutdown = true;
            return "shutdown";
          }
          continue;
        }
        if (e === ABORT) {
          if (this.unimplementedReport !== null) {
            this.pc = this.instrEip;
            this.regs[4] = this.instrEsp;
            this.shutdownReport = this.unimplementedReport;
            this.unimplementedReport = null;
            return "shutdown";
          }
          this.inShutdown = true;
          return "shutdown";
        }
        throw e;
      }
    }
  }

  /**
   * EventInjection (spec): takes `vector` now, at the current instruction boundary, through
   * the IDT (or IVT) exactly as if the hardware had raised it, faults during delivery
   * escalating to #DF and shutdown (SDM 6.15). A halted CPU wakes. How a monitor hands its
   * guest the exceptions and interrupts the guest is owed.
   */
  injectEvent(vector: number, errorCode: number | null, kind: InterruptKind): void {
    if (this.inShutdown) return;
    this.instrEip = this.pc;
    this.instrEsp = this.regs[4];
    this.halted = false;
    const k = kind === "external" ? KIND_EXTERNAL : kind === "software" ? KIND_SOFTWARE : KIND_EXCEPTION;
    if (!this.deliverEvent(vector & 0xff, errorCode ?? 0, errorCode !== null, k, this.pc)) {
      this.inShutdown = true;
    }
    this.eventPending = true;
  }

  /**
   * Runs compiled blocks (blocks.ts) back to back while the next EIP has one that fits the
   * budget, the fetch window and `untilLin`, and no event is pending. Returns how many
   * instructions they retired (0: none, the caller interprets). Needs CS.D = 1.
   */
  runBlocks(budget: number, hasUntil: boolean, untilLin: number): number {
    let pc = this.pc;
    let ic = this.icount;
    const start = ic;
    const limit = ic + budget;
    const blockTag = this.blockTag;
    const blockLen = this.blockLen;
    const blockN = this.blockN;
    const blockFn = this.blockFn;
    while (!this.eventPending) {
      if (pc < this.fetchLo || pc > this.fetchHi) break;
      const p = pc + this.fetchDelta;
      const slot = p & (BLOCK_SLOTS - 1);
      let len = blockLen[slot];
      if (blockTag[slot] !== p || len === 0) {
        // The first address is counted (and compiled once hot) here, the rest by runInline.
        if (ic !== start || !this.blockMiss(p, slot, pc - this.fetchLo, this.fetchHi - pc + 1)) break;
        len = blockLen[slot];
      }
      const lo = this.blockLo[slot];
      if (
        ic + blockN[slot] > limit ||
        pc + lo < this.fetchLo ||
        pc + len - 1 > this.fetchHi ||
        (hasUntil && (untilLin - ((this.csBase + pc + lo) | 0)) >>> 0 < len - lo)
      )
        break;
      const next = blockFn[slot]!(this, pc, ic, limit);
      const bn = this.bn;
      if (bn <= 0) {
        if (bn === 0) break;
        // Its bytes changed: drop it and let the address heat up again.
        blockTag[slot] = -1;
        blockFn[slot] = null;
        this.blockHeat[slot] = 0;
        continue;
      }
      pc = next;
      ic += bn;
      if (ic >= limit) break;
      if (hasUntil && ((this.csBase + pc) | 0) === untilLin) break;
    }
    this.pc = pc;
    this.icount = ic;
    return ic - start;
  }

  /**
   * Runs the most frequent 32-bit instructions back to back, decoded and executed without
   * leaving this function (calls into the big dispatch functions cost more on V8 than the
   * instructions themselves), with EIP and the instruction count in locals. Stops before
   * anything else (which `step` then decodes in full), after `budget` instructions, when an
   * event is pending, or at `untilLin`. Returns how many instructions it retired (0: none,
   * the caller must `step`). Needs CS.D = 1 (32-bit code).
   */
  runInline(budget: number, hasUntil: boolean, untilLin: number): number {
    // `| 0` on the loop's numbers: V8 then keeps them as untagged int32 (no Smi checks,
    // untagging or overflow checks on every iteration).
    let pc = this.pc | 0;
    const start = this.icount;
    // Instructions retired in this burst (a small int32, unlike the lifetime count).
    let n = 0;
    // eventPending can only turn true inside a call out of this function (a device callback,
    // requestStop), so it is read again only after the slow paths (nlim = 0), as are the fetch
    // window's bounds (a call may flush the TLB). Pending at entry: one instruction, as before.
    const nmax = (this.eventPending ? 1 : budget) | 0;
    const fLo = this.fetchLo | 0;
    // The last EIP at which a 6-byte read (opcode and 5 more) stays in the fetch window.
    // EIP <= fHi5 <= 0x7FFFFFFA, so EIP + 7 cannot wrap and the arithmetic on EIP is `| 0` (no
    // overflow checks). A window too small for that: `step` decodes in full.
    const fHi5 = (this.fetchHi - 5) | 0;
    if (this.fetchHi - fLo < 5) return 0;
    const fD = this.fetchDelta | 0;
    // n reaching nlim sends the loop through its slow tail: nmax normally, 0 after a slow path
    // (a call out of this function) and always with `until`.
    let nlim = hasUntil ? 0 : nmax;
    const ram32 = this.ram32;
    const ram32Len = ram32.length | 0;
    const dv = this.ramView;
    const dvo = this.ramOperands;
    const r = this.regs;
    const blocksOn = this.blockThreshold !== 0;
    const blockTag = this.blockTag;
    outer: for (;;) {
      if (pc < fLo || pc > fHi5) break;
      const p = (pc + fD) | 0;
      if (blocksOn) {
        // Stop before an address that has a compiled block (run() then takes runBlocks), or
        // compile the block here once the address is hot.
        // (The first instruction is the one runBlocks declined, and counted.)
        if (n !== 0) {
          const slot = p & (BLOCK_SLOTS - 1);
          if (blockTag[slot] === p && this.blockLen[slot] !== 0) break;
          if (this.blockMiss(p, slot, pc - this.fetchLo, this.fetchHi - pc + 1)) break;
        }
      }
      // The opcode and the 3 bytes after it in one load (the window holds 6 from EIP).
      const w = dv.getInt32(p, true);
      const op = w & 0xff;
      switch (op) {
        case 0x90:
          pc = (pc + 1) | 0;
          break;
        case 0x01:
        case 0x03: {
          // ADD r/m32, r32 / ADD r32, r/m32
          const m = (w >> 8) & 0xff;
          if (m < 0xc0) {
            this.instrEip = pc;
            this.icount = start + n;
            this.instrEsp = r[4];
            this.segOvr = -1;
            this.pc = (pc + 2) | 0;
            this.aluMem32(op, m);
            pc = this.pc;
            nlim = 0;
            break;
          }
          const d = op === 0x03 ? (m >> 3) & 7 : m & 7;
          const a = r[d];
          const b = r[op === 0x03 ? m & 7 : (m >> 3) & 7];
          const res = (a + b) | 0;
          r[d] = res;
          this.lop = /* LF_ADD */ 1;
          this.lop1 = a;
          this.lop2 = b;
          this.lres = res;
          pc = (pc + 2) | 0;
          break;
        }
        case 0x09:
        case 0x0b: {
          // OR r/m32, r32 / OR r32, r/m32
          const m = (w >> 8) & 0xff;
          if (m < 0xc0) {
            this.instrEip = pc;
            this.icount = start + n;
            this.instrEsp = r[4];
            this.segOvr = -1;
            this.pc = (pc + 2) | 0;
            this.aluMem32(op, m);
            pc = this.pc;
            nlim = 0;
            break;
          }
          const d = op === 0x0b ? (m >> 3) & 7 : m & 7;
          const a = r[d];
          const b = r[op === 0x0b ? m & 7 : (m >> 3) & 7];
          const res = a | b;
          r[d] = res;
          this.lop = /* LF_LOGIC */ 5;
          this.lres = res;
          pc = (pc + 2) | 0;
          break;
        }
        case 0x21:
        case 0x23: {
          // AND r/m32, r32 / AND r32, r/m32
          const m = (w >> 8) & 0xff;
          if (m < 0xc0) {
            this.instrEip = pc;
            this.icount = start + n;
            this.instrEsp = r[4];
            this.segOvr = -1;
            this.pc = (pc + 2) | 0;
            this.aluMem32(op, m);
            pc = this.pc;
            nlim = 0;
            break;
          }
          const d = op === 0x23 ? (m >> 3) & 7 : m & 7;
          const a = r[d];
          const b = r[op === 0x23 ? m & 7 : (m >> 3) & 7];
          const res = a & b;
          r[d] = res;
          this.lop = /* LF_LOGIC */ 5;
          this.lres = res;
          if (((w >> 16) & 0xff & 0xfe) === 0x74 && n + 2 <= nlim) {
            // JZ/JNZ rel8 right after: taken here, without a dispatch (both retire).
            const next = (pc + 4) | 0;
            const target = (next + (w >> 24)) | 0;
            if ((target ^ /* MIN */ -0x80000000) <= this.csLimitF) {
              pc = (res === 0) === (((w >> 16) & 0xff) === 0x74) ? target : next;
              n = (n + 1) | 0;
              break;
            }
          }
          pc = (pc + 2) | 0;
          break;
        }
        case 0x29:
        case 0x2b: {
          // SUB r/m32, r32 / SUB r32, r/m32
          const m = (w >> 8) & 0xff;
          if (m < 0xc0) {
            this.instrEip = pc;
            this.icount = start + n;
            this.instrEsp = r[4];
            this.segOvr = -1;
            this.pc = (pc + 2) | 0;
            this.aluMem32(op, m);
            pc = this.pc;
            nlim = 0;
            break;
          }
          const d = op === 0x2b ? (m >> 3) & 7 : m & 7;
          const a = r[d];
          const b = r[op === 0x2b ? m & 7 : (m >> 3) & 7];
          const res = (a - b) | 0;
          r[d] = res;
          this.lop = /* LF_SUB */ 3;
          this.lop1 = a;
          this.lop2 = b;
          this.lres = res;
          if (((w >> 16) & 0xff & 0xfe) === 0x74 && n + 2 <= nlim) {
            // JZ/JNZ rel8 right after: taken here, without a dispatch (both retire).
            const next = (pc + 4) | 0;
            const target = (next + (w >> 24)) | 0;
            if ((target ^ /* MIN */ -0x80000000) <= this.csLimitF) {
              pc = (res === 0) === (((w >> 16) & 0xff) === 0x74) ? target : next;
              n = (n + 1) | 0;
              break;
            }
          }
          pc = (pc + 2) | 0;
          break;
        }
        case 0x31:
        case 0x33: {
          // XOR r/m32, r32 / XOR r32, r/m32
          const m = (w >> 8) & 0xff;
          if (m < 0xc0) {
            this.instrEip = pc;
            this.icount = start + n;
            this.instrEsp = r[4];
            this.segOvr = -1;
            this.pc = (pc + 2) | 0;
            this.aluMem32(op, m);
            pc = this.pc;
            nlim = 0;
            break;
          }
          const d = op === 0x33 ? (m >> 3) & 7 : m & 7;
          const a = r[d];
          const b = r[op === 0x33 ? m & 7 : (m >> 3) & 7];
          const res = a ^ b;
          r[d] = res;
          this.lop = /* LF_LOGIC */ 5;
          this.lres = res;
          pc = (pc + 2) | 0;
          break;
        }
        case 0x39:
        case 0x3b: {
          // CMP r/m32, r32 / CMP r32, r/m32
          const m = (w >> 8) & 0xff;
          if (m < 0xc0) {
            this.instrEip = pc;
            this.icount = start + n;
            this.instrEsp = r[4];
            this.segOvr = -1;
            this.pc = (pc + 2) | 0;
            this.aluMem32(op, m);
            pc = this.pc;
            nlim = 0;
            break;
          }
          const d = op === 0x3b ? (m >> 3) & 7 : m & 7;
          const a = r[d];
          const b = r[op === 0x3b ? m & 7 : (m >> 3) & 7];
          const res = (a - b) | 0;
          this.lop = /* LF_SUB */ 3;
          this.lop1 = a;
          this.lop2 = b;
          this.lres = res;
          if (((w >> 16) & 0xff & 0xfe) === 0x74 && n + 2 <= nlim) {
            // JZ/JNZ rel8 right after: taken here, without a dispatch (both retire).
            const next = (pc + 4) | 0;
            const target = (next + (w >> 24)) | 0;
            if ((target ^ /* MIN */ -0x80000000) <= this.csLimitF) {
              pc = (res === 0) === (((w >> 16) & 0xff) === 0x74) ? target : next;
              n = (n + 1) | 0;
              break;
            }
          }
          pc = (pc + 2) | 0;
          break;
        }
        case 0x85: {
          // TEST r/m32, r32
          const m = (w >> 8) & 0xff;
          if (m < 0xc0) {
            this.instrEip = pc;
            this.icount = start + n;
            this.instrEsp = r[4];
            this.segOvr = -1;
            this.pc = (pc + 2) | 0;
            this.aluMem32(op, m);
            pc = this.pc;
            nlim = 0;
            break;
          }
          const res = r[m & 7] & r[(m >> 3) & 7];
          this.lop = /* LF_LOGIC */ 5;
          this.lres = res;
          if (((w >> 16) & 0xff & 0xfe) === 0x74 && n + 2 <= nlim) {
            // JZ/JNZ rel8 right after: taken here, without a dispatch (both retire).
            const next = (pc + 4) | 0;
            const target = (next + (w >> 24)) | 0;
            if ((target ^ /* MIN */ -0x80000000) <= this.csLimitF) {
              pc = (res === 0) === (((w >> 16) & 0xff) === 0x74) ? target : next;
              n = (n + 1) | 0;
              break;
            }
          }
          pc = (pc + 2) | 0;
          break;
        }
        case 0x83: {
          const m = (w >> 8) & 0xff;
          const kind = (m >> 3) & 7;
          if (kind === 2 || kind === 3) break outer;
          if (m < 0xc0) {
            this.instrEip = pc;
            this.icount = start + n;
            this.instrEsp = r[4];
            this.segOvr = -1;
            this.pc = (pc + 2) | 0;
            this.aluMemImm8(m);
            pc = this.pc;
            nlim = 0;
            break;
          }
          const a = r[m & 7];
          const b = (w << 8) >> 24;
          let res: number;
          if (kind === 0) {
            res = (a + b) | 0;
            this.lop = /* LF_ADD */ 1;
            this.lop1 = a;
            this.lop2 = b;
          } else if (kind === 5 || kind === 7) {
            res = (a - b) | 0;
            this.lop = /* LF_SUB */ 3;
            this.lop1 = a;
            this.lop2 = b;
          } else {
            res = kind === 1 ? a | b : kind === 4 ? a & b : a ^ b;
            this.lop = /* LF_LOGIC */ 5;
          }
          this.lres = res;
          if (kind !== 7) r[m & 7] = res;
          if (((w >>> 24) & 0xfe) === 0x74 && n + 2 <= nlim) {
            // JZ/JNZ rel8 right after: taken here, without a dispatch (both retire).
            const next = (pc + 5) | 0;
            const target = (next + dvo.getInt8(p + 4)) | 0;
            if ((target ^ /* MIN */ -0x80000000) <= this.csLimitF) {
              pc = (res === 0) === (w >>> 24 === 0x74) ? target : next;
              n = (n + 1) | 0;
              break;
            }
          }
          pc = (pc + 3) | 0;
          break;
        }
        case 0x89:
        case 0x8b: {
          const m = (w >> 8) & 0xff;
          if (m >= 0xc0) {
            if (op === 0x89) r[m & 7] = r[(m >> 3) & 7];
            else r[(m >> 3) & 7] = r[m & 7];
            pc = (pc + 2) | 0;
            break;
          }
          if (((pc + 2) | 0) <= fHi5) {
            // The whole instruction is in the fetch window: decode the address here and
            // access an aligned dword of direct RAM without a call (else the general path).
            const mod = m >> 6;
            const rm = m & 7;
            // The ModRM byte is byte 1 of w, a SIB byte 2, a disp8 after it byte 3.
            let q = p + 2;
            let seg = /* DS */ 3;
            let off: number;
            if (rm === 4) {
              const sib = (w >> 16) & 0xff;
              const base = sib & 7;
              const index = (sib >> 3) & 7;
              q = p + 3;
              if (base === 5 && mod === 0) {
                off = dvo.getInt32(q, true);
                q = p + 7;
              } else {
                off = r[base];
                if (base === 4 || base === 5) seg = /* SS */ 2;
              }
              if (index !== 4) off = (off + (r[index] << (sib >> 6))) | 0;
              if (mod === 1) {
                off = (off + (w >> 24)) | 0;
                q = p + 4;
              }
            } else if (rm === 5 && mod === 0) {
              off = dvo.getInt32(q, true);
              q = p + 6;
            } else {
              off = r[rm];
              if (rm === 5) seg = /* SS */ 2;
              if (mod === 1) {
                off = (off + ((w << 8) >> 24)) | 0;
                q = p + 3;
              }
            }
            if (mod === 2) {
              off = (off + dvo.getInt32(q, true)) | 0;
              q += 4;
            }
            const flat = ((this.flatRW >> seg) & 1) !== 0;
            const lin = flat ? off : (this.segBase[seg] + off) | 0;
            if (op === 0x8b) {
              if (
                flat ||
                ((off ^ /* MIN */ -0x80000000) >= this.segRlo[seg] &&
                  ((off + 3) ^ /* MIN */ -0x80000000) <= this.segRhi[seg])
              ) {
                const e = this.tlbR[lin >>> 12];
                const pa = (e & -4096) | (lin & 4095);
                if ((e & 1) !== 0 && (pa & 3) === 0 && pa >>> 2 < ram32Len) {
                  r[(m >> 3) & 7] = ram32[pa >>> 2];
                  pc = (pc + (q - p)) | 0;
                  break;
                }
              }
            } else if (
              flat ||
              ((off ^ /* MIN */ -0x80000000) >= this.segWlo[seg] &&
                ((off + 3) ^ /* MIN */ -0x80000000) <= this.segWhi[seg])
            ) {
              const e = this.tlbW[lin >>> 12];
              const pa = (e & -4096) | (lin & 4095);
              if ((e & 1) !== 0 && (pa & 3) === 0 && pa >>> 2 < ram32Len) {
                ram32[pa >>> 2] = r[(m >> 3) & 7];
                pc = (pc + (q - p)) | 0;
                break;
              }
            }
          }
          this.instrEip = pc;
          this.icount = start + n;
          this.instrEsp = r[4];
          this.segOvr = -1;
          this.pc = (pc + 2) | 0;
          this.movMem32(op, m);
          pc = this.pc;
          nlim = 0;
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
          this.keepCF();
          const v = r[op & 7];
          const res = op < 0x48 ? (v + 1) | 0 : (v - 1) | 0;
          r[op & 7] = res;
          this.lop = op < 0x48 ? /* LF_INC */ 6 : /* LF_DEC */ 7;
          this.lres = res;
          this.lop1 = v;
          this.lop2 = 1;
          if (((w >> 8) & 0xff & 0xfe) === 0x74 && n + 2 <= nlim) {
            // JZ/JNZ rel8 right after: taken here, without a dispatch (both retire).
            const next = (pc + 3) | 0;
            const target = (next + ((w << 8) >> 24)) | 0;
            if ((target ^ /* MIN */ -0x80000000) <= this.csLimitF) {
              pc = (res === 0) === (((w >> 8) & 0xff) === 0x74) ? target : next;
              n = (n + 1) | 0;
              break;
            }
          }
          pc = (pc + 1) | 0;
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
        case 0xeb: {
          const next = (pc + 2) | 0;
          const target = (next + ((w << 16) >> 24)) | 0;
          if ((target ^ -0x80000000) > this.csLimitF) break outer;
          let take: boolean;
          if (op === 0xeb) take = true;
          else if (op === 0x74 || op === 0x75) {
            const zf = this.lop !== /* LF_NONE */ 0 ? this.lres === 0 : (this.flagsv & 0x40) !== 0;
            take = zf === (op === 0x74);
          } else take = this.cond(op & 15);
          pc = take ? target : next;
          break;
        }
        case 0xe8:
        case 0xe9: {
          const next = (pc + 5) | 0;
          const target = (next + dvo.getInt32(p + 1, true)) | 0;
          if ((target ^ -0x80000000) > this.csLimitF) break outer;
          if (op === 0xe8) {
            // PUSH next on a flat 32-bit stack in direct RAM, or the general path.
            const n = (r[4] - 4) | 0;
            if (
              this.ssFlat32 ||
              (this.ssB &&
                (n ^ /* MIN */ -0x80000000) >= this.segWlo[/* SS */ 2] &&
                ((n + 3) ^ /* MIN */ -0x80000000) <= this.segWhi[/* SS */ 2])
            ) {
              const lin = this.ssFlat32 ? n : (this.segBase[/* SS */ 2] + n) | 0;
              const e = this.tlbW[lin >>> 12];
              const pa = (e & -4096) | (lin & 4095);
              if ((e & 1) !== 0 && (pa & 3) === 0 && pa >>> 2 < ram32Len) {
                ram32[pa >>> 2] = next;
                r[4] = n;
                pc = target;
                break;
              }
            }
            this.instrEip = pc;
            this.icount = start + n;
            this.instrEsp = r[4];
            this.push32(next);
            nlim = 0;
          }
          pc = target;
          break;
        }
        case 0x50:
        case 0x51:
        case 0x52:
        case 0x53:
        case 0x54:
        case 0x55:
        case 0x56:
        case 0x57: {
          const v = r[op & 7];
          const n = (r[4] - 4) | 0;
          if (
            this.ssFlat32 ||
            (this.ssB &&
              (n ^ /* MIN */ -0x80000000) >= this.segWlo[/* SS */ 2] &&
              ((n + 3) ^ /* MIN */ -0x80000000) <= this.segWhi[/* SS */ 2])
          ) {
            const lin = this.ssFlat32 ? n : (this.segBase[/* SS */ 2] + n) | 0;
            const e = this.tlbW[lin >>> 12];
            const pa = (e & -4096) | (lin & 4095);
            if ((e & 1) !== 0 && (pa & 3) === 0 && pa >>> 2 < ram32Len) {
              ram32[pa >>> 2] = v;
              r[4] = n;
              pc = (pc + 1) | 0;
              break;
            }
          }
          this.instrEip = pc;
          this.icount = start + n;
          this.instrEsp = r[4];
          this.push32(v);
          nlim = 0;
          pc = (pc + 1) | 0;
          break;
        }
        case 0x58:
        case 0x59:
        case 0x5a:
        case 0x5b:
        case 0x5d:
        case 0x5e:
        case 0x5f: {
          const esp = r[4];
          if (
            this.ssFlat32 ||
            (this.ssB &&
              (esp ^ /* MIN */ -0x80000000) >= this.segRlo[/* SS */ 2] &&
              ((esp + 3) ^ /* MIN */ -0x80000000) <= this.segRhi[/* SS */ 2])
          ) {
            const lin = this.ssFlat32 ? esp : (this.segBase[/* SS */ 2] + esp) | 0;
            const e = this.tlbR[lin >>> 12];
            const pa = (e & -4096) | (lin & 4095);
            if ((e & 1) !== 0 && (pa & 3) === 0 && pa >>> 2 < ram32Len) {
              const v = ram32[pa >>> 2];
              r[4] = (esp + 4) | 0;
              r[op & 7] = v;
              pc = (pc + 1) | 0;
              break;
            }
          }
          this.instrEip = pc;
          this.icount = start + n;
          this.instrEsp = r[4];
          r[op & 7] = this.pop32();
          nlim = 0;
          pc = (pc + 1) | 0;
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
          r[op & 7] = dvo.getInt32(p + 1, true);
          pc = (pc + 5) | 0;
          break;
        case 0x05:
        case 0x0d:
        case 0x25:
        case 0x2d:
        case 0x35:
        case 0x3d:
        case 0xa9: {
          // ALU EAX, imm32 (and TEST EAX, imm32)
          const a = r[0];
          const b = dvo.getInt32(p + 1, true);
          const kind = op === 0xa9 ? 4 : op >> 3;
          const res = this.alu32(kind, a, b);
          if (kind !== 7 && op !== 0xa9) r[0] = res;
          pc = (pc + 5) | 0;
          break;
        }
        case 0x3c:
        case 0xa8: {
          // CMP AL, imm8 / TEST AL, imm8
          const a = r[0] & 0xff;
          const b = (w >> 8) & 0xff;
          if (op === 0x3c) this.setLazy(/* LF_SUB */ 3, 8, (a - b) | 0, a, b);
          else this.setLazy(/* LF_LOGIC */ 5, 8, a & b, 0, 0);
          pc = (pc + 2) | 0;
          break;
        }
        case 0x84: {
          const m = (w >> 8) & 0xff;
          if (m < 0xc0) break outer;
          this.setLazy(/* LF_LOGIC */ 5, 8, this.getReg8(m & 7) & this.getReg8((m >> 3) & 7), 0, 0);
          pc = (pc + 2) | 0;
          break;
        }
        case 0x88:
        case 0x8a: {
          const m = (w >> 8) & 0xff;
          if (m >= 0xc0) {
            if (op === 0x88) this.setReg8(m & 7, this.getReg8((m >> 3) & 7));
            else this.setReg8((m >> 3) & 7, this.getReg8(m & 7));
            pc = (pc + 2) | 0;
            break;
          }
          this.instrEip = pc;
          this.icount = start + n;
          this.instrEsp = r[4];
          this.segOvr = -1;
          this.pc = (pc + 2) | 0;
          this.modrm = m;
          this.decodeEA32(m);
          if (op === 0x88) this.wr8(this.eaSeg, this.eaOff, this.getReg8((m >> 3) & 7));
          else this.setReg8((m >> 3) & 7, this.rd8(this.eaSeg, this.eaOff));
          pc = this.pc;
          nlim = 0;
          break;
        }
        case 0x68:
        case 0x6a: {
          const v = op === 0x6a ? (w << 16) >> 24 : dvo.getInt32(p + 1, true);
          this.instrEip = pc;
          this.icount = start + n;
          this.instrEsp = r[4];
          this.push32(v);
          nlim = 0;
          pc = (pc + (op === 0x6a ? 2 : 5)) | 0;
          break;
        }
        case 0xd1:
        case 0xd3: {
          // shift/rotate r32 by 1 or CL
          const m = (w >> 8) & 0xff;
          if (m < 0xc0) break outer;
          r[m & 7] = this.shift((m >> 3) & 7, 32, r[m & 7], op === 0xd1 ? 1 : r[1] & 0xff);
          pc = (pc + 2) | 0;
          break;
        }
        case 0x99:
          r[2] = r[0] >> 31;
          pc = (pc + 1) | 0;
          break;
        case 0xa1:
        case 0xa3: {
          // MOV EAX, moffs32 / MOV moffs32, EAX
          const off = dvo.getInt32(p + 1, true);
          const flat = (this.flatRW & (1 << /* DS */ 3)) !== 0;
          const lin = flat ? off : (this.segBase[/* DS */ 3] + off) | 0;
          if (op === 0xa1) {
            if (
              flat ||
              ((off ^ /* MIN */ -0x80000000) >= this.segRlo[/* DS */ 3] &&
                ((off + 3) ^ /* MIN */ -0x80000000) <= this.segRhi[/* DS */ 3])
            ) {
              const e = this.tlbR[lin >>> 12];
              const pa = (e & -4096) | (lin & 4095);
              if ((e & 1) !== 0 && (pa & 3) === 0 && pa >>> 2 < ram32Len) {
                r[0] = ram32[pa >>> 2];
                pc = (pc + 5) | 0;
                break;
              }
            }
          } else if (
            flat ||
            ((off ^ /* MIN */ -0x80000000) >= this.segWlo[/* DS */ 3] &&
              ((off + 3) ^ /* MIN */ -0x80000000) <= this.segWhi[/* DS */ 3])
          ) {
            const e = this.tlbW[lin >>> 12];
            const pa = (e & -4096) | (lin & 4095);
            if ((e & 1) !== 0 && (pa & 3) === 0 && pa >>> 2 < ram32Len) {
              ram32[pa >>> 2] = r[0];
              pc = (pc + 5) | 0;
              break;
            }
          }
          this.instrEip = pc;
          this.icount = start + n;
          this.instrEsp = r[4];
          this.pc = (pc + 5) | 0;
          if (op === 0xa1) r[0] = this.rd32(/* DS */ 3, off);
          else this.wr32(/* DS */ 3, off, r[0]);
          pc = this.pc;
          nlim = 0;
          break;
        }
        case 0xc7: {
          const m = (w >> 8) & 0xff;
          if (m >= 0xc0 || (m & 0x38) !== 0) break outer;
          this.instrEip = pc;
          this.icount = start + n;
          this.instrEsp = r[4];
          this.segOvr = -1;
          this.pc = (pc + 2) | 0;
          this.movMemImm32(m);
          pc = this.pc;
          nlim = 0;
          break;
        }
        case 0xc1: {
          // shift/rotate r32 by imm8
          const m = (w >> 8) & 0xff;
          if (m < 0xc0) break outer;
          const k = (m >> 3) & 7;
          const c = (w >> 16) & 0xff & 31;
          if (k >= 4 && c !== 0) {
            // SHL SHR SAL SAR: CF and OF from the shift, AF = 0, the rest from the result
            const v = r[m & 7];
            let res: number;
            let f: number;
            if (k === 5) {
              res = (v >>> c) | 0;
              f = ((v >>> (c - 1)) & 1) | ((v >>> 31) & 1 ? /* OF */ 0x800 : 0);
            } else if (k === 7) {
              res = v >> c;
              f = (v >> (c - 1)) & 1;
            } else {
              res = v << c;
              const cf = (v >>> (32 - c)) & 1;
              f = cf | (((res >>> 31) & 1) ^ cf ? /* OF */ 0x800 : 0);
            }
            r[m & 7] = res;
            this.flagsv = (this.flagsv & ~(/* CF */ (0x1 | /* OF */ 0x800 | /* AF */ 0x10))) | f;
            this.lop = /* LF_RES */ 8;
            this.lres = res;
            pc = (pc + 3) | 0;
            break;
          }
          if (k <= 1 && c !== 0) {
            // ROL ROR: only CF and OF change
            const v = r[m & 7];
            let res: number;
            let cf: number;
            let of: number;
            if (k === 0) {
              res = (v << c) | (v >>> (32 - c));
              cf = res & 1;
              of = ((res >>> 31) & 1) ^ cf;
            } else {
              res = (v >>> c) | (v << (32 - c));
              cf = (res >>> 31) & 1;
              of = cf ^ ((res >>> 30) & 1);
            }
            r[m & 7] = res;
            this.replaceCfOf(cf, of ? /* OF */ 0x800 : 0);
            pc = (pc + 3) | 0;
            break;
          }
          r[m & 7] = this.shift(k, 32, r[m & 7], (w >> 16) & 0xff);
          pc = (pc + 3) | 0;
          break;
        }
        case 0xf6: {
          // TEST r8, imm8
          const m = (w >> 8) & 0xff;
          if (m < 0xc0 || (m & 0x38) !== 0) break outer;
          this.lop = /* LF_LOGIC | LF_8 */ 0x15;
          const res = this.getReg8(m & 7) & ((w >> 16) & 0xff);
          this.lres = res;
          if (((w >>> 24) & 0xfe) === 0x74 && n + 2 <= nlim) {
            // JZ/JNZ rel8 right after: taken here, without a dispatch (both retire).
            const next = (pc + 5) | 0;
            const target = (next + dvo.getInt8(p + 4)) | 0;
            if ((target ^ /* MIN */ -0x80000000) <= this.csLimitF) {
              pc = (res === 0) === (w >>> 24 === 0x74) ? target : next;
              n = (n + 1) | 0;
              break;
            }
          }
          pc = (pc + 3) | 0;
          break;
        }
        case 0x69:
        case 0x6b: {
          const m = (w >> 8) & 0xff;
          if (m < 0xc0) break outer;
          const imm = op === 0x6b ? (w << 8) >> 24 : dvo.getInt32(p + 2, true);
          const a = r[m & 7];
          const lo = Math.imul(a, imm);
          r[(m >> 3) & 7] = lo;
          // CF = OF = the product does not fit 32 bits: the double product is exact when it
          // does and at least 2^31 in magnitude when it does not.
          this.flagsv =
            (this.flagsv & ~(/* CF */ (0x1 | /* OF */ 0x800 | /* AF */ 0x10))) |
            (a * imm !== lo ? /* CF */ 0x1 | /* OF */ 0x800 : 0);
          this.lop = /* LF_RES */ 8;
          this.lres = lo;
          pc = (pc + (op === 0x6b ? 3 : 6)) | 0;
          break;
        }
        case 0x8d: {
          const m = (w >> 8) & 0xff;
          if (m >= 0xc0) break outer;
          this.instrEip = pc;
          this.icount = start + n;
          this.instrEsp = r[4];
          this.segOvr = -1;
          this.pc = (pc + 2) | 0;
          this.decodeEA32(m);
          r[(m >> 3) & 7] = this.eaOff;
          pc = this.pc;
          nlim = 0;
          break;
        }
        case 0x0f: {
          const op2 = (w >> 8) & 0xff;
          if (op2 >= 0x80 && op2 <= 0x8f) {
            const next = (pc + 6) | 0;
            const target = (next + dvo.getInt32(p + 2, true)) | 0;
            if ((target ^ -0x80000000) > this.csLimitF) break outer;
            pc = this.cond(op2 & 15) ? target : next;
            break;
          }
          if (op2 === 0xb6 || op2 === 0xb7) {
            const m = (w >> 16) & 0xff;
            if (m < 0xc0) {
              this.instrEip = pc;
              this.icount = start + n;
              this.instrEsp = r[4];
              this.segOvr = -1;
              this.pc = (pc + 3) | 0;
              this.modrm = m;
              this.decodeEA32(m);
              r[(m >> 3) & 7] =
                op2 === 0xb6 ? this.rd8(this.eaSeg, this.eaOff) : this.rd16(this.eaSeg, this.eaOff);
              pc = this.pc;
              nlim = 0;
              break;
            }
            r[(m >> 3) & 7] = op2 === 0xb6 ? this.getReg8(m & 7) : r[m & 7] & 0xffff;
            pc = (pc + 3) | 0;
            break;
          }
          break outer;
        }
        case 0xc3: {
          const esp = r[4];
          if (
            this.ssFlat32 ||
            (this.ssB &&
              (esp ^ /* MIN */ -0x80000000) >= this.segRlo[/* SS */ 2] &&
              ((esp + 3) ^ /* MIN */ -0x80000000) <= this.segRhi[/* SS */ 2])
          ) {
            const lin = this.ssFlat32 ? esp : (this.segBase[/* SS */ 2] + esp) | 0;
            const e = this.tlbR[lin >>> 12];
            const pa = (e & -4096) | (lin & 4095);
            if ((e & 1) !== 0 && (pa & 3) === 0 && pa >>> 2 < ram32Len) {
              const v = ram32[pa >>> 2];
              if ((v ^ /* MIN */ -0x80000000) <= this.csLimitF) {
                r[4] = (esp + 4) | 0;
                pc = v;
                break;
              }
            }
          }
          this.instrEip = pc;
          this.icount = start + n;
          this.instrEsp = r[4];
          const target = this.pop32();
          nlim = 0;
          if ((target ^ -0x80000000) > this.csLimitF) this.gp(0);
          pc = target;
          break;
        }
        // 0x00 and 0xFF make the cases span the opcode byte's whole range, which spares V8's
        // jump table an offset subtraction.
        // biome-ignore lint/complexity/noUselessSwitchCase: they shape V8's jump table
        case 0x00:
        // biome-ignore lint/complexity/noUselessSwitchCase: they shape V8's jump table
        case 0xff:
        default:
          break outer;
      }

      n = (n + 1) | 0;
      if (n >= nlim) {
        // The budget, after a slow path (events, the window) or with `until`: one compare
        // on the fast path for all three.
        if (n >= nmax || this.eventPending) break;
        // The window stays a loop constant (no phis for V8 to move on every iteration): a
        // slow path that moved it ends the burst, and run() comes back with the new one.
        if (this.fetchLo !== fLo || this.fetchHi - 5 !== fHi5 || this.fetchDelta !== fD) break;
        if (hasUntil) {
          if (((this.csBase + pc) | 0) === untilLin) break;
        } else nlim = nmax;
      }
    }
    this.pc = pc;
    this.icount = start + n;
    return n;
  }

  /**
   * The address at physical `p` (slot `slot`) has no compiled block: counts it, and compiles
   * its block once it is hot. Returns whether a block is there now. An address whose first
   * instruction cannot be compiled keeps a marker with its first four bytes, and is counted
   * again once they change.
   */
  blockMiss(p: number, slot: number, before: number, room: number): boolean {
    const tag = this.blockTag[slot];
    if (tag === p) {
      if (this.blockN[slot] === this.blockSignature(p)) return false;
      this.blockTag[slot] = -1;
    }
    // Evicting another address's block takes longer, so that two hot addresses that share a
    // slot (64 KiB apart) do not recompile each other every few runs.
    const threshold =
      tag !== p && tag !== -1 && this.blockLen[slot] !== 0
        ? Math.max(128, this.blockThreshold)
        : this.blockThreshold;
    if (this.blockThreshold === 0 || ++this.blockHeat[slot] < threshold) return false;
    this.blockHeat[slot] = 0;
    this.compileBlockAt(p, slot, before, room);
    if (this.blockLen[slot] !== 0) return true;
    this.blockN[slot] = this.blockSignature(p);
    return false;
  }

  /** The first four bytes at physical `p` (what decides that they cannot be compiled). */
  blockSignature(p: number): number {
    const ram = this.ram;
    return p + 3 < ram.length ? ram[p] | (ram[p + 1] << 8) | (ram[p + 2] << 16) | (ram[p + 3] << 24) : 0;
  }

  /**
   * Compiles the block at physical address `p` (with `before` bytes of the fetch window
   * below and `room` from there) into `slot`, or marks the address as not compilable.
   */
  compileBlockAt(p: number, slot: number, before: number, room: number): void {
    let block: ReturnType<typeof compileBlock> = null;
    try {
      block = compileBlock(this.ram, this.ram32, p, before, room);
    } catch (e) {
      // No `new Function` here (a Content-Security-Policy without 'unsafe-eval'): interpret.
      if (!(e instanceof EvalError)) throw e;
      this.blockThreshold = 0;
    }
    this.blockTag[slot] = p;
    this.blockLo[slot] = block === null ? 0 : block.lo;
    this.blockLen[slot] = block === null ? 0 : block.len;
    this.blockN[slot] = block === null ? 0 : block.n;
    this.blockFn[slot] = block === null ? null : block.fn;
  }

  /**
   * Forgets every compiled block. Never needed for correctness (a block checks its bytes
   * before it runs); frees their memory.
   */
  dropBlocks(): void {
    this.blockTag.fill(-1);
    this.blockFn.fill(null);
    this.blockHeat.fill(0);
  }

  /** The slow path at an instruction boundary: stop requests, #DB single-step, INTR, HLT. */
  checkEvents(): StopReason | null {
    this.eventChecks++;
    if (this.stopRequested) {
      this.stopRequested = false;
      return "stop";
    }
    this.instrEip = this.pc;
    this.instrEsp = this.regs[4];
    if (this.singleStepArmed) {
      this.singleStepArmed = false;
      this.dr[6] |= 0x4000; // BS
      if (!this.deliverEvent(Exception.DB, 0, false, KIND_EXCEPTION, this.pc)) {
        this.inShutdown = true;
        return "shutdown";
      }
    }
    if (this.flagsv & IF && this.icount !== this.shadowAt) {
      const ic = this.interrupts;
      // The controller's `pending` is the authority (it mirrors INTR); the pin itself only
      // makes the CPU look at every boundary while it is high.
      if (ic?.pending) {
        const vector = ic.acknowledge();
        this.halted = false;
        if (!this.deliverEvent(vector, 0, false, KIND_EXTERNAL, this.pc)) {
          this.inShutdown = true;
          return "shutdown";
        }
      }
    }
    if (this.halted) {
      this.eventPending = true;
      return "halt";
    }
    if (this.flagsv & TF) this.singleStepArmed = true;
    // INTR matters at a boundary only while IF = 1 (SDM 6.8.1) and the controller has a
    // request: with IF = 0 a pending IRQ must not keep every instruction on this slow path (a
    // BIOS-programmed PIT fires while a Multiboot kernel runs with interrupts off). Every path
    // that sets IF re-arms the check (onInterruptsEnabled: POPF, IRET, task switch; STI, the
    // eflags setter, restore, event delivery), and so does INTR rising. A controller whose
    // `pending` also depends on state of its own (the monitor's kick waits for the guest's
    // virtual IF, which its stub changes with the machine's IF clear and sets again by IRET)
    // is covered by the same re-arming.
    this.eventPending =
      this.singleStepArmed ||
      ((this.flagsv & IF) !== 0 && this.intrLevel && this.interrupts?.pending === true) ||
      this.icount <= this.shadowAt ||
      this.stopRequested;
    return null;
  }

  requestStop(): void {
    this.stopRequested = true;
    this.eventPending = true;
  }

  // =====================================================================================
  // Register access for embedders
  // =====================================================================================

  getReg(reg: RegIndex): number {
    return this.regs[reg] >>> 0;
  }

  setReg(reg: RegIndex, value: number): void {
    this.regs[reg] = value;
  }

  get eip(): number {
    return this.pc >>> 0;
  }

  set eip(value: number) {
    this.pc = value | 0;
  }

  get eflags(): number {
    return this.getEflags() >>> 0;
  }

  set eflags(value: number) {
    if (value & VM) throw new Error("virtual-8086 mode is not implemented by @pagurus/cpu");
    this.flagsv = (value & EFLAGS_WRITABLE) | 2;
    this.lop = /* LF_NONE */ 0;
    this.selectTlb();
    if (value & IF) this.eventPending = true;
  }

  getCr(n: 0 | 2 | 3 | 4): number {
    const v = n === 0 ? this.cr0 : n === 2 ? this.cr2 : n === 3 ? this.cr3 : this.cr4;
    return v >>> 0;
  }

  setCr(n: 0 | 2 | 3 | 4, value: number): void {
    value |= 0;
    if (n === 0) {
      const old = this.cr0;
      this.cr0 = value;
      if ((old ^ value) & CR0_PE) {
        if (!(value & CR0_PE)) this.setCpl(0);
        this.refreshAllSegments();
      }
    } else if (n === 2) this.cr2 = value;
    else if (n === 3) this.cr3 = value;
    else this.cr4 = value;
    if (n !== 2) this.controlChanged();
  }

  getSegment(seg: SegIndex): SegmentState {
    return {
      selector: this.segSel[seg],
      base: this.segBase[seg] >>> 0,
      limit: this.segLimit[seg] >>> 0,
      access: this.segAccess[seg],
    };
  }

  setSegment(seg: SegIndex, state: SegmentState): void {
    this.segSel[seg] = state.selector & 0xffff;
    this.segBase[seg] = state.base | 0;
    this.segLimit[seg] = state.limit | 0;
    this.segAccess[seg] = state.access & 0xf0ff;
    if (seg < 6) this.updateSegWindows(seg);
    if (seg === /* CS */ 1) this.setCpl(this.cr0 & CR0_PE ? state.selector & 3 : 0);
  }

  get gdtr(): TableRegister {
    return { base: this.gdtrBase >>> 0, limit: this.gdtrLimit & 0xffff };
  }

  set gdtr(t: TableRegister) {
    this.gdtrBase = t.base | 0;
    this.gdtrLimit = t.limit & 0xffff;
  }

  get idtr(): TableRegister {
    return { base: this.idtrBase >>> 0, limit: this.idtrLimit & 0xffff };
  }

  set idtr(t: TableRegister) {
    this.idtrBase = t.base | 0;
    this.idtrLimit = t.limit & 0xffff;
  }

  getDr(n: number): number {
    return this.dr[n & 7] >>> 0;
  }

  setDr(n: number, value: number): void {
    this.dr[n & 7] = value;
  }

  flushTlb(): void {
    this.flushTlbs();
  }

  // =====================================================================================
  // Snapshots
  // =====================================================================================

  save(): CpuSnapshot {
    const segments: SegmentState[] = [];
    for (let s = 0; s < 8; s++) segments.push(this.getSegment(s as SegIndex));
    return {
      regs: Array.from(this.regs, (v) => v >>> 0),
      eip: this.pc >>> 0,
      eflags: this.getEflags() >>> 0,
      segments,
      cr0: this.cr0 >>> 0,
      cr2: this.cr2 >>> 0,
      cr3: this.cr3 >>> 0,
      cr4: this.cr4 >>> 0,
      dr: Array.from(this.dr, (v) => v >>> 0),
      gdtr: this.gdtr,
      idtr: this.idtr,
      cpl: this.cpl,
      halted: this.halted,
      a20: this.a20Mask === -1,
      intr: this.intrLevel,
      instructionCount: this.icount,
      tscOffset: this.tscOffset,
      shadowAt: this.shadowAt,
      singleStepArmed: this.singleStepArmed,
      shutdownReport: this.shutdownReport,
      inShutdown: this.inShutdown,
    };
  }

  restore(s: CpuSnapshot): void {
    for (let i = 0; i < 8; i++) this.regs[i] = s.regs[i];
    this.pc = s.eip | 0;
    this.flagsv = (s.eflags & EFLAGS_WRITABLE) | 2;
    this.lop = /* LF_NONE */ 0;
    this.cr0 = s.cr0 | 0;
    this.cr2 = s.cr2 | 0;
    this.cr3 = s.cr3 | 0;
    this.cr4 = s.cr4 | 0;
    for (let i = 0; i < 8; i++) this.dr[i] = s.dr[i];
    this.gdtr = s.gdtr;
    this.idtr = s.idtr;
    for (let i = 0; i < 8; i++) {
      const seg = s.segments[i];
      this.segSel[i] = seg.selector;
      this.segBase[i] = seg.base | 0;
      this.segLimit[i] = seg.limit | 0;
      this.segAccess[i] = seg.access;
    }
    this.refreshAllSegments();
    this.setCpl(s.cpl);
    this.halted = s.halted;
    this.a20Mask = s.a20 ? -1 : ~(1 << 20);
    this.intrLevel = s.intr;
    this.icount = s.instructionCount;
    this.tscOffset = s.tscOffset;
    this.shadowAt = s.shadowAt;
    this.singleStepArmed = s.singleStepArmed;
    this.shutdownReport = s.shutdownReport;
    this.inShutdown = s.inShutdown;
    this.eventPending = true;
    this.controlChanged();
  }
}
