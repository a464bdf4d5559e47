import type { AddressTranslation, CpuParts, InterruptController, IoBus, PhysicalMemory } from "@pagurus/spec";
import { Exception, PageAccess } from "@pagurus/spec";

/*
 * The state and the data paths of the CPU: general registers, lazily computed arithmetic
 * flags, segment registers with their descriptor caches, control registers, and memory
 * access through segmentation (limit and type checks precomputed per segment), paging
 * (through the AddressTranslation contract) and a per-linear-page TLB that points straight
 * into the RAM fast path. Everything the per-instruction path touches lives in typed arrays
 * or monomorphic fields (docs/architecture.md section 6).
 */

/** Thrown (never allocated per fault) to unwind an instruction that raised an exception. */
export class CpuFault {
  readonly isCpuFault = true;
}
export const FAULT = new CpuFault();

/** Thrown to unwind when the CPU must stop mid-instruction (unimplemented feature, triple fault). */
export class CpuAbort {
  readonly isCpuAbort = true;
}
export const ABORT = new CpuAbort();

/*
 * The hot code (this file, arithmetic.ts, interpreter.ts, ia32-cpu.ts) writes the constants
 * below (flag bits, lazy-flag kinds, segment indices, the sign bit) as literals with the name
 * in a comment: V8 reads a module-level or imported `const` from its cell with a TDZ check on
 * every use, inside `switch` case labels too, which cost about 10% on the loop kernel.
 */

// EFLAGS bits used internally (SDM Vol. 1, 3.4.3).
export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const TF = 0x100;
export const IF = 0x200;
export const DF = 0x400;
export const OF = 0x800;
export const IOPL = 0x3000;
export const NT = 0x4000;
export const RF = 0x10000;
export const VM = 0x20000;
export const AC = 0x40000;
export const VIF = 0x80000;
export const VIP = 0x100000;
export const ID = 0x200000;
export const ARITH_FLAGS = CF | PF | AF | ZF | SF | OF;
/** The EFLAGS bits an i686 lets software write (bit 1 is fixed to 1, 3, 5, 15, 22-31 to 0). */
export const EFLAGS_WRITABLE = ARITH_FLAGS | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;

// CR0 bits (SDM Vol. 3A, 2.5).
export const CR0_PE = 1 << 0;
export const CR0_MP = 1 << 1;
export const CR0_EM = 1 << 2;
export const CR0_TS = 1 << 3;
export const CR0_ET = 1 << 4;
export const CR0_NE = 1 << 5;
export const CR0_WP = 1 << 16;
export const CR0_AM = 1 << 18;
export const CR0_NW = 1 << 29;
export const CR0_CD = 1 << 30;
export const CR0_PG = 1 << 31;

// CR4 bits.
export const CR4_VME = 1 << 0;
export const CR4_PVI = 1 << 1;
export const CR4_TSD = 1 << 2;
export const CR4_DE = 1 << 3;
export const CR4_PSE = 1 << 4;
export const CR4_PAE = 1 << 5;
export const CR4_MCE = 1 << 6;
export const CR4_PGE = 1 << 7;
export const CR4_PCE = 1 << 8;

// Lazy-flag kinds: which operation produced lres/lop1/lop2 (docs/architecture.md section 6).
export const LF_NONE = 0; // every arithmetic flag is in flagsv
export const LF_ADD = 1;
export const LF_ADC = 2; // add with carry-in 1
export const LF_SUB = 3;
export const LF_SBB = 4; // subtract with borrow-in 1
export const LF_LOGIC = 5; // CF = OF = AF = 0
export const LF_INC = 6; // CF kept in flagsv
export const LF_DEC = 7;
export const LF_RES = 8; // CF, OF, AF in flagsv; ZF, SF, PF from the result
// The operand size rides in `lop` above the kind, 0 for 32 bits, so a 32-bit operation stores
// its kind alone and nothing else describes the size: lop & 15 is the kind.
export const LF_8 = 0x10;
export const LF_16 = 0x20;

export const ES = 0;
export const CS = 1;
export const SS = 2;
export const DS = 3;
export const FS = 4;
export const GS = 5;
export const LDTR = 6;
export const TR = 7;

const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i;
  b ^= b >> 4;
  b ^= b >> 2;
  b ^= b >> 1;
  PARITY[i] = (b & 1) === 0 ? 1 : 0;
}

const TLB_ENTRIES = 1 << 20;
const TLB_LOG = 8192;

/** Segment access-byte bits in the cache layout of {@link SegmentState.access}. */
export const ACC_TYPE = 0x0f;
export const ACC_S = 0x10;
export const ACC_P = 0x80;
export const ACC_DB = 0x4000;
export const ACC_G = 0x8000;

export class CpuCore {
  // ---- parts
  readonly memory: PhysicalMemory;
  readonly io: IoBus;
  readonly translation: AddressTranslation | null;
  readonly interrupts: InterruptController | null;
  // `declare`: no class field (which would first hold undefined); the constructor's store
  // creates the property with its typed array at once. Meant to spare the hot loops V8's map
  // checks on these arrays; measured, about 2% (within the noise), and a check remains in the
  // dispatch loop.
  declare readonly ram: Uint8Array;
  /** The same RAM as dwords, for aligned 32-bit accesses (little-endian hosts only). */
  declare readonly ram32: Int32Array;
  declare readonly direct: Uint8Array | null;
  /** The RAM as a DataView: the inline path reads 4 instruction bytes in one load. */
  declare readonly ramView: DataView;
  /**
   * The same RAM as a second DataView, for the inline path's immediates and displacements:
   * V8 then does not keep the opcode fetch's view state alive (and spilled) across the
   * dispatch `switch` for the few instructions that read on.
   */
  declare readonly ramOperands: DataView;

  // ---- registers
  readonly regs = new Int32Array(8);
  /** EIP. */
  pc = 0;
  /** EFLAGS with the arithmetic bits valid only where the lazy kind says so. */
  flagsv = 2;
  /** Lazy-flag kind | LF_8 or LF_16 for a byte or word operation. */
  lop = /* LF_NONE */ 0;
  /** The result, masked to the operation's size. */
  lres = 0;
  lop1 = 0;
  lop2 = 0;

  readonly segSel = new Int32Array(8);
  readonly segBase = new Int32Array(8);
  readonly segLimit = new Int32Array(8);
  readonly segAccess = new Int32Array(8);
  /** Valid read offsets [lo, hi] per segment, sign-flipped for unsigned comparison; lo > hi = unusable. */
  readonly segRlo = new Int32Array(6);
  readonly segRhi = new Int32Array(6);
  readonly segWlo = new Int32Array(6);
  readonly segWhi = new Int32Array(6);
  csBase = 0;
  /** CS limit, sign-flipped. */
  csLimitF = 0;
  /** CS.D: default operand and address size of 32 bits. */
  csD = false;
  /** SS.B: 32-bit stack pointer. */
  ssB = false;
  /**
   * Bit s set: segment register s (< 6) has base 0 and reads and writes every offset (a flat
   * 4 GiB data segment), so its window checks always pass and linear = offset.
   */
  flatRW = 0;
  /** SS.B and SS flat: the inline path's stack accesses need no segment check. */
  ssFlat32 = false;

  cr0 = 0;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  readonly dr = new Int32Array(8);
  gdtrBase = 0;
  gdtrLimit = 0;
  idtrBase = 0;
  idtrLimit = 0;
  cpl = 0;
  a20Mask = -1;

  // ---- per-instruction state
  instrEip = 0;
  instrEsp = 0;
  os32 = false;
  as32 = false;
  segOvr = -1;
  modrm = 0;
  eaSeg = 0;
  eaOff = 0;

  // ---- TLB: linear page -> (physical page | 2 | direct?1), 0 = not cached
  readonly tlbSR = new Int32Array(TLB_ENTRIES);
  readonly tlbSW = new Int32Array(TLB_ENTRIES);
  readonly tlbUR = new Int32Array(TLB_ENTRIES);
  readonly tlbUW = new Int32Array(TLB_ENTRIES);
  tlbR: Int32Array = this.tlbSR;
  tlbW: Int32Array = this.tlbSW;
  readonly tlbLog = new Int32Array(TLB_LOG);
  tlbLogCount = 0;

  /** Instructions the last compiled block retired; -1 when its bytes had changed (blocks.ts). */
  bn = 0;

  // ---- pending exception, filled by raise() before throwing FAULT
  faultVector = 0;
  faultCode = 0;
  faultHasCode = false;

  constructor(parts: CpuParts) {
    this.memory = parts.memory;
    this.io = parts.io;
    this.translation = parts.translation ?? null;
    this.interrupts = parts.interrupts ?? null;
    const fp = parts.memory.fastPath;
    this.ram = fp ? fp.ram : new Uint8Array(0);
    const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
    this.ram32 =
      littleEndian && this.ram.byteOffset % 4 === 0
        ? new Int32Array(this.ram.buffer, this.ram.byteOffset, this.ram.length >>> 2)
        : new Int32Array(0);
    this.direct = fp ? fp.direct : null;
    this.ramView = new DataView(this.ram.buffer, this.ram.byteOffset, this.ram.byteLength);
    this.ramOperands = new DataView(this.ram.buffer, this.ram.byteOffset, this.ram.byteLength);
  }

  // =====================================================================================
  // Exceptions
  // =====================================================================================

  /** Raises an exception with an error code: unwinds the current instruction. */
  raise(vector: number, code: number): never {
    this.faultVector = vector;
    this.faultCode = code;
    this.faultHasCode = true;
    throw FAULT;
  }

  /** Raises an exception that pushes no error code. */
  raiseNoCode(vector: number): never {
    this.faultVector = vector;
    this.faultCode = 0;
    this.faultHasCode = false;
    throw FAULT;
  }

  gp(code: number): never {
    return this.raise(Exception.GP, code);
  }

  ud(): never {
    return this.raiseNoCode(Exception.UD);
  }

  /** A segment limit or type violation: #SS(0) for the stack segment, #GP(0) otherwise (SDM 6.15). */
  segFault(seg: number): never {
    return this.raise(seg === /* SS */ 2 ? Exception.SS : Exception.GP, 0);
  }

  // =====================================================================================
  // Lazy flags
  // =====================================================================================

  setLazy(kind: number, size: number, res: number, op1: number, op2: number): void {
    this.setLazyResult(kind, size, res);
    this.lop1 = op1;
    this.lop2 = op2;
  }

  /** lop and lres for a `size`-bit result: the one place that encodes the size (LF_8, LF_16). */
  setLazyResult(kind: number, size: number, res: number): void {
    if (size === 32) {
      this.lop = kind;
      this.lres = res;
    } else {
      this.lop = kind | (size === 8 ? LF_8 : LF_16);
      this.lres = res & ((1 << size) - 1);
    }
  }

  /** Sets flags from a result with CF, OF and AF given (shifts, multiplies, BCD). */
  setResFlags(size: number, res: number, cfofaf: number): void {
    this.flagsv = (this.flagsv & ~(/* CF */ (0x1 | /* OF */ 0x800 | /* AF */ 0x10))) | cfofaf;
    this.setLazyResult(/* LF_RES */ 8, size, res);
  }

  /** The operand size of the lazy flags in bits. */
  lazySize(): number {
    const lop = this.lop;
    return lop < LF_8 ? 32 : lop < LF_16 ? 8 : 16;
  }

  getCF(): number {
    const size = this.lazySize();
    const m = size === 32 ? -1 : (1 << size) - 1;
    switch (this.lop & 15) {
      case /* LF_ADD */ 1:
        return (this.lres & m) >>> 0 < (this.lop1 & m) >>> 0 ? 1 : 0;
      case /* LF_ADC */ 2:
        return (this.lres & m) >>> 0 <= (this.lop1 & m) >>> 0 ? 1 : 0;
      case /* LF_SUB */ 3:
        return (this.lop1 & m) >>> 0 < (this.lop2 & m) >>> 0 ? 1 : 0;
      case /* LF_SBB */ 4:
        return (this.lop1 & m) >>> 0 <= (this.lop2 & m) >>> 0 ? 1 : 0;
      case /* LF_LOGIC */ 5:
        return 0;
      default:
        return this.flagsv & /* CF */ 0x1;
    }
  }

  getOF(): boolean {
    const s = this.lazySize() - 1;
    switch (this.lop & 15) {
      case /* LF_ADD */ 1:
      case /* LF_ADC */ 2:
      case /* LF_INC */ 6:
        return ((((this.lop1 ^ this.lres) & (this.lop2 ^ this.lres)) >>> s) & 1) !== 0;
      case /* LF_SUB */ 3:
      case /* LF_SBB */ 4:
      case /* LF_DEC */ 7:
        return ((((this.lop1 ^ this.lop2) & (this.lop1 ^ this.lres)) >>> s) & 1) !== 0;
      case /* LF_LOGIC */ 5:
        return false;
      default:
        return (this.flagsv & /* OF */ 0x800) !== 0;
    }
  }

  getAF(): number {
    switch (this.lop & 15) {
      case /* LF_ADD */ 1:
      case /* LF_ADC */ 2:
      case /* LF_INC */ 6:
      case /* LF_SUB */ 3:
      case /* LF_SBB */ 4:
      case /* LF_DEC */ 7:
        return (this.lop1 ^ this.lop2 ^ this.lres) & /* AF */ 0x10;
      case /* LF_LOGIC */ 5:
        return 0;
      default:
        return this.flagsv & /* AF */ 0x10;
    }
  }

  getZF(): boolean {
    return this.lop === /* LF_NONE */ 0 ? (this.flagsv & /* ZF */ 0x40) !== 0 : this.lres === 0;
  }

  getSF(): boolean {
    return this.lop === /* LF_NONE */ 0
      ? (this.flagsv & /* SF */ 0x80) !== 0
      : ((this.lres >>> (this.lazySize() - 1)) & 1) !== 0;
  }

  getPF(): boolean {
    return this.lop === /* LF_NONE */ 0 ? (this.flagsv & /* PF */ 0x4) !== 0 : PARITY[this.lres & 0xff] === 1;
  }

  /** Folds the lazy flags into flagsv. */
  materializeFlags(): void {
    const lop = this.lop & 15;
    if (lop === /* LF_NONE */ 0) return;
    // ZF, SF and PF come from the result for every lazy kind; CF, OF and AF by kind.
    const res = this.lres;
    let f =
      (PARITY[res & 0xff] << 2) |
      (res === 0 ? /* ZF */ 0x40 : 0) |
      ((res >>> (this.lazySize() - 1)) & 1 ? /* SF */ 0x80 : 0);
    if (lop === /* LF_LOGIC */ 5) {
      // CF = OF = AF = 0
    } else if (lop === /* LF_RES */ 8) {
      f |= this.flagsv & /* CF */ (0x1 | /* OF */ 0x800 | /* AF */ 0x10);
    } else {
      f |= this.getCF() | this.getAF() | (this.getOF() ? /* OF */ 0x800 : 0);
    }
    this.flagsv = (this.flagsv & ~(/* ARITH_FLAGS */ 0x8d5)) | f;
    this.lop = /* LF_NONE */ 0;
  }

  /**
   * Folds the lazy flags into flagsv with CF and OF replaced by `cfof` (rotates): like
   * materializeFlags, without computing the CF and OF it would throw away.
   */
  replaceCfOf(cf: number, of: number): void {
    const lop = this.lop & 15;
    let f: number;
    if (lop === /* LF_NONE */ 0) {
      f = this.flagsv & /* PF */ (0x4 | /* AF */ 0x10 | /* ZF */ 0x40 | /* SF */ 0x80);
    } else {
      const res = this.lres;
      f =
        (PARITY[res & 0xff] << 2) |
        (res === 0 ? /* ZF */ 0x40 : 0) |
        ((res >>> (this.lazySize() - 1)) & 1 ? /* SF */ 0x80 : 0);
      if (lop === /* LF_RES */ 8) f |= this.flagsv & /* AF */ 0x10;
      else if (lop !== /* LF_LOGIC */ 5) f |= (this.lop1 ^ this.lop2 ^ this.lres) & /* AF */ 0x10;
      this.lop = /* LF_NONE */ 0;
    }
    this.flagsv = (this.flagsv & ~(/* ARITH_FLAGS */ 0x8d5)) | f | cf | of;
  }

  getEflags(): number {
    this.materializeFlags();
    return this.flagsv;
  }

  /** Keeps CF across INC/DEC, which leave it unchanged. */
  keepCF(): void {
    const cf = this.getCF();
    this.flagsv = (this.flagsv & ~(/* CF */ 0x1)) | cf;
  }

  /** Condition code cc (the low nibble of Jcc/SETcc/CMOVcc; SDM Vol. 1, B.1). */
  cond(cc: number): boolean {
    if ((cc & 0xe) === 4 && this.lop !== /* LF_NONE */ 0) return (this.lres === 0) !== ((cc & 1) !== 0);
    let r: boolean;
    switch (cc >> 1) {
      case 0:
        r = this.getOF();
        break;
      case 1:
        r = this.getCF() !== 0;
        break;
      case 2:
        r = this.getZF();
        break;
      case 3:
        r = this.getCF() !== 0 || this.getZF();
        break;
      case 4:
        r = this.getSF();
        break;
      case 5:
        r = this.getPF();
        break;
      case 6:
        r = this.getSF() !== this.getOF();
        break;
      default:
        r = this.getZF() || this.getSF() !== this.getOF();
        break;
    }
    return (cc & 1) === 0 ? r : !r;
  }

  // =====================================================================================
  // Registers
  // =====================================================================================

  getReg8(r: number): number {
    return r < 4 ? this.regs[r] & 0xff : (this.regs[r - 4] >> 8) & 0xff;
  }

  setReg8(r: number, v: number): void {
    if (r < 4) this.regs[r] = (this.regs[r] & ~0xff) | (v & 0xff);
    else this.regs[r - 4] = (this.regs[r - 4] & ~0xff00) | ((v & 0xff) << 8);
  }

  getReg16(r: number): number {
    return this.regs[r] & 0xffff;
  }

  setReg16(r: number, v: number): void {
    this.regs[r] = (this.regs[r] & ~0xffff) | (v & 0xffff);
  }

  // =====================================================================================
  // Segments: precomputed access windows
  // =====================================================================================

  /**
   * Recomputes the read/write windows of a data segment register from its cache
   * (SDM Vol. 3A, 5.3 limit checking, 5.4 type checking). In real mode every segment is
   * readable and writable within its (possibly unreal) limit.
   */
  updateSegWindows(seg: number): void {
    const acc = this.segAccess[seg];
    const limit = this.segLimit[seg];
    let lo = 0;
    let hi = limit;
    let readable = true;
    let writable = true;
    const pe = (this.cr0 & CR0_PE) !== 0;
    if (!pe) {
      // Real mode: the cached limit still applies (that is what makes unreal mode work).
    } else if ((acc & ACC_S) === 0 || (acc & ACC_P) === 0) {
      // Unusable: loading a null selector in protected mode leaves access = 0. A selector 0
      // loaded in real mode stays usable after CR0.PE is set, as on hardware.
      readable = false;
      writable = false;
    } else if (acc & 8) {
      readable = (acc & 2) !== 0;
      writable = false;
    } else {
      writable = (acc & 2) !== 0;
      if (acc & 4) {
        // expand-down: valid offsets are limit+1 .. 0xFFFF or 0xFFFFFFFF (SDM Vol. 3A, 3.4.5.1)
        lo = (limit + 1) | 0;
        hi = acc & ACC_DB ? -1 : 0xffff;
      }
    }
    if (seg < 6) {
      this.segRlo[seg] = readable ? lo ^ /* MIN */ -0x80000000 : 1 ^ /* MIN */ -0x80000000;
      this.segRhi[seg] = readable ? hi ^ /* MIN */ -0x80000000 : 0 ^ /* MIN */ -0x80000000;
      this.segWlo[seg] = writable ? lo ^ /* MIN */ -0x80000000 : 1 ^ /* MIN */ -0x80000000;
      this.segWhi[seg] = writable ? hi ^ /* MIN */ -0x80000000 : 0 ^ /* MIN */ -0x80000000;
      if (readable && writable && lo === 0 && hi === -1 && this.segBase[seg] === 0) this.flatRW |= 1 << seg;
      else this.flatRW &= ~(1 << seg);
    }
    if (seg === /* CS */ 1) {
      this.invalidateFetch();
      this.csBase = this.segBase[/* CS */ 1];
      this.csLimitF = this.segLimit[/* CS */ 1] ^ /* MIN */ -0x80000000;
      this.csD = (acc & ACC_DB) !== 0 && pe;
    } else if (seg === /* SS */ 2) {
      this.ssB = (acc & ACC_DB) !== 0 && pe;
    }
    this.ssFlat32 = this.ssB && (this.flatRW & (1 << /* SS */ 2)) !== 0;
  }

  /** In real mode D/B are ignored for sizes only if the cache came from real mode; keep the SDM rule. */
  refreshAllSegments(): void {
    for (let s = 0; s < 6; s++) this.updateSegWindows(s);
  }

  // =====================================================================================
  // TLB and translation
  // =====================================================================================

  setCpl(cpl: number): void {
    this.cpl = cpl;
    this.invalidateFetch();
    this.selectTlb();
  }

  /** Alignment checking is on: CR0.AM, EFLAGS.AC and CPL 3 (SDM Vol. 3A, 6.15, #AC). */
  alignCheck = false;
  /** An always-missing TLB: while alignment checking is on every access takes the slow path. */
  tlbMiss: Int32Array | null = null;

  selectTlb(): void {
    this.alignCheck = this.cpl === 3 && (this.cr0 & CR0_AM) !== 0 && (this.flagsv & AC) !== 0;
    if (this.alignCheck) {
      if (this.tlbMiss === null) this.tlbMiss = new Int32Array(TLB_ENTRIES);
      this.tlbR = this.tlbMiss;
      this.tlbW = this.tlbMiss;
    } else if (this.cpl === 3) {
      this.tlbR = this.tlbUR;
      this.tlbW = this.tlbUW;
    } else {
      this.tlbR = this.tlbSR;
      this.tlbW = this.tlbSW;
    }
  }

  /** #AC(0) for a misaligned user access while alignment checking is on. */
  checkAlign(lin: number, size: number, user: boolean): void {
    if (user && this.alignCheck && (lin & (size - 1)) !== 0) this.raise(Exception.AC, 0);
  }

  flushTlbs(): void {
    this.invalidateFetch();
    if (this.tlbLogCount > TLB_LOG) {
      this.tlbSR.fill(0);
      this.tlbSW.fill(0);
      this.tlbUR.fill(0);
      this.tlbUW.fill(0);
    } else {
      const log = this.tlbLog;
      for (let i = 0; i < this.tlbLogCount; i++) {
        const p = log[i];
        this.tlbSR[p] = 0;
        this.tlbSW[p] = 0;
        this.tlbUR[p] = 0;
        this.tlbUW[p] = 0;
      }
    }
    this.tlbLogCount = 0;
  }

  flushTlbPage(lin: number): void {
    this.invalidateFetch();
    const p = lin >>> 12;
    this.tlbSR[p] = 0;
    this.tlbSW[p] = 0;
    this.tlbUR[p] = 0;
    this.tlbUW[p] = 0;
  }

  /** Translates a linear address for one access and caches the page; may raise #PF. */
  fillTlb(lin: number, write: boolean, user: boolean, fetch: boolean): number {
    let phys: number;
    if ((this.cr0 & CR0_PG) !== 0 && this.translation !== null) {
      const access =
        (write ? PageAccess.Write : 0) | (user ? PageAccess.User : 0) | (fetch ? PageAccess.Fetch : 0);
      phys = this.translation.translate(lin >>> 0, access);
      if (phys === -1) {
        this.cr2 = lin | 0;
        return this.raise(Exception.PF, this.translation.faultErrorCode);
      }
    } else {
      phys = lin;
    }
    phys = phys & this.a20Mask;
    const page = phys & -4096;
    const d = this.direct;
    const isDirect = d !== null && (d[phys >>> 12] & (write ? 2 : 1)) !== 0 && phys >>> 0 < this.ram.length;
    const e = page | 2 | (isDirect ? 1 : 0);
    const lp = lin >>> 12;
    const table = user ? (write ? this.tlbUW : this.tlbUR) : write ? this.tlbSW : this.tlbSR;
    table[lp] = e;
    if (this.tlbLogCount < TLB_LOG) this.tlbLog[this.tlbLogCount] = lp;
    this.tlbLogCount++;
    return e;
  }

  /** The cached entry for an access, translating (and caching) on a miss; may raise #PF. */
  lookupTlb(lin: number, write: boolean, user: boolean): number {
    const table = user ? (write ? this.tlbUW : this.tlbUR) : write ? this.tlbSW : this.tlbSR;
    const e = table[lin >>> 12];
    return (e & 2) !== 0 ? e : this.fillTlb(lin, write, user, false);
  }

  // ---- linear reads and writes at the current privilege (paging's U/S from CPL)

  rl8(lin: number): number {
    const e = this.tlbR[lin >>> 12];
    if ((e & 1) !== 0) return this.ram[(e & -4096) | (lin & 4095)];
    return this.rl8slow(lin, this.cpl === 3);
  }

  rl8slow(lin: number, user: boolean): number {
    const e = this.lookupTlb(lin, false, user);
    const p = (e & -4096) | (lin & 4095);
    if ((e & 1) !== 0) return this.ram[p];
    return this.memory.read8(p >>> 0);
  }

  rl16(lin: number): number {
    const e = this.tlbR[lin >>> 12];
    if ((e & 1) !== 0 && (lin & 4095) !== 4095) {
      const p = (e & -4096) | (lin & 4095);
      const ram = this.ram;
      return ram[p] | (ram[p + 1] << 8);
    }
    return this.rl16slow(lin, this.cpl === 3);
  }

  rl16slow(lin: number, user: boolean): number {
    this.checkAlign(lin, 2, user);
    if ((lin & 4095) === 4095) return this.rl8slow(lin, user) | (this.rl8slow((lin + 1) | 0, user) << 8);
    const e = this.lookupTlb(lin, false, user);
    const p = (e & -4096) | (lin & 4095);
    if ((e & 1) !== 0) return this.ram[p] | (this.ram[p + 1] << 8);
    return this.memory.read16(p >>> 0);
  }

  rl32(lin: number): number {
    const e = this.tlbR[lin >>> 12];
    if ((e & 1) !== 0 && (lin & 4095) <= 4092) {
      const p = (e & -4096) | (lin & 4095);
      if ((p & 3) === 0 && p >>> 2 < this.ram32.length) return this.ram32[p >>> 2];
      const ram = this.ram;
      return ram[p] | (ram[p + 1] << 8) | (ram[p + 2] << 16) | (ram[p + 3] << 24);
    }
    return this.rl32slow(lin, this.cpl === 3);
  }

  rl32slow(lin: number, user: boolean): number {
    this.checkAlign(lin, 4, user);
    if ((lin & 4095) > 4092) {
      const lo = this.rl16slow(lin, user);
      return lo | (this.rl16slow((lin + 2) | 0, user) << 16);
    }
    const e = this.lookupTlb(lin, false, user);
    const p = (e & -4096) | (lin & 4095);
    if ((e & 1) !== 0) {
      const ram = this.ram;
      return ram[p] | (ram[p + 1] << 8) | (ram[p + 2] << 16) | (ram[p + 3] << 24);
    }
    return this.memory.read32(p >>> 0) | 0;
  }

  wl8(lin: number, v: number): void {
    const e = this.tlbW[lin >>> 12];
    if ((e & 1) !== 0) {
      this.ram[(e & -4096) | (lin & 4095)] = v;
      return;
    }
    this.wl8slow(lin, v, this.cpl === 3);
  }

  wl8slow(lin: number, v: number, user: boolean): void {
    const e = this.lookupTlb(lin, true, user);
    const p = (e & -4096) | (lin & 4095);
    if ((e & 1) !== 0) this.ram[p] = v;
    else this.memory.write8(p >>> 0, v & 0xff);
  }

  wl16(lin: number, v: number): void {
    const e = this.tlbW[lin >>> 12];
    if ((e & 1) !== 0 && (lin & 4095) !== 4095) {
      const p = (e & -4096) | (lin & 4095);
      this.ram[p] = v;
      this.ram[p + 1] = v >> 8;
      return;
    }
    this.wl16slow(lin, v, this.cpl === 3);
  }

  wl16slow(lin: number, v: number, user: boolean): void {
    this.checkAlign(lin, 2, user);
    if ((lin & 4095) === 4095) {
      // Check both pages before writing either byte, so a #PF leaves memory untouched.
      this.lookupTlb(lin, true, user);
      this.lookupTlb((lin + 1) | 0, true, user);
      this.wl8slow(lin, v, user);
      this.wl8slow((lin + 1) | 0, v >> 8, user);
      return;
    }
    const e = this.lookupTlb(lin, true, user);
    const p = (e & -4096) | (lin & 4095);
    if ((e & 1) !== 0) {
      this.ram[p] = v;
      this.ram[p + 1] = v >> 8;
    } else this.memory.write16(p >>> 0, v & 0xffff);
  }

  wl32(lin: number, v: number): void {
    const e = this.tlbW[lin >>> 12];
    if ((e & 1) !== 0 && (lin & 4095) <= 4092) {
      const p = (e & -4096) | (lin & 4095);
      if ((p & 3) === 0 && p >>> 2 < this.ram32.length) {
        this.ram32[p >>> 2] = v;
        return;
      }
      const ram = this.ram;
      ram[p] = v;
      ram[p + 1] = v >> 8;
      ram[p + 2] = v >> 16;
      ram[p + 3] = v >> 24;
      return;
    }
    this.wl32slow(lin, v, this.cpl === 3);
  }

  wl32slow(lin: number, v: number, user: boolean): void {
    this.checkAlign(lin, 4, user);
    if ((lin & 4095) > 4092) {
      this.lookupTlb(lin, true, user);
      this.lookupTlb((lin + 4) | 0, true, user);
      for (let i = 0; i < 4; i++) this.wl8slow((lin + i) | 0, v >> (8 * i), user);
      return;
    }
    const e = this.lookupTlb(lin, true, user);
    const p = (e & -4096) | (lin & 4095);
    if ((e & 1) !== 0) {
      const ram = this.ram;
      ram[p] = v;
      ram[p + 1] = v >> 8;
      ram[p + 2] = v >> 16;
      ram[p + 3] = v >> 24;
    } else this.memory.write32(p >>> 0, v >>> 0);
  }

  /** Checks that a write of `size` bytes at `lin` would not page-fault (for multi-part writes). */
  probeWrite(lin: number, size: number): void {
    const user = this.cpl === 3;
    if ((this.tlbW[lin >>> 12] & 2) === 0) this.fillTlb(lin, true, user, false);
    const last = (lin + size - 1) | 0;
    if ((this.tlbW[last >>> 12] & 2) === 0) this.fillTlb(last, true, user, false);
  }

  // ---- implicit supervisor accesses (descriptor tables, TSS: SDM 5.2, 4.6.1)

  sysRead8(lin: number): number {
    return this.rl8slow(lin, false);
  }
  sysRead16(lin: number): number {
    return this.rl16slow(lin, false);
  }
  sysRead32(lin: number): number {
    return this.rl32slow(lin, false);
  }
  sysWrite8(lin: number, v: number): void {
    this.wl8slow(lin, v, false);
  }
  sysWrite16(lin: number, v: number): void {
    this.wl16slow(lin, v, false);
  }
  sysWrite32(lin: number, v: number): void {
    this.wl32slow(lin, v, false);
  }

  // =====================================================================================
  // Segmented access
  // =====================================================================================

  rd8(seg: number, off: number): number {
    if ((off ^ /* MIN */ -0x80000000) < this.segRlo[seg] || (off ^ /* MIN */ -0x80000000) > this.segRhi[seg])
      this.segFault(seg);
    return this.rl8((this.segBase[seg] + off) | 0);
  }

  rd16(seg: number, off: number): number {
    if (
      (off ^ /* MIN */ -0x80000000) < this.segRlo[seg] ||
      ((off + 1) ^ /* MIN */ -0x80000000) > this.segRhi[seg]
    )
      this.segFault(seg);
    return this.rl16((this.segBase[seg] + off) | 0);
  }

  rd32(seg: number, off: number): number {
    if (
      (off ^ /* MIN */ -0x80000000) < this.segRlo[seg] ||
      ((off + 3) ^ /* MIN */ -0x80000000) > this.segRhi[seg]
    )
      this.segFault(seg);
    return this.rl32((this.segBase[seg] + off) | 0);
  }

  wr8(seg: number, off: number, v: number): void {
    if ((off ^ /* MIN */ -0x80000000) < this.segWlo[seg] || (off ^ /* MIN */ -0x80000000) > this.segWhi[seg])
      this.segFault(seg);
    this.wl8((this.segBase[seg] + off) | 0, v);
  }

  wr16(seg: number, off: number, v: number): void {
    if (
      (off ^ /* MIN */ -0x80000000) < this.segWlo[seg] ||
      ((off + 1) ^ /* MIN */ -0x80000000) > this.segWhi[seg]
    )
      this.segFault(seg);
    this.wl16((this.segBase[seg] + off) | 0, v);
  }

  wr32(seg: number, off: number, v: number): void {
    if (
      (off ^ /* MIN */ -0x80000000) < this.segWlo[seg] ||
      ((off + 3) ^ /* MIN */ -0x80000000) > this.segWhi[seg]
    )
      this.segFault(seg);
    this.wl32((this.segBase[seg] + off) | 0, v);
  }

  /** Checks a write window without writing (multi-part stores: PUSHA, ENTER, far CALL). */
  checkWrite(seg: number, off: number, size: number): void {
    if (
      (off ^ /* MIN */ -0x80000000) < this.segWlo[seg] ||
      ((off + size - 1) ^ /* MIN */ -0x80000000) > this.segWhi[seg]
    )
      this.segFault(seg);
    this.probeWrite((this.segBase[seg] + off) | 0, size);
  }

  /** The segment part of a write check only (no paging). */
  checkWriteSegment(seg: number, off: number, size: number): void {
    if (
      (off ^ /* MIN */ -0x80000000) < this.segWlo[seg] ||
      ((off + size - 1) ^ /* MIN */ -0x80000000) > this.segWhi[seg]
    )
      this.segFault(seg);
  }

  checkRead(seg: number, off: number, size: number): void {
    if (
      (off ^ /* MIN */ -0x80000000) < this.segRlo[seg] ||
      ((off + size - 1) ^ /* MIN */ -0x80000000) > this.segRhi[seg]
    )
      this.segFault(seg);
  }

  // =====================================================================================
  // Instruction fetch
  // =====================================================================================

  /**
   * Fetch window: while fetchLo <= EIP <= fetchHi (one page of plain RAM inside the CS limit)
   * the byte at EIP is ram[EIP + fetchDelta]. Invalidated with the TLB, CS loads and CPL changes.
   */
  fetchLo = 1;
  fetchHi = 0;
  fetchDelta = 0;

  invalidateFetch(): void {
    this.fetchLo = 1;
    this.fetchHi = 0;
  }

  fetch8(): number {
    const pc = this.pc;
    if (pc >= this.fetchLo && pc <= this.fetchHi) {
      this.pc = pc + 1;
      return this.ram[pc + this.fetchDelta];
    }
    return this.fetch8slow();
  }

  fetch8slow(): number {
    const pc = this.pc;
    if ((pc ^ /* MIN */ -0x80000000) > this.csLimitF) this.gp(0);
    const lin = (this.csBase + pc) | 0;
    let e = this.tlbR[lin >>> 12];
    if ((e & 2) === 0) e = this.fillTlb(lin, false, this.cpl === 3, true);
    const p = (e & -4096) | (lin & 4095);
    this.pc = (pc + 1) | 0;
    if ((e & 1) === 0) return this.memory.read8(p >>> 0);
    // Open a window over this page, inside the CS limit and on one side of EIP's sign bit
    // (the window bounds are compared as int32).
    const upc = pc >>> 0;
    let lo = upc - (lin & 4095);
    let hi = lo + 4095;
    const limit = this.csLimitF ^ /* MIN */ -0x80000000;
    if (lo < 0) lo = 0;
    if (hi > limit >>> 0) hi = limit >>> 0;
    if (upc >= 0x80000000) {
      if (lo < 0x80000000) lo = 0x80000000;
    } else if (hi >= 0x80000000) hi = 0x7fffffff;
    // A RAM size that is not a multiple of the page: the window ends with the RAM.
    if (this.ram.length - 1 - p < hi - upc) hi = upc + (this.ram.length - 1 - p);
    this.fetchLo = lo | 0;
    this.fetchHi = hi | 0;
    this.fetchDelta = ((e & -4096) + (lin & 4095) - upc) | 0;
    return this.ram[p];
  }

  fetch16(): number {
    const pc = this.pc;
    if (pc >= this.fetchLo && pc + 1 <= this.fetchHi) {
      this.pc = pc + 2;
      const p = pc + this.fetchDelta;
      return this.ram[p] | (this.ram[p + 1] << 8);
    }
    const lo = this.fetch8();
    return lo | (this.fetch8() << 8);
  }

  fetch32(): number {
    const pc = this.pc;
    if (pc >= this.fetchLo && pc + 3 <= this.fetchHi) {
      this.pc = pc + 4;
      const p = pc + this.fetchDelta;
      const ram = this.ram;
      return ram[p] | (ram[p + 1] << 8) | (ram[p + 2] << 16) | (ram[p + 3] << 24);
    }
    const b0 = this.fetch8();
    const b1 = this.fetch8();
    const b2 = this.fetch8();
    return b0 | (b1 << 8) | (b2 << 16) | (this.fetch8() << 24);
  }

  /** A 16- or 32-bit immediate by operand size. */
  fetchImmV(): number {
    return this.os32 ? this.fetch32() : this.fetch16();
  }

  // =====================================================================================
  // ModRM
  // =====================================================================================

  /** Reads ModRM (and SIB/displacement) and, for a memory operand, sets eaSeg/eaOff. */
  decodeModrm(): void {
    const m = this.fetch8();
    this.modrm = m;
    if (m < 0xc0) this.decodeEA(m);
  }

  /** The memory operand of ModRM byte `m` (mod != 3) into eaSeg/eaOff (SDM Vol. 2, 2.1.5). */
  decodeEA(m: number): void {
    if (this.as32) {
      this.decodeEA32(m);
      return;
    }
    this.decodeEA16(m);
  }

  /** 32-bit addressing: [base + index*scale + disp] (SDM Vol. 2, table 2-2 and 2-3). */
  decodeEA32(m: number): void {
    const mod = m >> 6;
    const rm = m & 7;
    let seg = /* DS */ 3;
    let off: number;
    const pc = this.pc;
    if (pc >= this.fetchLo && pc + 4 <= this.fetchHi) {
      // SIB and displacement (at most 5 bytes) are inside the fetch window: read them from RAM.
      const ram = this.ram;
      const r = this.regs;
      let q = pc + this.fetchDelta;
      if (rm === 4) {
        const sib = ram[q++];
        const base = sib & 7;
        const index = (sib >> 3) & 7;
        if (base === 5 && mod === 0) {
          off = ram[q] | (ram[q + 1] << 8) | (ram[q + 2] << 16) | (ram[q + 3] << 24);
          q += 4;
        } else {
          off = r[base];
          if (base === 4 || base === 5) seg = /* SS */ 2;
        }
        if (index !== 4) off = (off + (r[index] << (sib >> 6))) | 0;
      } else if (rm === 5 && mod === 0) {
        off = ram[q] | (ram[q + 1] << 8) | (ram[q + 2] << 16) | (ram[q + 3] << 24);
        q += 4;
      } else {
        off = r[rm];
        if (rm === 5) seg = /* SS */ 2;
      }
      if (mod === 1) off = (off + ((ram[q++] << 24) >> 24)) | 0;
      else if (mod === 2) {
        off = (off + (ram[q] | (ram[q + 1] << 8) | (ram[q + 2] << 16) | (ram[q + 3] << 24))) | 0;
        q += 4;
      }
      this.pc = q - this.fetchDelta;
      this.eaSeg = this.segOvr >= 0 ? this.segOvr : seg;
      this.eaOff = off;
      return;
    }
    if (rm === 4) {
      const sib = this.fetch8();
      const base = sib & 7;
      const index = (sib >> 3) & 7;
      if (base === 5 && mod === 0) {
        off = this.fetch32();
      } else {
        off = this.regs[base];
        if (base === 4 || base === 5) seg = /* SS */ 2;
      }
      if (index !== 4) off = (off + (this.regs[index] << (sib >> 6))) | 0;
    } else if (rm === 5 && mod === 0) {
      off = this.fetch32();
    } else {
      off = this.regs[rm];
      if (rm === 5) seg = /* SS */ 2;
    }
    if (mod === 1) off = (off + ((this.fetch8() << 24) >> 24)) | 0;
    else if (mod === 2) off = (off + this.fetch32()) | 0;
    this.eaSeg = this.segOvr >= 0 ? this.segOvr : seg;
    this.eaOff = off;
  }

  /** 16-bit addressing: BX/BP + SI/DI + disp, wrapped to 64 KiB (SDM Vol. 2, table 2-1). */
  decodeEA16(m: number): void {
    const mod = m >> 6;
    const rm = m & 7;
    let seg = /* DS */ 3;
    let off: number;
    {
      const r = this.regs;
      switch (rm) {
        case 0:
          off = r[3] + r[6];
          break;
        case 1:
          off = r[3] + r[7];
          break;
        case 2:
          off = r[5] + r[6];
          seg = /* SS */ 2;
          break;
        case 3:
          off = r[5] + r[7];
          seg = /* SS */ 2;
          break;
        case 4:
          off = r[6];
          break;
        case 5:
          off = r[7];
          break;
        case 6:
          if (mod === 0) off = this.fetch16();
          else {
            off = r[5];
            seg = /* SS */ 2;
          }
          break;
        default:
          off = r[3];
          break;
      }
      if (mod === 1) off += (this.fetch8() << 24) >> 24;
      else if (mod === 2) off += this.fetch16();
      off &= 0xffff;
    }
    this.eaSeg = this.segOvr >= 0 ? this.segOvr : seg;
    this.eaOff = off;
  }

  readE8(): number {
    const m = this.modrm;
    return m >= 0xc0 ? this.getReg8(m & 7) : this.rd8(this.eaSeg, this.eaOff);
  }
  writeE8(v: number): void {
    const m = this.modrm;
    if (m >= 0xc0) this.setReg8(m & 7, v);
    else this.wr8(this.eaSeg, this.eaOff, v);
  }
  readE16(): number {
    const m = this.modrm;
    return m >= 0xc0 ? this.regs[m & 7] & 0xffff : this.rd16(this.eaSeg, this.eaOff);
  }
  writeE16(v: number): void {
    const m = this.modrm;
    if (m >= 0xc0) this.setReg16(m & 7, v);
    else this.wr16(this.eaSeg, this.eaOff, v);
  }
  readE32(): number {
    const m = this.modrm;
    return m >= 0xc0 ? this.regs[m & 7] : this.rd32(this.eaSeg, this.eaOff);
  }
  writeE32(v: number): void {
    const m = this.modrm;
    if (m >= 0xc0) this.regs[m & 7] = v;
    else this.wr32(this.eaSeg, this.eaOff, v);
  }
  readEv(): number {
    return this.os32 ? this.readE32() : this.readE16();
  }
  writeEv(v: number): void {
    if (this.os32) this.writeE32(v);
    else this.writeE16(v);
  }
  /** The reg field of ModRM as a word/dword register. */
  readGv(): number {
    const r = (this.modrm >> 3) & 7;
    return this.os32 ? this.regs[r] : this.regs[r] & 0xffff;
  }
  writeGv(v: number): void {
    const r = (this.modrm >> 3) & 7;
    if (this.os32) this.regs[r] = v;
    else this.setReg16(r, v);
  }

  // =====================================================================================
  // Stack (SDM Vol. 1, 6.2: SS.B selects ESP or SP)
  // =====================================================================================

  push16(v: number): void {
    const esp = this.regs[4];
    if (this.ssB) {
      const n = (esp - 2) | 0;
      this.wr16(/* SS */ 2, n, v);
      this.regs[4] = n;
    } else {
      const n = (esp - 2) & 0xffff;
      this.wr16(/* SS */ 2, n, v);
      this.regs[4] = (esp & ~0xffff) | n;
    }
  }

  push32(v: number): void {
    const esp = this.regs[4];
    if (this.ssB) {
      const n = (esp - 4) | 0;
      this.wr32(/* SS */ 2, n, v);
      this.regs[4] = n;
    } else {
      const n = (esp - 4) & 0xffff;
      this.wr32(/* SS */ 2, n, v);
      this.regs[4] = (esp & ~0xffff) | n;
    }
  }

  pushv(v: number): void {
    if (this.os32) this.push32(v);
    else this.push16(v);
  }

  /** Stack pointer offset `delta` bytes above the top, wrapped to the stack size. */
  stackOff(delta: number): number {
    const esp = this.regs[4];
    return this.ssB ? (esp + delta) | 0 : (esp + delta) & 0xffff;
  }

  addEsp(delta: number): void {
    const esp = this.regs[4];
    this.regs[4] = this.ssB ? (esp + delta) | 0 : (esp & ~0xffff) | ((esp + delta) & 0xffff);
  }

  pop16(): number {
    const v = this.rd16(/* SS */ 2, this.stackOff(0));
    this.addEsp(2);
    return v;
  }

  pop32(): number {
    const v = this.rd32(/* SS */ 2, this.stackOff(0));
    this.addEsp(4);
    return v;
  }

  popv(): number {
    return this.os32 ? this.pop32() : this.pop16();
  }
}
