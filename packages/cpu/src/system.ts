import type { CpuHooks, InterruptKind } from "@pagurus/spec";
import { Exception } from "@pagurus/spec";
import {
  ABORT,
  AC,
  ACC_DB,
  ACC_P,
  ACC_S,
  CpuCore,
  CR0_PE,
  CR0_PG,
  CR0_TS,
  CS,
  DS,
  ES,
  FAULT,
  FS,
  GS,
  IF,
  IOPL,
  LDTR,
  NT,
  RF,
  SS,
  TF,
  TR,
  VM,
} from "./core.js";

/*
 * The system architecture: descriptor tables, segment-register loads with their protection
 * checks, interrupt and exception delivery through the IVT/IDT, far control transfers with
 * call gates and privilege changes, IRET, hardware task switching and the I/O permission
 * checks (Intel SDM Vol. 3A, chapters 5, 6 and 7).
 */

/** Kinds of event delivery: how the return address and the gate DPL check work. */
export const KIND_EXCEPTION = 0;
/** INT n, INT3, INTO: gate DPL is checked against CPL (SDM 6.12.1.1). */
export const KIND_SOFTWARE = 1;
export const KIND_EXTERNAL = 2;

/** What started a task switch (SDM 7.3, table 7-2). */
const SWITCH_JMP = 0;
const SWITCH_CALL = 1;
const SWITCH_IRET = 2;

const INTERRUPT_KIND_NAMES: readonly InterruptKind[] = ["exception", "software", "external"];

/** ES DS FS GS: the data segment registers. */
const DATA_SEGMENTS: readonly number[] = [ES, DS, FS, GS];

/** Fault-class exception vectors (SDM Vol. 3A, table 6-1): #DE #BR #UD #NM #TS #NP #SS #GP #PF #MF #AC. */
const FAULT_CLASS = new Uint8Array(256);
for (const v of [0, 5, 6, 7, 10, 11, 12, 13, 14, 16, 17]) FAULT_CLASS[v] = 1;

/**
 * A code or data descriptor (high dword) with AVL set: under virtualizationAssist, one whose
 * DPL a monitor raised for ring compression (README).
 */
function markedByMonitor(hi: number): boolean {
  return (hi & 0x00101000) === 0x00101000;
}

/** Exceptions that make a #DF when another contributory one occurs delivering them (SDM table 6-5). */
function isContributory(v: number): boolean {
  return v === 0 || (v >= 10 && v <= 13);
}

export class SystemCpu extends CpuCore {
  hooks: CpuHooks = {};
  /** Non-standard: sensitive instructions fault at CPL > 0 (see README). */
  virtualizationAssist = false;
  halted = false;
  shutdownReport: string | null = null;
  /** Set when the CPU hit something it does not implement (virtual-8086 mode). */
  unimplementedReport: string | null = null;

  // Scratch of the last fetchDescriptor().
  dLo = 0;
  dHi = 0;
  dAddr = 0;
  /** The event being delivered is a fault: its frame gets RF = 1. */
  pushRF = false;
  /** 1 while delivering an external event or exception: the EXT bit of error codes (SDM 6.13). */
  ext = 0;

  // =====================================================================================
  // Descriptors
  // =====================================================================================

  /** Reads the descriptor `sel` names into dLo/dHi; false when it is beyond the table limit. */
  fetchDescriptor(sel: number): boolean {
    const index = sel & 0xfff8;
    let base: number;
    let limit: number;
    if (sel & 4) {
      if ((this.segSel[LDTR] & 0xfffc) === 0) return false;
      base = this.segBase[LDTR];
      limit = this.segLimit[LDTR];
    } else {
      base = this.gdtrBase;
      limit = this.gdtrLimit;
    }
    if (index + 7 > limit >>> 0) return false;
    this.dAddr = (base + index) | 0;
    this.dLo = this.sysRead32(this.dAddr);
    this.dHi = this.sysRead32((this.dAddr + 4) | 0);
    return true;
  }

  static descBase(lo: number, hi: number): number {
    return (lo >>> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000);
  }

  static descLimit(lo: number, hi: number): number {
    const l = (lo & 0xffff) | (hi & 0xf0000);
    return hi & 0x800000 ? (l << 12) | 0xfff : l;
  }

  /** The cache layout of SegmentState.access: descriptor bits 40-47 and 52-55. */
  static descAccess(hi: number): number {
    return (hi >>> 8) & 0xf0ff;
  }

  /** Sets the Accessed bit of the last fetched segment descriptor (SDM 3.4.5.1). */
  setAccessed(): void {
    if ((this.dHi & 0x100) === 0) {
      this.dHi |= 0x100;
      this.sysWrite8((this.dAddr + 5) | 0, (this.dHi >>> 8) & 0xff);
    }
  }

  loadSegCache(seg: number, sel: number, lo: number, hi: number): void {
    this.segSel[seg] = sel & 0xffff;
    this.segBase[seg] = SystemCpu.descBase(lo, hi);
    this.segLimit[seg] = SystemCpu.descLimit(lo, hi);
    this.segAccess[seg] = SystemCpu.descAccess(hi);
    if (seg < 6) this.updateSegWindows(seg);
  }

  loadNullSeg(seg: number, sel: number): void {
    this.segSel[seg] = sel & 0xffff;
    this.segBase[seg] = 0;
    this.segLimit[seg] = 0;
    this.segAccess[seg] = 0;
    this.updateSegWindows(seg);
  }

  /** Real-mode segment load: base = selector * 16, limit and attributes kept (unreal mode). */
  loadSegReal(seg: number, sel: number): void {
    this.segSel[seg] = sel & 0xffff;
    this.segBase[seg] = (sel & 0xffff) << 4;
    this.updateSegWindows(seg);
  }

  get protectedMode(): boolean {
    return (this.cr0 & CR0_PE) !== 0;
  }

  get v86(): boolean {
    return (this.flagsv & VM) !== 0;
  }

  /** Stops the CPU on virtual-8086 mode, which this CPU does not implement yet. */
  unimplementedV86(what: string): never {
    this.unimplementedReport = `virtual-8086 mode is not implemented (${what} at eip ${(this.instrEip >>> 0).toString(16)})`;
    throw ABORT;
  }

  /**
   * MOV/POP/LxS to a data segment register or SS (SDM Vol. 3A, 5.10 and the MOV
   * instruction's protected-mode operation).
   */
  loadSeg(seg: number, sel: number): void {
    sel &= 0xffff;
    if ((this.cr0 & CR0_PE) === 0) {
      this.loadSegReal(seg, sel);
      return;
    }
    const err = sel & 0xfffc;
    const rpl = sel & 3;
    const cpl = this.cpl;
    if (this.virtualizationAssist && cpl > 0 && rpl !== 0 && err !== 0) this.assistSegmentLoad(seg, sel);
    if (seg === SS) {
      if (err === 0) this.gp(0);
      if (!this.fetchDescriptor(sel)) this.gp(err);
      const hi = this.dHi;
      const dpl = (hi >> 13) & 3;
      // writable data segment with RPL = DPL = CPL
      if (rpl !== cpl || dpl !== cpl || (hi & 0x1a00) !== 0x1200) this.gp(err);
      if ((hi & 0x8000) === 0) this.raise(Exception.SS, err);
      this.setAccessed();
      this.loadSegCache(SS, sel, this.dLo, this.dHi);
      return;
    }
    if (err === 0) {
      this.loadNullSeg(seg, sel);
      return;
    }
    if (!this.fetchDescriptor(sel)) this.gp(err);
    const hi = this.dHi;
    const dpl = (hi >> 13) & 3;
    // data, or readable code
    if ((hi & 0x1000) === 0 || (hi & 0xa00) === 0x800) this.gp(err);
    // data or non-conforming code: DPL >= max(CPL, RPL)
    if ((hi & 0xc00) !== 0xc00 && (rpl > dpl || cpl > dpl)) this.gp(err);
    if ((hi & 0x8000) === 0) this.raise(Exception.NP, err);
    this.setAccessed();
    this.loadSegCache(seg, sel, this.dLo, this.dHi);
  }

  /**
   * virtualizationAssist (README): a load with RPL > 0 whose outcome depends on a privilege the
   * descriptor table no longer tells. A monitor that compresses a guest kernel's ring 0 into
   * ring 3 raises its descriptors' DPLs and marks them with the AVL bit ("available for use by
   * system software", SDM Vol. 3A, 3.4.5); an RPL 1-3 selector for such a descriptor loads at
   * CPL 3 where the guest's own check (DPL >= max(CPL, RPL)) may fail. An SS load with RPL 3
   * succeeds at CPL 3 where the guest, if it runs at ring 0, needs RPL 0. Both go to the monitor.
   */
  private assistSegmentLoad(seg: number, sel: number): void {
    if (seg === SS || (this.fetchDescriptor(sel) && markedByMonitor(this.dHi))) this.gp(0);
  }

  /** After a return to an outer level: data segments the new CPL may not use become null (SDM 5.8.6). */
  invalidateOuterSegments(): void {
    for (const s of DATA_SEGMENTS) {
      const acc = this.segAccess[s];
      const dpl = (acc >> 5) & 3;
      const conformingCode = (acc & 0x0c) === 0x0c;
      if ((this.segSel[s] & 0xfffc) !== 0 && !conformingCode && dpl < this.cpl) this.loadNullSeg(s, 0);
    }
  }

  /** Loads CS from the last fetched descriptor; the RPL becomes the CPL. */
  loadCs(sel: number, cpl: number): void {
    this.setAccessed();
    this.loadSegCache(CS, (sel & 0xfffc) | cpl, this.dLo, this.dHi);
    this.setCpl(cpl);
  }

  /** Offset range check on a descriptor that is not loaded yet (new stacks). */
  static fitsSegment(limit: number, access: number, off: number, size: number): boolean {
    const last = (off + size - 1) >>> 0;
    off >>>= 0;
    if ((access & 0x0c) === 0x04) {
      const top = access & ACC_DB ? 0xffffffff : 0xffff;
      return off > limit >>> 0 && last <= top && last >= off;
    }
    return last <= limit >>> 0 && last >= off;
  }

  // =====================================================================================
  // EFLAGS writes
  // =====================================================================================

  /**
   * Writes EFLAGS under `mask` (the bits the instruction may change). Entering
   * virtual-8086 mode is not implemented and stops the CPU instead of misbehaving.
   */
  writeFlags(value: number, mask: number): void {
    this.materializeFlags();
    const old = this.flagsv;
    const nf = ((old & ~mask) | (value & mask) | 2) & 0x3f7fd7;
    if (nf & VM) this.unimplementedV86("EFLAGS.VM set");
    this.flagsv = nf;
    if ((old ^ nf) & AC) this.selectTlb();
    if ((nf & IF && !(old & IF)) || nf & TF) this.onInterruptsEnabled();
  }

  /** Overridden by the interpreter: re-check INTR after IF goes from 0 to 1. */
  onInterruptsEnabled(): void {}

  get iopl(): number {
    return (this.flagsv >> 12) & 3;
  }

  /** Mask of EFLAGS bits POPF may change at the current CPL/IOPL (SDM POPF operation). */
  popfMask(os32: boolean): number {
    let mask = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | TF | 0x400 | 0x800 | NT | AC | 0x200000;
    if (!this.protectedMode || this.cpl === 0) mask |= IOPL | IF;
    else if (this.cpl <= this.iopl) mask |= IF;
    return os32 ? mask : mask & 0xffff;
  }

  // =====================================================================================
  // I/O permission (SDM Vol. 1, 18.5)
  // =====================================================================================

  checkIo(port: number, size: number): void {
    if ((this.cr0 & CR0_PE) === 0 || (this.cpl <= this.iopl && (this.flagsv & VM) === 0)) return;
    const type = this.segAccess[TR] & 0x1f;
    const limit = this.segLimit[TR] >>> 0;
    if ((type !== 0x09 && type !== 0x0b) || limit < 103) this.gp(0);
    const base = this.segBase[TR];
    const mapOffset = this.sysRead16((base + 102) | 0);
    const at = mapOffset + (port >>> 3);
    if (at + 1 > limit) this.gp(0);
    const bits = this.sysRead16((base + at) | 0);
    const mask = ((1 << size) - 1) << (port & 7);
    if (bits & mask) this.gp(0);
  }

  // =====================================================================================
  // Exception and interrupt delivery
  // =====================================================================================

  /**
   * Delivers an event, escalating faults that happen during delivery to #DF and a fault
   * during #DF delivery to shutdown (SDM 6.15, interrupt 8). Returns false on shutdown.
   */
  deliverEvent(vector: number, code: number, hasCode: boolean, kind: number, returnEip: number): boolean {
    const firstVector = vector;
    for (;;) {
      if (this.hooks.interrupt !== undefined) {
        const handled = this.hooks.interrupt(vector, hasCode ? code : 0, INTERRUPT_KIND_NAMES[kind]);
        if (handled === true) return true;
      }
      try {
        this.deliver(vector, code, hasCode, kind, returnEip);
        this.ext = 0;
        return true;
      } catch (e) {
        if (e !== FAULT) throw e;
        const nv = this.faultVector;
        this.ext = 1;
        // Only an exception being delivered can escalate: a fault while delivering INT n or
        // an external interrupt is simply delivered instead (SDM table 6-5 classes).
        const prior = kind === KIND_EXCEPTION ? vector : -1;
        if (prior === Exception.DF) {
          this.shutdownReport = `triple fault: vector ${nv} (error ${(this.faultCode >>> 0).toString(16)}) while delivering #DF, first event ${firstVector} at ${this.segSel[CS].toString(16)}:${(this.instrEip >>> 0).toString(16)}`;
          this.ext = 0;
          return false;
        }
        const pf = Exception.PF;
        if (
          (isContributory(prior) && isContributory(nv)) ||
          (prior === pf && (isContributory(nv) || nv === pf))
        ) {
          vector = Exception.DF;
          code = 0;
          hasCode = true;
        } else {
          vector = nv;
          code = this.faultCode;
          hasCode = this.faultHasCode;
        }
        kind = KIND_EXCEPTION;
        returnEip = this.instrEip;
        // restore what a partially delivered event may have changed
        this.pc = this.instrEip;
        this.regs[4] = this.instrEsp;
      }
    }
  }

  /** One delivery attempt through the IVT (real mode) or the IDT (SDM 6.12, 20.1.4). */
  deliver(vector: number, code: number, hasCode: boolean, kind: number, returnEip: number): void {
    this.ext = kind === KIND_SOFTWARE ? 0 : 1;
    const ext = this.ext;
    if ((this.cr0 & CR0_PE) === 0) {
      const at = vector * 4;
      if (at + 3 > this.idtrLimit >>> 0) this.gp(0);
      const ip = this.rl16slow((this.idtrBase + at) | 0, false);
      const cs = this.rl16slow((this.idtrBase + at + 2) | 0, false);
      const flags = this.getEflags();
      this.checkWrite(SS, this.stackOff(-6), 6);
      this.push16(flags);
      this.push16(this.segSel[CS]);
      this.push16(returnEip);
      this.flagsv &= ~(IF | TF | AC | RF);
      this.loadSegReal(CS, cs);
      this.pc = ip;
      return;
    }
    if (this.flagsv & VM) this.unimplementedV86("interrupt");
    const idtErr = vector * 8 + 2 + ext;
    if (vector * 8 + 7 > this.idtrLimit >>> 0) this.gp(idtErr);
    const glo = this.sysRead32((this.idtrBase + vector * 8) | 0);
    const ghi = this.sysRead32((this.idtrBase + vector * 8 + 4) | 0);
    const gtype = (ghi >> 8) & 0x1f;
    if (gtype !== 0x05 && gtype !== 0x06 && gtype !== 0x07 && gtype !== 0x0e && gtype !== 0x0f)
      this.gp(idtErr);
    if (kind === KIND_SOFTWARE && ((ghi >> 13) & 3) < this.cpl) this.gp(vector * 8 + 2);
    if ((ghi & 0x8000) === 0) this.raise(Exception.NP, idtErr);
    if (gtype === 0x05) {
      this.taskSwitch(glo >>> 16, SWITCH_CALL, returnEip, true);
      if (hasCode) {
        if (this.segAccess[TR] & 8) this.push32(code);
        else this.push16(code);
      }
      return;
    }
    const gate32 = (gtype & 8) !== 0;
    const sel = glo >>> 16;
    const offset = gate32 ? (glo & 0xffff) | (ghi & 0xffff0000) : glo & 0xffff;
    // Fault-class exceptions push RF = 1, so that IRET back to the faulting instruction does
    // not re-trigger an instruction breakpoint (SDM Vol. 3B, 17.3.1.1).
    this.pushRF = kind === KIND_EXCEPTION && FAULT_CLASS[vector] === 1;
    this.transferThroughGate(sel, offset, gate32, hasCode, code, returnEip, ext, (gtype & 1) === 0);
  }

  /** The code-segment half of an interrupt/trap gate: stack switch and frame (SDM 6.12.1). */
  transferThroughGate(
    sel: number,
    offset: number,
    gate32: boolean,
    hasCode: boolean,
    code: number,
    returnEip: number,
    ext: number,
    clearIf: boolean,
  ): void {
    const err = (sel & 0xfffc) + ext;
    if ((sel & 0xfffc) === 0) this.gp(ext);
    if (!this.fetchDescriptor(sel)) this.gp(err);
    let lo = this.dLo;
    let hi = this.dHi;
    const dpl = (hi >> 13) & 3;
    if ((hi & 0x1800) !== 0x1800 || dpl > this.cpl) this.gp(err);
    if ((hi & 0x8000) === 0) this.raise(Exception.NP, err);
    const csAddr = this.dAddr;
    const conforming = (hi & 0x400) !== 0;
    const flags = this.getEflags() | (this.pushRF ? RF : 0);
    const oldCs = this.segSel[CS];
    const size = gate32 ? 4 : 2;
    if (!conforming && dpl < this.cpl) {
      // Inner privilege: new stack from the TSS.
      this.tssStack(dpl, ext);
      const nss = this.tssSs;
      const nesp = this.tssEsp;
      const ssErr = (nss & 0xfffc) + ext;
      if ((nss & 0xfffc) === 0) this.raise(Exception.TS, ext);
      if (!this.fetchDescriptor(nss)) this.raise(Exception.TS, ssErr);
      const shi = this.dHi;
      const slo = this.dLo;
      const ssAddr = this.dAddr;
      if ((nss & 3) !== dpl || ((shi >> 13) & 3) !== dpl || (shi & 0x1a00) !== 0x1200)
        this.raise(Exception.TS, ssErr);
      if ((shi & 0x8000) === 0) this.raise(Exception.SS, ssErr);
      const ssB = (shi & 0x400000) !== 0;
      const frame = size * (hasCode ? 6 : 5);
      const top = ssB ? nesp - frame : (nesp - frame) & 0xffff;
      const slimit = SystemCpu.descLimit(slo, shi);
      const sacc = SystemCpu.descAccess(shi);
      if (!SystemCpu.fitsSegment(slimit, sacc, top, frame)) this.raise(Exception.SS, ssErr);
      const sbase = SystemCpu.descBase(slo, shi);
      if (offset >>> 0 > SystemCpu.descLimit(lo, hi) >>> 0) this.gp(ext);
      this.frameStart(sbase, ssB, top, size, dpl === 3);
      if (hasCode) this.frameWrite(code);
      this.frameWrite(returnEip);
      this.frameWrite(oldCs);
      this.frameWrite(flags);
      this.frameWrite(this.regs[4]);
      this.frameWrite(this.segSel[SS]);
      // Committed: nothing below faults except the Accessed-bit writes.
      this.dAddr = ssAddr;
      this.dLo = slo;
      this.dHi = shi;
      this.setAccessed();
      this.loadSegCache(SS, nss, slo, this.dHi);
      this.regs[4] = ssB ? top : (this.regs[4] & ~0xffff) | top;
      this.dAddr = csAddr;
      this.dLo = lo;
      this.dHi = hi;
      this.loadCs(sel, dpl);
    } else if (conforming || dpl === this.cpl) {
      const frame = size * (hasCode ? 4 : 3);
      const top = this.stackOff(-frame);
      this.checkWrite(SS, top, frame);
      if (offset >>> 0 > SystemCpu.descLimit(lo, hi) >>> 0) this.gp(ext);
      if (gate32) {
        this.push32(flags);
        this.push32(oldCs);
        this.push32(returnEip);
        if (hasCode) this.push32(code);
      } else {
        this.push16(flags);
        this.push16(oldCs);
        this.push16(returnEip);
        if (hasCode) this.push16(code);
      }
      lo = this.dLo;
      hi = this.dHi;
      this.loadCs(sel, this.cpl);
    } else {
      this.gp(err);
    }
    this.flagsv &= ~(TF | NT | VM | RF | (clearIf ? IF : 0));
    this.pc = offset;
  }

  tssSs = 0;
  tssEsp = 0;
  /** Call-gate parameters in transit (at most 31). */
  readonly gateParams = new Int32Array(32);
  /** The incoming task's registers during a task switch. */
  readonly taskValues = new Int32Array(20);

  /** SS:ESP for privilege level `dpl` from the current TSS into tssSs/tssEsp (SDM 7.2.1). */
  tssStack(dpl: number, ext: number): void {
    const base = this.segBase[TR];
    const limit = this.segLimit[TR] >>> 0;
    const trErr = (this.segSel[TR] & 0xfffc) + ext;
    if (this.segAccess[TR] & 8) {
      const at = 4 + dpl * 8;
      if (at + 5 > limit) this.raise(Exception.TS, trErr);
      this.tssEsp = this.sysRead32((base + at) | 0);
      this.tssSs = this.sysRead16((base + at + 4) | 0);
      return;
    }
    const at = 2 + dpl * 4;
    if (at + 3 > limit) this.raise(Exception.TS, trErr);
    this.tssEsp = this.sysRead16((base + at) | 0);
    this.tssSs = this.sysRead16((base + at + 2) | 0);
  }

  // A frame on a stack that is not loaded yet (the new stack of a privilege change): written
  // upwards from its lowest address, one word or dword at a time.
  frameBase = 0;
  frameB = false;
  frameOff = 0;
  frameSize = 4;
  frameUser = false;

  frameStart(base: number, big: boolean, top: number, size: number, user: boolean): void {
    this.frameBase = base;
    this.frameB = big;
    this.frameOff = top;
    this.frameSize = size;
    this.frameUser = user;
  }

  frameWrite(v: number): void {
    const p = this.frameOff;
    const lin = (this.frameBase + (this.frameB ? p : p & 0xffff)) | 0;
    if (this.frameSize === 4) this.wl32slow(lin, v, this.frameUser);
    else this.wl16slow(lin, v, this.frameUser);
    this.frameOff = (p + this.frameSize) | 0;
  }

  // =====================================================================================
  // Far transfers
  // =====================================================================================

  /**
   * The descriptor a far JMP or CALL names (left in dLo/dHi; returns dHi), after the checks
   * both make before looking at its type. virtualizationAssist: a code segment whose DPL the
   * monitor raised passes the DPL = CPL check at CPL 3 whatever its real DPL was; the monitor
   * decides (README).
   */
  private farTarget(sel: number): number {
    const err = sel & 0xfffc;
    if (err === 0) this.gp(0);
    if (!this.fetchDescriptor(sel)) this.gp(err);
    if (this.virtualizationAssist && this.cpl > 0 && markedByMonitor(this.dHi)) this.gp(0);
    return this.dHi;
  }

  /** JMP ptr16:16/32 and JMP m16:16/32 (SDM JMP, protected-mode operation). */
  farJump(sel: number, offset: number, os32: boolean, nextEip: number): void {
    sel &= 0xffff;
    if (!os32) offset &= 0xffff;
    if ((this.cr0 & CR0_PE) === 0) {
      this.loadSegReal(CS, sel);
      this.pc = offset;
      return;
    }
    const err = sel & 0xfffc;
    const hi = this.farTarget(sel);
    const dpl = (hi >> 13) & 3;
    const rpl = sel & 3;
    if (hi & 0x1000) {
      if ((hi & 0x800) === 0) this.gp(err);
      if (hi & 0x400 ? dpl > this.cpl : rpl > this.cpl || dpl !== this.cpl) this.gp(err);
      if ((hi & 0x8000) === 0) this.raise(Exception.NP, err);
      if (offset >>> 0 > SystemCpu.descLimit(this.dLo, hi) >>> 0) this.gp(0);
      this.loadCs(sel, this.cpl);
      this.pc = offset;
      return;
    }
    const type = (hi >> 8) & 0xf;
    if (dpl < this.cpl || dpl < rpl) this.gp(err);
    switch (type) {
      case 0x4:
      case 0xc: {
        if ((hi & 0x8000) === 0) this.raise(Exception.NP, err);
        const glo = this.dLo;
        const gate32 = type === 0xc;
        const csel = glo >>> 16;
        const goff = gate32 ? (glo & 0xffff) | (hi & 0xffff0000) : glo & 0xffff;
        const cerr = csel & 0xfffc;
        if (cerr === 0) this.gp(0);
        if (!this.fetchDescriptor(csel)) this.gp(cerr);
        const chi = this.dHi;
        const cdpl = (chi >> 13) & 3;
        if ((chi & 0x1800) !== 0x1800) this.gp(cerr);
        if (chi & 0x400 ? cdpl > this.cpl : cdpl !== this.cpl) this.gp(cerr);
        if ((chi & 0x8000) === 0) this.raise(Exception.NP, cerr);
        if (goff >>> 0 > SystemCpu.descLimit(this.dLo, chi) >>> 0) this.gp(0);
        this.loadCs(csel, this.cpl);
        this.pc = goff;
        return;
      }
      case 0x5:
        if ((hi & 0x8000) === 0) this.raise(Exception.NP, err);
        this.taskSwitch(this.dLo >>> 16, SWITCH_JMP, nextEip, false);
        return;
      case 0x1:
      case 0x9:
        this.taskSwitch(sel, SWITCH_JMP, nextEip, false);
        return;
      default:
        this.gp(err);
    }
  }

  /** CALL ptr16:16/32 and CALL m16:16/32, with call gates and stack switch (SDM 5.8.5). */
  farCall(sel: number, offset: number, os32: boolean, nextEip: number): void {
    sel &= 0xffff;
    if (!os32) offset &= 0xffff;
    const oldCs = this.segSel[CS];
    if ((this.cr0 & CR0_PE) === 0) {
      const size = os32 ? 4 : 2;
      this.checkWrite(SS, this.stackOff(-2 * size), 2 * size);
      this.pushv(oldCs);
      this.pushv(nextEip);
      this.loadSegReal(CS, sel);
      this.pc = offset;
      return;
    }
    const err = sel & 0xfffc;
    const hi = this.farTarget(sel);
    const dpl = (hi >> 13) & 3;
    const rpl = sel & 3;
    if (hi & 0x1000) {
      if ((hi & 0x800) === 0) this.gp(err);
      if (hi & 0x400 ? dpl > this.cpl : rpl > this.cpl || dpl !== this.cpl) this.gp(err);
      if ((hi & 0x8000) === 0) this.raise(Exception.NP, err);
      const size = os32 ? 4 : 2;
      this.checkWrite(SS, this.stackOff(-2 * size), 2 * size);
      if (offset >>> 0 > SystemCpu.descLimit(this.dLo, hi) >>> 0) this.gp(0);
      this.pushv(oldCs);
      this.pushv(nextEip);
      this.loadCs(sel, this.cpl);
      this.pc = offset;
      return;
    }
    const type = (hi >> 8) & 0xf;
    if (dpl < this.cpl || dpl < rpl) this.gp(err);
    switch (type) {
      case 0x4:
      case 0xc:
        if ((hi & 0x8000) === 0) this.raise(Exception.NP, err);
        this.callGate(this.dLo, hi, type === 0xc, nextEip);
        return;
      case 0x5:
        if ((hi & 0x8000) === 0) this.raise(Exception.NP, err);
        this.taskSwitch(this.dLo >>> 16, SWITCH_CALL, nextEip, false);
        return;
      case 0x1:
      case 0x9:
        this.taskSwitch(sel, SWITCH_CALL, nextEip, false);
        return;
      default:
        this.gp(err);
    }
  }

  callGate(glo: number, ghi: number, gate32: boolean, nextEip: number): void {
    const csel = glo >>> 16;
    const goff = gate32 ? (glo & 0xffff) | (ghi & 0xffff0000) : glo & 0xffff;
    const params = ghi & 0x1f;
    const cerr = csel & 0xfffc;
    if (cerr === 0) this.gp(0);
    if (!this.fetchDescriptor(csel)) this.gp(cerr);
    const clo = this.dLo;
    const chi = this.dHi;
    const cAddr = this.dAddr;
    const cdpl = (chi >> 13) & 3;
    if ((chi & 0x1800) !== 0x1800 || cdpl > this.cpl) this.gp(cerr);
    if ((chi & 0x8000) === 0) this.raise(Exception.NP, cerr);
    if (goff >>> 0 > SystemCpu.descLimit(clo, chi) >>> 0) this.gp(0);
    const size = gate32 ? 4 : 2;
    const oldCs = this.segSel[CS];
    if ((chi & 0x400) === 0 && cdpl < this.cpl) {
      this.tssStack(cdpl, 0);
      const nss = this.tssSs;
      const nesp = this.tssEsp;
      const ssErr = nss & 0xfffc;
      if (ssErr === 0) this.raise(Exception.TS, 0);
      if (!this.fetchDescriptor(nss)) this.raise(Exception.TS, ssErr);
      const slo = this.dLo;
      const shi = this.dHi;
      const ssAddr = this.dAddr;
      if ((nss & 3) !== cdpl || ((shi >> 13) & 3) !== cdpl || (shi & 0x1a00) !== 0x1200)
        this.raise(Exception.TS, ssErr);
      if ((shi & 0x8000) === 0) this.raise(Exception.SS, ssErr);
      const ssB = (shi & 0x400000) !== 0;
      const frame = size * (4 + params);
      const top = ssB ? nesp - frame : (nesp - frame) & 0xffff;
      if (!SystemCpu.fitsSegment(SystemCpu.descLimit(slo, shi), SystemCpu.descAccess(shi), top, frame))
        this.raise(Exception.SS, ssErr);
      // Parameters come from the old stack (SDM 5.8.5, figure 5-13).
      const paramVals = this.gateParams;
      for (let i = 0; i < params; i++) {
        const off = this.stackOff(i * size);
        paramVals[i] = gate32 ? this.rd32(SS, off) : this.rd16(SS, off);
      }
      const sbase = SystemCpu.descBase(slo, shi);
      this.frameStart(sbase, ssB, top, size, cdpl === 3);
      this.frameWrite(nextEip);
      this.frameWrite(oldCs);
      for (let i = 0; i < params; i++) this.frameWrite(paramVals[i]);
      this.frameWrite(this.regs[4]);
      this.frameWrite(this.segSel[SS]);
      this.dAddr = ssAddr;
      this.dLo = slo;
      this.dHi = shi;
      this.setAccessed();
      this.loadSegCache(SS, nss, slo, this.dHi);
      this.regs[4] = ssB ? top : (this.regs[4] & ~0xffff) | top;
      this.dAddr = cAddr;
      this.dLo = clo;
      this.dHi = chi;
      this.loadCs(csel, cdpl);
    } else {
      this.checkWrite(SS, this.stackOff(-2 * size), 2 * size);
      if (gate32) {
        this.push32(oldCs);
        this.push32(nextEip);
      } else {
        this.push16(oldCs);
        this.push16(nextEip);
      }
      this.dAddr = cAddr;
      this.dLo = clo;
      this.dHi = chi;
      this.loadCs(csel, this.cpl);
    }
    this.pc = goff;
  }

  /** RETF [imm16] (SDM RET, protected-mode operation). */
  farReturn(os32: boolean, imm: number): void {
    const size = os32 ? 4 : 2;
    const read = (d: number): number =>
      os32 ? this.rd32(SS, this.stackOff(d)) : this.rd16(SS, this.stackOff(d));
    const eip = read(0);
    const sel = read(size) & 0xffff;
    if ((this.cr0 & CR0_PE) === 0) {
      this.loadSegReal(CS, sel);
      this.pc = eip;
      this.addEsp(2 * size + imm);
      return;
    }
    const err = sel & 0xfffc;
    const rpl = sel & 3;
    if (err === 0) this.gp(0);
    if (!this.fetchDescriptor(sel)) this.gp(err);
    const lo = this.dLo;
    const hi = this.dHi;
    const dpl = (hi >> 13) & 3;
    if ((hi & 0x1800) !== 0x1800 || rpl < this.cpl) this.gp(err);
    if (hi & 0x400 ? dpl > rpl : dpl !== rpl) this.gp(err);
    if ((hi & 0x8000) === 0) this.raise(Exception.NP, err);
    if (eip >>> 0 > SystemCpu.descLimit(lo, hi) >>> 0) this.gp(0);
    if (rpl === this.cpl) {
      this.loadCs(sel, rpl);
      this.addEsp(2 * size + imm);
      this.pc = eip;
      return;
    }
    const nesp = read(2 * size + imm);
    const nss = read(3 * size + imm) & 0xffff;
    this.checkOuterSs(nss, rpl);
    const slo = this.dLo;
    const shi = this.dHi;
    const ssAddr = this.dAddr;
    this.dLo = lo;
    this.dHi = hi;
    this.dAddr = this.gdtOrLdtAddr(sel);
    this.loadCs(sel, rpl);
    this.dLo = slo;
    this.dHi = shi;
    this.dAddr = ssAddr;
    this.setAccessed();
    this.loadSegCache(SS, nss, slo, this.dHi);
    this.regs[4] = this.ssB ? nesp + imm : (this.regs[4] & ~0xffff) | ((nesp + imm) & 0xffff);
    this.pc = eip;
    this.invalidateOuterSegments();
  }

  gdtOrLdtAddr(sel: number): number {
    return ((sel & 4 ? this.segBase[LDTR] : this.gdtrBase) + (sel & 0xfff8)) | 0;
  }

  /** The SS checks of a return to an outer level (RET, IRET): leaves its descriptor in dLo/dHi. */
  checkOuterSs(nss: number, rpl: number): void {
    const err = nss & 0xfffc;
    if (err === 0) this.gp(0);
    if (!this.fetchDescriptor(nss)) this.gp(err);
    const shi = this.dHi;
    if ((nss & 3) !== rpl || ((shi >> 13) & 3) !== rpl || (shi & 0x1a00) !== 0x1200) this.gp(err);
    if ((shi & 0x8000) === 0) this.raise(Exception.SS, err);
  }

  /** IRET/IRETD (SDM IRET operation; real mode, same level, outer level, nested task). */
  interruptReturn(os32: boolean): void {
    const size = os32 ? 4 : 2;
    if ((this.cr0 & CR0_PE) === 0) {
      const ip = os32 ? this.rd32(SS, this.stackOff(0)) : this.rd16(SS, this.stackOff(0));
      const cs = os32 ? this.rd32(SS, this.stackOff(4)) : this.rd16(SS, this.stackOff(2));
      const fl = os32 ? this.rd32(SS, this.stackOff(8)) : this.rd16(SS, this.stackOff(4));
      if (os32 && ip >>> 0 > 0xffff) this.gp(0);
      this.addEsp(3 * size);
      this.loadSegReal(CS, cs);
      this.pc = ip;
      // Real mode: VM, VIP and VIF are kept (SDM IRET, real-address mode).
      this.writeFlags(fl, os32 ? 0x257fd5 : 0x7fd5);
      return;
    }
    if (this.flagsv & VM) this.unimplementedV86("IRET");
    if (this.flagsv & NT) {
      const back = this.sysRead16(this.segBase[TR]);
      this.taskSwitch(back, SWITCH_IRET, this.pc, false);
      return;
    }
    const read = (d: number): number =>
      os32 ? this.rd32(SS, this.stackOff(d)) : this.rd16(SS, this.stackOff(d));
    const eip = read(0);
    const sel = read(size) & 0xffff;
    const fl = read(2 * size);
    if (os32 && fl & VM && this.cpl === 0) this.unimplementedV86("IRET to virtual-8086 mode");
    const err = sel & 0xfffc;
    const rpl = sel & 3;
    if (err === 0) this.gp(0);
    if (!this.fetchDescriptor(sel)) this.gp(err);
    const lo = this.dLo;
    const hi = this.dHi;
    const csAddr = this.dAddr;
    const dpl = (hi >> 13) & 3;
    if ((hi & 0x1800) !== 0x1800 || rpl < this.cpl) this.gp(err);
    if (hi & 0x400 ? dpl > rpl : dpl !== rpl) this.gp(err);
    if ((hi & 0x8000) === 0) this.raise(Exception.NP, err);
    if (eip >>> 0 > SystemCpu.descLimit(lo, hi) >>> 0) this.gp(0);
    const oldCpl = this.cpl;
    let mask = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | TF | 0x400 | 0x800 | NT | RF | AC | 0x200000;
    if (oldCpl === 0) mask |= IOPL | 0x180000;
    if (oldCpl <= this.iopl) mask |= IF;
    if (!os32) mask &= 0xffff;
    if (rpl === oldCpl) {
      this.loadCs(sel, rpl);
      this.addEsp(3 * size);
      this.pc = eip;
      this.writeFlags(fl, mask);
      return;
    }
    const nesp = read(3 * size);
    const nss = read(4 * size) & 0xffff;
    this.checkOuterSs(nss, rpl);
    const slo = this.dLo;
    const shi = this.dHi;
    const ssAddr = this.dAddr;
    this.dLo = lo;
    this.dHi = hi;
    this.dAddr = csAddr;
    this.loadCs(sel, rpl);
    this.dLo = slo;
    this.dHi = shi;
    this.dAddr = ssAddr;
    this.setAccessed();
    this.loadSegCache(SS, nss, slo, this.dHi);
    this.regs[4] = this.ssB ? nesp : (this.regs[4] & ~0xffff) | (nesp & 0xffff);
    this.pc = eip;
    this.writeFlags(fl, mask);
    this.invalidateOuterSegments();
  }

  // =====================================================================================
  // Task switching (SDM Vol. 3A, 7.3)
  // =====================================================================================

  /**
   * Switches to the task whose TSS selector is `sel`. `nextEip` is saved as the old task's
   * EIP. Faults after the commit point are delivered in the new task's context.
   */
  taskSwitch(sel: number, source: number, nextEip: number, fromInterrupt: boolean): void {
    sel &= 0xffff;
    const err = sel & 0xfffc;
    const ext = fromInterrupt ? this.ext : 0;
    if (sel & 4) this.raise(Exception.TS, err + ext);
    if (!this.fetchDescriptor(sel))
      this.raise(source === SWITCH_IRET ? Exception.TS : Exception.GP, err + ext);
    const nlo = this.dLo;
    const nhi = this.dHi;
    const nAddr = this.dAddr;
    const ntype = (nhi >> 8) & 0x1f;
    if (source === SWITCH_IRET) {
      if (ntype !== 0x03 && ntype !== 0x0b) this.raise(Exception.TS, err);
    } else if (ntype !== 0x01 && ntype !== 0x09) {
      this.gp(err + ext);
    }
    if ((nhi & 0x8000) === 0) this.raise(Exception.NP, err + ext);
    const n32 = (ntype & 8) !== 0;
    const nbase = SystemCpu.descBase(nlo, nhi);
    const nlimit = SystemCpu.descLimit(nlo, nhi) >>> 0;
    if (nlimit < (n32 ? 0x67 : 0x2b)) this.raise(Exception.TS, err + ext);

    // Save the outgoing task's state into its TSS.
    const oldSel = this.segSel[TR];
    const obase = this.segBase[TR];
    const o32 = (this.segAccess[TR] & 8) !== 0;
    let oflags = this.getEflags();
    if (source === SWITCH_IRET) oflags &= ~NT;
    const r = this.regs;
    // Page-fault checks happen through the writes themselves; reading the new TSS first
    // keeps the old one intact if the new one is not mapped.
    const nv = this.taskValues;
    nv.fill(0);
    if (n32) {
      nv[0] = this.cr0 & CR0_PG ? this.sysRead32((nbase + 0x1c) | 0) : this.cr3;
      nv[1] = this.sysRead32((nbase + 0x20) | 0);
      nv[2] = this.sysRead32((nbase + 0x24) | 0);
      for (let i = 0; i < 8; i++) nv[3 + i] = this.sysRead32((nbase + 0x28 + i * 4) | 0);
      for (let i = 0; i < 6; i++) nv[11 + i] = this.sysRead16((nbase + 0x48 + i * 4) | 0);
      nv[17] = this.sysRead16((nbase + 0x60) | 0);
      nv[18] = this.sysRead16((nbase + 0x64) | 0);
    } else {
      nv[0] = this.cr3;
      nv[1] = this.sysRead16((nbase + 14) | 0);
      nv[2] = this.sysRead16((nbase + 16) | 0) | (this.flagsv & 0xffff0000);
      for (let i = 0; i < 8; i++) nv[3 + i] = this.sysRead16((nbase + 18 + i * 2) | 0) | (r[i] & 0xffff0000);
      for (let i = 0; i < 4; i++) nv[11 + i] = this.sysRead16((nbase + 34 + i * 2) | 0);
      nv[15] = 0;
      nv[16] = 0;
      nv[17] = this.sysRead16((nbase + 42) | 0);
    }
    if (o32) {
      this.sysWrite32((obase + 0x20) | 0, nextEip);
      this.sysWrite32((obase + 0x24) | 0, oflags);
      for (let i = 0; i < 8; i++) this.sysWrite32((obase + 0x28 + i * 4) | 0, r[i]);
      for (let i = 0; i < 6; i++) this.sysWrite16((obase + 0x48 + i * 4) | 0, this.segSel[i]);
    } else {
      this.sysWrite16((obase + 14) | 0, nextEip);
      this.sysWrite16((obase + 16) | 0, oflags);
      for (let i = 0; i < 8; i++) this.sysWrite16((obase + 18 + i * 2) | 0, r[i]);
      for (let i = 0; i < 4; i++) this.sysWrite16((obase + 34 + i * 2) | 0, this.segSel[i]);
    }
    // Busy bits: the old task stops being busy on JMP and IRET, the new one becomes busy
    // unless IRET returns to it (it already is).
    if (source !== SWITCH_CALL) {
      const oAddr = this.gdtOrLdtAddr(oldSel);
      const b = this.sysRead8((oAddr + 5) | 0);
      this.sysWrite8((oAddr + 5) | 0, b & ~2);
    }
    if (source === SWITCH_CALL) {
      this.sysWrite16(nbase, oldSel);
      nv[2] |= NT;
    }
    if (source !== SWITCH_IRET) this.sysWrite8((nAddr + 5) | 0, ((nhi >>> 8) & 0xff) | 2);

    // Commit point: from here on faults belong to the new task.
    this.segSel[TR] = sel;
    this.segBase[TR] = nbase;
    this.segLimit[TR] = nlimit;
    this.segAccess[TR] = SystemCpu.descAccess(nhi | 0x200);
    this.cr0 |= CR0_TS;
    if (n32 && this.cr0 & CR0_PG && nv[0] !== this.cr3) {
      this.cr3 = nv[0];
      this.controlChanged();
    }
    this.pc = nv[1];
    this.flagsv = (nv[2] & 0x3f7fd7) | 2;
    this.lop = 0;
    this.selectTlb();
    // Here rather than at the end: a fault while loading the new task's segments is delivered
    // in the new task, with its IF.
    if (this.flagsv & IF) this.onInterruptsEnabled();
    if (this.flagsv & VM) this.unimplementedV86("task switch");
    for (let i = 0; i < 8; i++) r[i] = nv[3 + i];
    const newCpl = nv[11 + CS] & 3;
    // Selectors first, descriptors afterwards, as the SDM's step 12 does.
    for (let s = 0; s < 6; s++) {
      this.segSel[s] = nv[11 + s];
      this.segAccess[s] = 0;
      this.updateSegWindows(s);
    }
    this.segSel[LDTR] = nv[17];
    this.segBase[LDTR] = 0;
    this.segLimit[LDTR] = 0;
    this.setCpl(newCpl);
    this.instrEip = this.pc;
    this.instrEsp = r[4];
    this.ext = 0;
    // LDTR
    const ldt = nv[17];
    if ((ldt & 0xfffc) !== 0) {
      if (ldt & 4) this.raise(Exception.TS, ldt & 0xfffc);
      if (!this.fetchDescriptor(ldt & ~4)) this.raise(Exception.TS, ldt & 0xfffc);
      if (((this.dHi >> 8) & 0x1f) !== 0x02) this.raise(Exception.TS, ldt & 0xfffc);
      if ((this.dHi & 0x8000) === 0) this.raise(Exception.TS, ldt & 0xfffc);
      this.loadSegCache(LDTR, ldt, this.dLo, this.dHi);
    }
    // CS
    const cs = nv[11 + CS];
    if ((cs & 0xfffc) === 0 || !this.fetchDescriptor(cs)) this.raise(Exception.TS, cs & 0xfffc);
    {
      const hi = this.dHi;
      const dpl = (hi >> 13) & 3;
      if ((hi & 0x1800) !== 0x1800) this.raise(Exception.TS, cs & 0xfffc);
      if (hi & 0x400 ? dpl > newCpl : dpl !== newCpl) this.raise(Exception.TS, cs & 0xfffc);
      if ((hi & 0x8000) === 0) this.raise(Exception.NP, cs & 0xfffc);
      this.loadCs(cs, newCpl);
    }
    // SS
    const ss = nv[11 + SS];
    if ((ss & 0xfffc) === 0 || !this.fetchDescriptor(ss)) this.raise(Exception.TS, ss & 0xfffc);
    {
      const hi = this.dHi;
      if ((ss & 3) !== newCpl || ((hi >> 13) & 3) !== newCpl || (hi & 0x1a00) !== 0x1200)
        this.raise(Exception.TS, ss & 0xfffc);
      if ((hi & 0x8000) === 0) this.raise(Exception.SS, ss & 0xfffc);
      this.setAccessed();
      this.loadSegCache(SS, ss, this.dLo, this.dHi);
    }
    for (const s of DATA_SEGMENTS) {
      const v = nv[11 + s];
      if ((v & 0xfffc) === 0) {
        this.loadNullSeg(s, v);
        continue;
      }
      if (!this.fetchDescriptor(v)) this.raise(Exception.TS, v & 0xfffc);
      const hi = this.dHi;
      const dpl = (hi >> 13) & 3;
      if ((hi & 0x1000) === 0 || (hi & 0xa00) === 0x800) this.raise(Exception.TS, v & 0xfffc);
      if ((hi & 0xc00) !== 0xc00 && ((v & 3) > dpl || newCpl > dpl)) this.raise(Exception.TS, v & 0xfffc);
      if ((hi & 0x8000) === 0) this.raise(Exception.NP, v & 0xfffc);
      this.setAccessed();
      this.loadSegCache(s, v, this.dLo, this.dHi);
    }
    if (this.pc >>> 0 > this.segLimit[CS] >>> 0) this.gp(0);
  }

  /** Overridden: report CR0/CR3/CR4 to the translator and flush the TLB. */
  controlChanged(): void {}

  /** Marks a TSS descriptor busy-able? Used by LTR: sets the busy bit (SDM LTR). */
  markBusy(addr: number): void {
    const b = this.sysRead8((addr + 5) | 0);
    this.sysWrite8((addr + 5) | 0, b | 2);
  }

  static isPresent(hi: number): boolean {
    return (hi & (ACC_P << 8)) !== 0;
  }

  static isSystem(hi: number): boolean {
    return (hi & (ACC_S << 8)) === 0;
  }
}
