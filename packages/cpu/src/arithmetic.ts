import { Exception } from "@pagurus/spec";
import { ABORT, DF } from "./core.js";
import { SystemCpu } from "./system.js";

/*
 * The execution units the decoder calls: the ALU with lazy flags, shifts and rotates,
 * multiply and divide, near-jump and software-interrupt helpers, and the string
 * instructions in both address sizes (Intel SDM Vol. 1, chapter 7; Vol. 2 per instruction).
 */

function signExtend8(v: number): number {
  return (v << 24) >> 24;
}
function signExtend16(v: number): number {
  return (v << 16) >> 16;
}

export class Arithmetic extends SystemCpu {
  /** Retired instructions. */
  icount = 0;
  /** Interrupts are inhibited at the boundary where icount equals this (STI, MOV SS shadow). */
  shadowAt = -1;
  /** Something needs the slow check at the next instruction boundary. */
  eventPending = true;
  /** Added to icount for RDTSC (WRMSR to IA32_TIME_STAMP_COUNTER). */
  tscOffset = 0;
  /** Extra CPUID.1:EDX feature bits (PSE, PGE) the paging unit provides. */
  pagingFeatures = 0;

  override onInterruptsEnabled(): void {
    this.eventPending = true;
  }

  // =====================================================================================
  // ALU helpers
  // =====================================================================================

  /** ADD OR ADC SBB AND SUB XOR CMP on `size`-bit operands; returns the result. */
  alu(op: number, size: number, a: number, b: number): number {
    let r: number;
    switch (op) {
      case 0:
        r = (a + b) | 0;
        this.setLazy(/* LF_ADD */ 1, size, r, a, b);
        break;
      case 1:
        r = a | b;
        this.setLazy(/* LF_LOGIC */ 5, size, r, 0, 0);
        break;
      case 2: {
        const c = this.getCF();
        r = (a + b + c) | 0;
        this.setLazy(c ? /* LF_ADC */ 2 : /* LF_ADD */ 1, size, r, a, b);
        break;
      }
      case 3: {
        const c = this.getCF();
        r = (a - b - c) | 0;
        this.setLazy(c ? /* LF_SBB */ 4 : /* LF_SUB */ 3, size, r, a, b);
        break;
      }
      case 4:
        r = a & b;
        this.setLazy(/* LF_LOGIC */ 5, size, r, 0, 0);
        break;
      case 6:
        r = a ^ b;
        this.setLazy(/* LF_LOGIC */ 5, size, r, 0, 0);
        break;
      default:
        r = (a - b) | 0;
        this.setLazy(/* LF_SUB */ 3, size, r, a, b);
        break;
    }
    return r;
  }

  inc(size: number, v: number): number {
    this.keepCF();
    const r = (v + 1) | 0;
    this.setLazy(/* LF_INC */ 6, size, r, v, 1);
    return r;
  }

  dec(size: number, v: number): number {
    this.keepCF();
    const r = (v - 1) | 0;
    this.setLazy(/* LF_DEC */ 7, size, r, v, 1);
    return r;
  }

  /** ROL ROR RCL RCR SHL SHR SAL SAR (SDM "RCL/RCR/ROL/ROR" and "SAL/SAR/SHL/SHR"). */
  shift(op: number, size: number, v: number, count: number): number {
    count &= 31;
    if (count === 0) return v;
    const mask = size === 32 ? -1 : (1 << size) - 1;
    const top = size - 1;
    v &= mask;
    let r: number;
    let cf: number;
    switch (op) {
      case 0: {
        // ROL: only CF and OF change
        const c = count & top;
        r = c === 0 ? v : ((v << c) | (v >>> (size - c))) & mask;
        cf = r & 1;
        this.setCfOf(cf, ((r >>> top) & 1) ^ cf);
        return r;
      }
      case 1: {
        const c = count & top;
        r = c === 0 ? v : ((v >>> c) | (v << (size - c))) & mask;
        cf = (r >>> top) & 1;
        this.setCfOf(cf, cf ^ ((r >>> (top - 1)) & 1));
        return r;
      }
      case 2: {
        // RCL: rotate through CF over size+1 bits
        const c = size === 32 ? count : count % (size + 1);
        if (c === 0) return v;
        const oldCf = this.getCF();
        if (size === 32) {
          r = c === 1 ? (v << 1) | oldCf : (v << c) | (oldCf << (c - 1)) | (v >>> (33 - c));
          cf = (v >>> (32 - c)) & 1;
        } else {
          const x = v | (oldCf << size);
          const y = ((x << c) | (x >>> (size + 1 - c))) & ((1 << (size + 1)) - 1);
          r = y & mask;
          cf = (y >>> size) & 1;
        }
        this.setCfOf(cf, ((r >>> top) & 1) ^ cf);
        return r;
      }
      case 3: {
        const c = size === 32 ? count : count % (size + 1);
        if (c === 0) return v;
        const oldCf = this.getCF();
        if (size === 32) {
          r = c === 1 ? (v >>> 1) | (oldCf << 31) : (v >>> c) | (oldCf << (32 - c)) | (v << (33 - c));
          cf = (v >>> (c - 1)) & 1;
        } else {
          const x = v | (oldCf << size);
          const y = ((x >>> c) | (x << (size + 1 - c))) & ((1 << (size + 1)) - 1);
          r = y & mask;
          cf = (y >>> size) & 1;
        }
        this.setCfOf(cf, ((r >>> top) ^ (r >>> (top - 1))) & 1);
        return r;
      }
      case 4:
      case 6:
        if (size === 32) {
          r = v << count;
          cf = (v >>> (32 - count)) & 1;
        } else {
          r = (v << count) & mask;
          cf = count <= size ? (v >>> (size - count)) & 1 : 0;
        }
        this.setResFlags(size, r, cf | ((((r >>> top) & 1) ^ cf) !== 0 ? /* OF */ 0x800 : 0));
        return r & mask;
      case 5:
        r = v >>> count;
        cf = (v >>> (count - 1)) & 1;
        this.setResFlags(size, r, cf | ((v >>> top) & 1 ? /* OF */ 0x800 : 0));
        return r & mask;
      default: {
        const sv = size === 32 ? v : size === 16 ? signExtend16(v) : signExtend8(v);
        r = sv >> count;
        cf = (sv >> (count - 1)) & 1;
        this.setResFlags(size, r, cf);
        return r & mask;
      }
    }
  }

  /** Rotates change only CF and OF; the other flags keep their values. */
  setCfOf(cf: number, of: number): void {
    this.replaceCfOf(cf, of ? /* OF */ 0x800 : 0);
  }

  /** SHLD/SHRD (SDM "SHLD", "SHRD"). */
  doubleShift(left: boolean, size: number, dst: number, src: number, count: number): number {
    count &= 31;
    if (count === 0) return dst;
    let r: number;
    let cf: number;
    if (size === 32) {
      if (left) {
        r = (dst << count) | (src >>> (32 - count));
        cf = (dst >>> (32 - count)) & 1;
      } else {
        r = (dst >>> count) | (src << (32 - count));
        cf = (dst >>> (count - 1)) & 1;
      }
    } else {
      dst &= 0xffff;
      src &= 0xffff;
      if (left) {
        if (count <= 16) {
          r = (((dst << 16) | src) << count) >>> 16;
          cf = (dst >>> (16 - count)) & 1;
        } else {
          r = (((src << 16) | dst) << (count - 16)) >>> 16;
          cf = (src >>> (32 - count)) & 1;
        }
      } else if (count <= 16) {
        const t = (src << 16) | dst;
        r = t >>> count;
        cf = (t >>> (count - 1)) & 1;
      } else {
        const t = (dst << 16) | src;
        r = t >>> (count - 16);
        cf = (t >>> (count - 17)) & 1;
      }
      r &= 0xffff;
    }
    const top = size - 1;
    this.setResFlags(size, r, cf | ((((r ^ dst) >>> top) & 1) !== 0 ? /* OF */ 0x800 : 0));
    return r;
  }

  /** Unsigned 32x32 -> 64 multiply: low half returned, high half in mulHi. */
  mulHi = 0;
  mul32(a: number, b: number): number {
    a >>>= 0;
    b >>>= 0;
    const aL = a & 0xffff;
    const aH = a >>> 16;
    const bL = b & 0xffff;
    const bH = b >>> 16;
    const lo = aL * bL;
    const m1 = aH * bL;
    const m2 = aL * bH;
    const cross = (lo >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
    this.mulHi = (aH * bH + (m1 >>> 16) + (m2 >>> 16) + (cross >>> 16)) | 0;
    return Math.imul(a, b);
  }

  imul32(a: number, b: number): number {
    const lo = this.mul32(a, b);
    let hi = this.mulHi;
    if (a < 0) hi = (hi - b) | 0;
    if (b < 0) hi = (hi - a) | 0;
    this.mulHi = hi;
    return lo;
  }

  /** IMUL's flags: CF = OF = the product does not fit the destination. */
  setMulFlags(size: number, lo: number, overflow: boolean): void {
    this.setResFlags(size, lo, overflow ? /* CF */ 0x1 | /* OF */ 0x800 : 0);
  }

  /** F6/F7 /4../7: MUL IMUL DIV IDIV with the accumulator. */
  mulDiv(op: number, size: number, src: number): void {
    const r = this.regs;
    if (size === 8) {
      const al = r[0] & 0xff;
      switch (op) {
        case 4: {
          const p = al * src;
          this.setReg16(0, p);
          this.setMulFlags(8, p, p > 0xff);
          return;
        }
        case 5: {
          const p = signExtend8(al) * signExtend8(src);
          this.setReg16(0, p);
          this.setMulFlags(8, p, p !== signExtend8(p));
          return;
        }
        case 6: {
          if (src === 0) this.raiseNoCode(Exception.DE);
          const ax = r[0] & 0xffff;
          const q = Math.floor(ax / src);
          if (q > 0xff) this.raiseNoCode(Exception.DE);
          this.setReg16(0, q | ((ax % src) << 8));
          return;
        }
        default: {
          const d = signExtend8(src);
          if (d === 0) this.raiseNoCode(Exception.DE);
          const ax = signExtend16(r[0]);
          const q = Math.trunc(ax / d);
          if (q > 127 || q < -128) this.raiseNoCode(Exception.DE);
          this.setReg16(0, (q & 0xff) | (((ax % d) & 0xff) << 8));
          return;
        }
      }
    }
    if (size === 16) {
      const ax = r[0] & 0xffff;
      switch (op) {
        case 4: {
          const p = ax * src;
          this.setReg16(0, p);
          this.setReg16(2, p >>> 16);
          this.setMulFlags(16, p, p > 0xffff);
          return;
        }
        case 5: {
          const p = signExtend16(ax) * signExtend16(src);
          this.setReg16(0, p);
          this.setReg16(2, p >> 16);
          this.setMulFlags(16, p, p !== signExtend16(p));
          return;
        }
        case 6: {
          if (src === 0) this.raiseNoCode(Exception.DE);
          const n = ((r[2] & 0xffff) << 16) | ax;
          const un = n >>> 0;
          const q = Math.floor(un / src);
          if (q > 0xffff) this.raiseNoCode(Exception.DE);
          this.setReg16(0, q);
          this.setReg16(2, un % src);
          return;
        }
        default: {
          const d = signExtend16(src);
          if (d === 0) this.raiseNoCode(Exception.DE);
          const n = ((r[2] & 0xffff) << 16) | ax;
          const q = Math.trunc(n / d);
          if (q > 32767 || q < -32768) this.raiseNoCode(Exception.DE);
          this.setReg16(0, q);
          this.setReg16(2, n % d);
          return;
        }
      }
    }
    switch (op) {
      case 4: {
        const lo = this.mul32(r[0], src);
        r[0] = lo;
        r[2] = this.mulHi;
        this.setMulFlags(32, lo, this.mulHi !== 0);
        return;
      }
      case 5: {
        const lo = this.imul32(r[0], src);
        r[0] = lo;
        r[2] = this.mulHi;
        this.setMulFlags(32, lo, this.mulHi !== lo >> 31);
        return;
      }
      case 6: {
        const d = src >>> 0;
        if (d === 0) this.raiseNoCode(Exception.DE);
        const hi = r[2] >>> 0;
        if (hi >= d) this.raiseNoCode(Exception.DE);
        this.divide64(hi, r[0] >>> 0, d);
        r[0] = this.divQ;
        r[2] = this.divR;
        return;
      }
      default: {
        if (src === 0) this.raiseNoCode(Exception.DE);
        let hi = r[2];
        let lo = r[0];
        const negN = hi < 0;
        if (negN) {
          lo = (~lo + 1) | 0;
          hi = (~hi + (lo === 0 ? 1 : 0)) | 0;
        }
        const negD = src < 0;
        const d = negD ? -src : src; // 2^31 for src = -2^31, still exact as a double
        if (hi >>> 0 >= d) this.raiseNoCode(Exception.DE);
        this.divide64(hi >>> 0, lo >>> 0, d);
        let q = this.divQ >>> 0;
        let rem = this.divR >>> 0;
        if (negN !== negD) {
          if (q > 0x80000000) this.raiseNoCode(Exception.DE);
          q = -q;
        } else if (q > 0x7fffffff) this.raiseNoCode(Exception.DE);
        if (negN) rem = -rem;
        r[0] = q;
        r[2] = rem;
        return;
      }
    }
  }

  divQ = 0;
  divR = 0;
  /** (hi:lo) / d for hi < d, by 16-bit digits so every step stays exact in a double. */
  divide64(hi: number, lo: number, d: number): void {
    let rem = hi;
    let cur = rem * 65536 + (lo >>> 16);
    const q1 = Math.floor(cur / d);
    rem = cur - q1 * d;
    cur = rem * 65536 + (lo & 0xffff);
    const q0 = Math.floor(cur / d);
    rem = cur - q0 * d;
    this.divQ = (q1 * 65536 + q0) | 0;
    this.divR = rem | 0;
  }

  // =====================================================================================
  // Control transfer helpers
  // =====================================================================================

  /** Near jump: the target must be within the CS limit (#GP(0) otherwise). */
  jumpNear(target: number): void {
    if (!this.os32) target &= 0xffff;
    if ((target ^ /* MIN */ -0x80000000) > this.csLimitF) this.gp(0);
    this.pc = target;
  }

  softwareInterrupt(vector: number, kind: number): void {
    if (!this.deliverEvent(vector, 0, false, kind, this.pc)) throw ABORT;
  }

  /** Hook for the embedding class: a write to CR0/CR3/CR4. */
  override controlChanged(): void {}

  // =====================================================================================
  // String instructions (SDM Vol. 1, 7.3.9), both address sizes
  // =====================================================================================

  /** Source index/offset step: +size or -size by DF. */
  stringStep(size: number): number {
    return this.flagsv & DF ? -size : size;
  }

  advanceIndex(reg: number, delta: number): void {
    const r = this.regs;
    if (this.as32) r[reg] = (r[reg] + delta) | 0;
    else r[reg] = (r[reg] & ~0xffff) | ((r[reg] + delta) & 0xffff);
  }

  indexValue(reg: number): number {
    return this.as32 ? this.regs[reg] : this.regs[reg] & 0xffff;
  }

  counter(): number {
    return this.as32 ? this.regs[1] : this.regs[1] & 0xffff;
  }

  decCounter(): number {
    const r = this.regs;
    if (this.as32) {
      r[1] = (r[1] - 1) | 0;
      return r[1];
    }
    r[1] = (r[1] & ~0xffff) | ((r[1] - 1) & 0xffff);
    return r[1] & 0xffff;
  }

  readSized(seg: number, off: number, size: number): number {
    return size === 1 ? this.rd8(seg, off) : size === 2 ? this.rd16(seg, off) : this.rd32(seg, off);
  }

  writeSized(seg: number, off: number, size: number, v: number): void {
    if (size === 1) this.wr8(seg, off, v);
    else if (size === 2) this.wr16(seg, off, v);
    else this.wr32(seg, off, v);
  }

  /**
   * MOVS/CMPS/STOS/LODS/SCAS/INS/OUTS, with rep = 0 (none), 0xF3 (REP/REPE) or 0xF2 (REPNE).
   * Each iteration updates the registers, so a fault in the middle restarts correctly.
   */
  stringOp(op: number, size: number, rep: number): void {
    const seg = this.segOvr >= 0 ? this.segOvr : /* DS */ 3;
    const delta = this.stringStep(size);
    const bits = size * 8;
    if (rep !== 0 && this.counter() === 0) return;
    if (rep !== 0 && this.as32 && (op === 0xa4 || op === 0xaa) && (this.flagsv & DF) === 0) {
      // REP MOVS/STOS forward over plain RAM: whole runs within one page at a time. Anything
      // the bulk path cannot prove safe (limits, unmapped or MMIO pages, overlap) is left to
      // the element loop below, which faults precisely.
      while (this.regs[1] !== 0 && this.repChunk(op, size, seg)) {}
      if (this.regs[1] === 0) return;
    }
    for (;;) {
      switch (op) {
        case 0xa4: {
          // MOVS. Segment checks of both operands come before any memory access (a null
          // or too-small ES faults before an alignment check or #PF on the source).
          this.checkWriteSegment(/* ES */ 0, this.indexValue(7), size);
          const v = this.readSized(seg, this.indexValue(6), size);
          this.writeSized(/* ES */ 0, this.indexValue(7), size, v);
          this.advanceIndex(6, delta);
          this.advanceIndex(7, delta);
          break;
        }
        case 0xa6: {
          this.checkRead(/* ES */ 0, this.indexValue(7), size);
          const a = this.readSized(seg, this.indexValue(6), size);
          const b = this.readSized(/* ES */ 0, this.indexValue(7), size);
          this.alu(7, bits, a, b);
          this.advanceIndex(6, delta);
          this.advanceIndex(7, delta);
          break;
        }
        case 0xaa:
          this.writeSized(/* ES */ 0, this.indexValue(7), size, this.regs[0]);
          this.advanceIndex(7, delta);
          break;
        case 0xac: {
          const v = this.readSized(seg, this.indexValue(6), size);
          if (size === 1) this.setReg8(0, v);
          else if (size === 2) this.setReg16(0, v);
          else this.regs[0] = v;
          this.advanceIndex(6, delta);
          break;
        }
        case 0xae: {
          const b = this.readSized(/* ES */ 0, this.indexValue(7), size);
          const a = size === 4 ? this.regs[0] : this.regs[0] & (size === 1 ? 0xff : 0xffff);
          this.alu(7, bits, a, b);
          this.advanceIndex(7, delta);
          break;
        }
        case 0x6c: {
          const port = this.regs[2] & 0xffff;
          this.checkIo(port, size);
          // The destination is checked before the port is read (a read may have side effects).
          this.checkWrite(/* ES */ 0, this.indexValue(7), size);
          const v = size === 1 ? this.io.in8(port) : size === 2 ? this.io.in16(port) : this.io.in32(port);
          this.writeSized(/* ES */ 0, this.indexValue(7), size, v);
          this.advanceIndex(7, delta);
          break;
        }
        default: {
          const port = this.regs[2] & 0xffff;
          this.checkIo(port, size);
          const v = this.readSized(seg, this.indexValue(6), size);
          if (size === 1) this.io.out8(port, v & 0xff);
          else if (size === 2) this.io.out16(port, v & 0xffff);
          else this.io.out32(port, v >>> 0);
          this.advanceIndex(6, delta);
          break;
        }
      }
      if (rep === 0) return;
      if (this.decCounter() === 0) return;
      if (op === 0xa6 || op === 0xae) {
        const zf = this.getZF();
        if (rep === 0xf3 ? !zf : zf) return;
      }
    }
  }

  /** One page-bounded run of REP MOVS/STOS (32-bit addresses, DF = 0); false = use the slow loop. */
  repChunk(op: number, size: number, seg: number): boolean {
    const r = this.regs;
    const count = r[1] >>> 0;
    const di = r[7];
    const dLin = (this.segBase[/* ES */ 0] + di) | 0;
    let n = Math.min(count, Math.floor((4096 - (dLin & 4095)) / size));
    let sLin = 0;
    if (op === 0xa4) {
      sLin = (this.segBase[seg] + r[6]) | 0;
      n = Math.min(n, Math.floor((4096 - (sLin & 4095)) / size));
    }
    if (n <= 0) return false;
    const bytes = n * size;
    // Segment windows for the whole run (no wrap at 4 GiB).
    if (
      (di ^ /* MIN */ -0x80000000) < this.segWlo[/* ES */ 0] ||
      ((di + bytes - 1) ^ /* MIN */ -0x80000000) > this.segWhi[/* ES */ 0] ||
      di + bytes - 1 < di
    )
      return false;
    const de = this.tlbW[dLin >>> 12];
    if ((de & 1) === 0) return false;
    const pd = (de & -4096) | (dLin & 4095);
    const ram = this.ram;
    if (op === 0xaa) {
      const v = r[0];
      if (size === 1) ram.fill(v & 0xff, pd, pd + bytes);
      else {
        // Write one element, then double it up: the pattern repeats every `size` bytes.
        for (let i = 0; i < size; i++) ram[pd + i] = v >> (8 * i);
        for (let done = size; done < bytes; done *= 2)
          ram.copyWithin(pd + done, pd, pd + Math.min(done, bytes - done));
      }
    } else {
      const si = r[6];
      if (
        (si ^ /* MIN */ -0x80000000) < this.segRlo[seg] ||
        ((si + bytes - 1) ^ /* MIN */ -0x80000000) > this.segRhi[seg] ||
        si + bytes - 1 < si
      )
        return false;
      const se = this.tlbR[sLin >>> 12];
      if ((se & 1) === 0) return false;
      const ps = (se & -4096) | (sLin & 4095);
      // A forward MOVS with the destination inside the source run repeats bytes (the memset
      // idiom); copyWithin would not, so leave that to the element loop.
      if (pd > ps && pd < ps + bytes) return false;
      ram.copyWithin(pd, ps, ps + bytes);
      r[6] = (si + bytes) | 0;
    }
    r[7] = (di + bytes) | 0;
    r[1] = (count - n) | 0;
    return true;
  }
}
