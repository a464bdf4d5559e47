import { Exception } from "@pagurus/spec";
import {
  CF,
  CR0_CD,
  CR0_ET,
  CR0_NW,
  CR0_PE,
  CR0_PG,
  CR0_TS,
  CR4_DE,
  CR4_MCE,
  CR4_PCE,
  CR4_PGE,
  CR4_PSE,
  CR4_TSD,
  DS,
  ES,
  FS,
  GS,
  LDTR,
  LF_LOGIC,
  LF_SUB,
  SS,
  TR,
  ZF,
} from "./core.js";
import { Interpreter } from "./interpreter.js";
import { SystemCpu } from "./system.js";

/*
 * The two-byte opcode map (0F xx, SDM Vol. 2, table A-3): system instructions (descriptor
 * tables, control and debug registers, LAR/LSL/VERR/VERW, CPUID, RDTSC, MSRs) and the
 * i386-i686 integer additions (Jcc rel32, SETcc, CMOVcc, bit operations, SHLD/SHRD,
 * MOVZX/MOVSX, CMPXCHG, XADD, CMPXCHG8B, BSWAP).
 */

/** CPUID.1:EDX bits this CPU implements (SDM Vol. 2, CPUID, table 3-11). */
export const CPUID_DE = 1 << 2;
export const CPUID_PSE = 1 << 3;
export const CPUID_TSC = 1 << 4;
export const CPUID_MSR = 1 << 5;
export const CPUID_CX8 = 1 << 8;
export const CPUID_PGE = 1 << 13;
export const CPUID_CMOV = 1 << 15;

/** IA32_TIME_STAMP_COUNTER. */
const MSR_TSC = 0x10;

function signExtend8(v: number): number {
  return (v << 24) >> 24;
}
function signExtend16(v: number): number {
  return (v << 16) >> 16;
}

export class SystemInstructions extends Interpreter {
  override execute0F(op: number, _rep: number): void {
    const r = this.regs;
    switch (op) {
      case 0x00:
        this.group6();
        return;
      case 0x01:
        this.group7();
        return;
      case 0x02:
      case 0x03:
        this.larLsl(op === 0x02);
        return;
      case 0x06:
        this.requireCpl0();
        this.cr0 &= ~CR0_TS;
        return;
      case 0x08:
      case 0x09:
        // INVD/WBINVD: no caches to manage
        this.requireCpl0();
        return;
      case 0x0b:
        this.ud();
        return;
      case 0x18:
      case 0x19:
      case 0x1a:
      case 0x1b:
      case 0x1c:
      case 0x1d:
      case 0x1e:
      case 0x1f:
        // Hint NOPs (NOP Ev; PREFETCHh): decode the operand, touch nothing
        this.decodeModrm();
        return;
      case 0x20:
      case 0x21:
      case 0x22:
      case 0x23:
        this.movControl(op);
        return;
      case 0x30:
        this.requireCpl0();
        if (r[1] !== MSR_TSC) this.gp(0);
        this.tscOffset = (r[2] >>> 0) * 4294967296 + (r[0] >>> 0) - this.icount;
        return;
      case 0x31: {
        if (this.cr4 & CR4_TSD && this.cpl !== 0 && this.cr0 & CR0_PE) this.gp(0);
        this.readTsc();
        return;
      }
      case 0x32:
        this.requireCpl0();
        if (r[1] !== MSR_TSC) this.gp(0);
        this.readTsc();
        return;
      case 0x33:
        // RDPMC: no performance counters beyond the two architectural ones, which read 0
        if (!(this.cr4 & CR4_PCE) && this.cpl !== 0 && this.cr0 & CR0_PE) this.gp(0);
        if (r[1] >>> 0 > 1) this.gp(0);
        r[0] = 0;
        r[2] = 0;
        return;
      case 0x40:
      case 0x41:
      case 0x42:
      case 0x43:
      case 0x44:
      case 0x45:
      case 0x46:
      case 0x47:
      case 0x48:
      case 0x49:
      case 0x4a:
      case 0x4b:
      case 0x4c:
      case 0x4d:
      case 0x4e:
      case 0x4f: {
        // CMOVcc: the source is read (and may fault) whatever the condition
        this.decodeModrm();
        const v = this.readEv();
        if (this.cond(op & 15)) this.writeGv(v);
        return;
      }
      case 0x80:
      case 0x81:
      case 0x82:
      case 0x83:
      case 0x84:
      case 0x85:
      case 0x86:
      case 0x87:
      case 0x88:
      case 0x89:
      case 0x8a:
      case 0x8b:
      case 0x8c:
      case 0x8d:
      case 0x8e:
      case 0x8f: {
        const rel = this.os32 ? this.fetch32() : signExtend16(this.fetch16());
        if (this.cond(op & 15)) this.jumpNear((this.pc + rel) | 0);
        return;
      }
      case 0x90:
      case 0x91:
      case 0x92:
      case 0x93:
      case 0x94:
      case 0x95:
      case 0x96:
      case 0x97:
      case 0x98:
      case 0x99:
      case 0x9a:
      case 0x9b:
      case 0x9c:
      case 0x9d:
      case 0x9e:
      case 0x9f:
        this.decodeModrm();
        this.writeE8(this.cond(op & 15) ? 1 : 0);
        return;
      case 0xa0:
        this.pushSeg(FS);
        return;
      case 0xa1:
        this.popSeg(FS);
        return;
      case 0xa8:
        this.pushSeg(GS);
        return;
      case 0xa9:
        this.popSeg(GS);
        return;
      case 0xa2:
        this.cpuid();
        return;
      case 0xa3:
        this.bitOp(0, false);
        return;
      case 0xab:
        this.bitOp(1, false);
        return;
      case 0xb3:
        this.bitOp(2, false);
        return;
      case 0xbb:
        this.bitOp(3, false);
        return;
      case 0xba: {
        const sub = (this.peekModrmReg() >> 3) & 7;
        if (sub < 4) {
          this.decodeModrm();
          this.ud();
        }
        this.bitOp(sub - 4, true);
        return;
      }
      case 0xa4:
      case 0xa5:
      case 0xac:
      case 0xad: {
        this.decodeModrm();
        const size = this.os32 ? 32 : 16;
        this.rmwCheck(size >> 3);
        const dst = this.readEv();
        const src = this.readGv();
        const count = (op & 1) === 0 ? this.fetch8() : r[1] & 0xff;
        const res = this.doubleShift(op < 0xa8, size, dst, src, count);
        if ((count & 31) !== 0) this.writeEv(res);
        return;
      }
      case 0xaf: {
        this.decodeModrm();
        const src = this.os32 ? this.readE32() : signExtend16(this.readE16());
        const dst = this.os32 ? this.readGv() : signExtend16(this.readGv());
        this.imulReg(dst, src);
        return;
      }
      case 0xb0: {
        this.decodeModrm();
        this.rmwCheck(1);
        const dst = this.readE8();
        const acc = r[0] & 0xff;
        this.alu(7, 8, acc, dst);
        // The destination is written either way (SDM CMPXCHG: the processor never
        // produces a locked read without a locked write).
        if (acc === dst) this.writeE8(this.getReg8((this.modrm >> 3) & 7));
        else {
          this.writeE8(dst);
          this.setReg8(0, dst);
        }
        return;
      }
      case 0xb1: {
        this.decodeModrm();
        this.rmwCheck(this.os32 ? 4 : 2);
        const dst = this.readEv();
        if (this.os32) {
          this.alu(7, 32, r[0], dst);
          if (r[0] === dst) this.writeE32(this.readGv());
          else {
            this.writeE32(dst);
            r[0] = dst;
          }
        } else {
          const acc = r[0] & 0xffff;
          this.alu(7, 16, acc, dst);
          if (acc === dst) this.writeE16(this.readGv());
          else {
            this.writeE16(dst);
            this.setReg16(0, dst);
          }
        }
        return;
      }
      case 0xb2:
        this.loadFarPointer(SS);
        this.setShadow();
        return;
      case 0xb4:
        this.loadFarPointer(FS);
        return;
      case 0xb5:
        this.loadFarPointer(GS);
        return;
      case 0xb6:
        this.decodeModrm();
        this.writeGv(this.readE8());
        return;
      case 0xb7:
        this.decodeModrm();
        this.writeGv(this.readE16());
        return;
      case 0xbe:
        this.decodeModrm();
        this.writeGv(signExtend8(this.readE8()));
        return;
      case 0xbf:
        this.decodeModrm();
        this.writeGv(signExtend16(this.readE16()));
        return;
      case 0xbc:
      case 0xbd: {
        this.decodeModrm();
        const v = this.os32 ? this.readE32() : this.readE16();
        this.materializeFlags();
        if (v === 0) {
          // Destination unchanged (what Intel processors do; the SDM says undefined).
          this.flagsv |= ZF;
          return;
        }
        this.flagsv &= ~ZF;
        this.writeGv(op === 0xbc ? 31 - Math.clz32(v & -v) : 31 - Math.clz32(v));
        return;
      }
      case 0xc0: {
        this.decodeModrm();
        const reg = (this.modrm >> 3) & 7;
        this.rmwCheck(1);
        const dst = this.readE8();
        const sum = this.alu(0, 8, dst, this.getReg8(reg));
        this.setReg8(reg, dst);
        this.writeE8(sum);
        return;
      }
      case 0xc1: {
        this.decodeModrm();
        this.rmwCheck(this.os32 ? 4 : 2);
        const dst = this.readEv();
        const sum = this.alu(0, this.os32 ? 32 : 16, dst, this.readGv());
        if (this.modrm >= 0xc0) {
          this.writeGv(dst);
          this.writeEv(sum);
        } else {
          this.writeEv(sum);
          this.writeGv(dst);
        }
        return;
      }
      case 0xc7: {
        this.decodeModrm();
        if (((this.modrm >> 3) & 7) !== 1 || this.modrm >= 0xc0) this.ud();
        this.cmpxchg8b();
        return;
      }
      case 0xc8:
      case 0xc9:
      case 0xca:
      case 0xcb:
      case 0xcc:
      case 0xcd:
      case 0xce:
      case 0xcf: {
        const reg = op & 7;
        const v = r[reg];
        // BSWAP r16 is undefined; Intel processors clear the low word.
        if (this.os32) r[reg] = (v >>> 24) | ((v >> 8) & 0xff00) | ((v & 0xff00) << 8) | (v << 24);
        else this.setReg16(reg, 0);
        return;
      }
      default:
        // Everything else in 0F is MMX/SSE/later (no such units here) or reserved: #UD.
        this.ud();
    }
  }

  peekModrmReg(): number {
    const save = this.pc;
    const m = this.fetch8();
    this.pc = save;
    return m;
  }

  requireCpl0(): void {
    if (this.cpl !== 0) this.gp(0);
  }

  readTsc(): void {
    const tsc = this.icount + this.tscOffset;
    this.regs[0] = (tsc % 4294967296) | 0;
    this.regs[2] = Math.floor(tsc / 4294967296) | 0;
  }

  cpuid(): void {
    const r = this.regs;
    const leaf = r[0] >>> 0;
    if (leaf === 0) {
      r[0] = 1;
      r[3] = 0x756e6547; // "Genu"
      r[2] = 0x49656e69; // "ineI"
      r[1] = 0x6c65746e; // "ntel"
      return;
    }
    // Leaf 1 (and any higher leaf, which reports the highest basic leaf as Intel CPUs do):
    // family 6, model 1, stepping 9 - a Pentium Pro.
    r[0] = 0x619;
    r[3] = 0;
    r[1] = 0;
    r[2] = CPUID_DE | CPUID_TSC | CPUID_MSR | CPUID_CX8 | CPUID_CMOV | this.pagingFeatures;
  }

  /** BT/BTS/BTR/BTC (kind 0-3), with the register form's bit-string addressing (SDM BT). */
  bitOp(kind: number, immediate: boolean): void {
    this.decodeModrm();
    const size = this.os32 ? 32 : 16;
    let offset: number;
    if (immediate) offset = this.fetch8() & (size - 1);
    else {
      offset = this.readGv();
      if (this.modrm < 0xc0) {
        // The bit offset is signed and may address outside the operand.
        const s = this.os32 ? offset : signExtend16(offset);
        const disp = this.os32 ? (s >> 5) * 4 : (s >> 4) * 2;
        this.eaOff = this.as32 ? (this.eaOff + disp) | 0 : (this.eaOff + disp) & 0xffff;
      }
      offset &= size - 1;
    }
    if (kind !== 0) this.rmwCheck(size >> 3);
    const v = this.readEv();
    const bit = (v >>> offset) & 1;
    this.materializeFlags();
    this.flagsv = (this.flagsv & ~CF) | bit;
    if (kind === 0) return;
    const m = 1 << offset;
    this.writeEv(kind === 1 ? v | m : kind === 2 ? v & ~m : v ^ m);
  }

  cmpxchg8b(): void {
    const r = this.regs;
    const seg = this.eaSeg;
    const off = this.eaOff;
    const off4 = this.as32 ? (off + 4) | 0 : (off + 4) & 0xffff;
    // The destination is always written: its segment and page checks come first, then the
    // 8-byte alignment check of a 64-bit operand (SDM 6.15, #AC, table 6-7; 6.9: #AC last).
    this.checkWrite(seg, off, 8);
    this.checkAlign((this.segBase[seg] + off) | 0, 8, this.cpl === 3);
    const lo = this.rd32(seg, off);
    const hi = this.rd32(seg, off4);
    this.materializeFlags();
    if (lo === r[0] && hi === r[2]) {
      this.wr32(seg, off, r[3]);
      this.wr32(seg, off4, r[1]);
      this.flagsv |= ZF;
    } else {
      this.wr32(seg, off, lo);
      this.wr32(seg, off4, hi);
      r[0] = lo;
      r[2] = hi;
      this.flagsv &= ~ZF;
    }
  }

  // ---- 0F 00: SLDT STR LLDT LTR VERR VERW (protected mode only)
  group6(): void {
    if (!(this.cr0 & CR0_PE)) this.ud();
    this.decodeModrm();
    const sub = (this.modrm >> 3) & 7;
    switch (sub) {
      case 0:
      case 1: {
        this.assistCheck();
        const v = this.segSel[sub === 0 ? LDTR : TR];
        if (this.modrm >= 0xc0 && this.os32) this.regs[this.modrm & 7] = v;
        else this.writeE16(v);
        return;
      }
      case 2:
        this.requireCpl0();
        this.lldt(this.readE16());
        return;
      case 3:
        this.requireCpl0();
        this.ltr(this.readE16());
        return;
      case 4:
      case 5:
        this.assistCheck();
        this.verify(this.readE16(), sub === 5);
        return;
      default:
        this.ud();
    }
  }

  lldt(sel: number): void {
    const err = sel & 0xfffc;
    if (err === 0) {
      this.segSel[LDTR] = sel;
      this.segBase[LDTR] = 0;
      this.segLimit[LDTR] = 0;
      this.segAccess[LDTR] = 0;
      return;
    }
    if (sel & 4) this.gp(err);
    if (!this.fetchDescriptor(sel)) this.gp(err);
    if (((this.dHi >> 8) & 0x1f) !== 0x02) this.gp(err);
    if ((this.dHi & 0x8000) === 0) this.raise(Exception.NP, err);
    this.loadSegCache(LDTR, sel, this.dLo, this.dHi);
  }

  ltr(sel: number): void {
    const err = sel & 0xfffc;
    if (err === 0) this.gp(0);
    if (sel & 4) this.gp(err);
    if (!this.fetchDescriptor(sel)) this.gp(err);
    const type = (this.dHi >> 8) & 0x1f;
    if (type !== 0x01 && type !== 0x09) this.gp(err);
    if ((this.dHi & 0x8000) === 0) this.raise(Exception.NP, err);
    this.markBusy(this.dAddr);
    this.loadSegCache(TR, sel, this.dLo, this.dHi | 0x200);
  }

  /** Whether the selector passes LAR/LSL/VERR/VERW's privilege check (SDM LAR). */
  descriptorVisible(sel: number): boolean {
    if ((sel & 0xfffc) === 0 || !this.fetchDescriptor(sel)) return false;
    const hi = this.dHi;
    const conformingCode = (hi & 0x1c00) === 0x1c00;
    const dpl = (hi >> 13) & 3;
    return conformingCode || (dpl >= this.cpl && dpl >= (sel & 3));
  }

  verify(sel: number, write: boolean): void {
    let ok = this.descriptorVisible(sel) && (this.dHi & 0x1000) !== 0;
    if (ok) {
      const type = (this.dHi >> 8) & 0xf;
      ok = write ? (type & 0xa) === 0x2 : (type & 0xa) !== 0x8;
    }
    this.materializeFlags();
    this.flagsv = ok ? this.flagsv | ZF : this.flagsv & ~ZF;
  }

  larLsl(lar: boolean): void {
    if (!(this.cr0 & CR0_PE)) this.ud();
    this.decodeModrm();
    this.assistCheck();
    const sel = this.readE16();
    let ok = this.descriptorVisible(sel);
    const hi = this.dHi;
    if (ok && (hi & 0x1000) === 0) {
      const type = (hi >> 8) & 0xf;
      // LAR accepts TSSs, LDTs, call and task gates; LSL only TSSs and LDTs.
      const larTypes = 0b0001_1010_0011_1110; // 1 2 3 4 5 9 B C
      const lslTypes = 0b0000_1010_0000_1110; // 1 2 3 9 B
      ok = (((lar ? larTypes : lslTypes) >> type) & 1) !== 0;
    }
    this.materializeFlags();
    if (!ok) {
      this.flagsv &= ~ZF;
      return;
    }
    this.flagsv |= ZF;
    if (lar) this.writeGv(this.os32 ? hi & 0x00f0ff00 : hi & 0xff00);
    else this.writeGv(SystemCpu.descLimit(this.dLo, hi));
  }

  // ---- 0F 01: SGDT SIDT LGDT LIDT SMSW LMSW INVLPG
  group7(): void {
    this.decodeModrm();
    const sub = (this.modrm >> 3) & 7;
    const mem = this.modrm < 0xc0;
    const seg = this.eaSeg;
    const off = this.eaOff;
    const off2 = this.as32 ? (off + 2) | 0 : (off + 2) & 0xffff;
    switch (sub) {
      case 0:
      case 1:
        if (!mem) this.ud();
        this.assistCheck();
        this.checkWrite(seg, off, 6);
        this.wr16(seg, off, sub === 0 ? this.gdtrLimit : this.idtrLimit);
        this.wr32(seg, off2, sub === 0 ? this.gdtrBase : this.idtrBase);
        return;
      case 2:
      case 3: {
        if (!mem) this.ud();
        this.requireCpl0();
        const limit = this.rd16(seg, off);
        let base = this.rd32(seg, off2);
        if (!this.os32) base &= 0xffffff;
        if (sub === 2) {
          this.gdtrLimit = limit;
          this.gdtrBase = base;
        } else {
          this.idtrLimit = limit;
          this.idtrBase = base;
        }
        return;
      }
      case 4:
        this.assistCheck();
        if (!mem && this.os32) this.regs[this.modrm & 7] = this.cr0;
        else this.writeE16(this.cr0);
        return;
      case 6: {
        this.requireCpl0();
        const v = this.readE16();
        // LMSW loads PE MP EM TS but cannot clear PE (SDM LMSW).
        this.writeCr0((this.cr0 & ~0xe) | (v & 0xf) | (this.cr0 & CR0_PE));
        return;
      }
      case 7: {
        if (!mem) this.ud();
        this.requireCpl0();
        const lin = (this.segBase[seg] + off) | 0;
        if (this.translation !== null) this.translation.invalidatePage(lin >>> 0);
        this.flushTlbPage(lin);
        return;
      }
      default:
        this.ud();
    }
  }

  // ---- MOV to/from CRn and DRn
  movControl(op: number): void {
    const m = this.fetch8();
    const n = (m >> 3) & 7;
    const reg = m & 7;
    this.requireCpl0();
    const r = this.regs;
    if (op === 0x20) {
      switch (n) {
        case 0:
          r[reg] = this.cr0;
          return;
        case 2:
          r[reg] = this.cr2;
          return;
        case 3:
          r[reg] = this.cr3;
          return;
        case 4:
          r[reg] = this.cr4;
          return;
        default:
          this.ud();
      }
    }
    if (op === 0x22) {
      const v = r[reg];
      switch (n) {
        case 0:
          this.writeCr0(v);
          return;
        case 2:
          this.cr2 = v;
          return;
        case 3:
          this.cr3 = v;
          this.controlChanged();
          return;
        case 4:
          this.writeCr4(v);
          return;
        default:
          this.ud();
      }
    }
    let dn = n;
    if (dn === 4 || dn === 5) {
      if (this.cr4 & CR4_DE) this.ud();
      dn += 2;
    }
    if (op === 0x21) r[reg] = this.dr[dn];
    else {
      const v = r[reg];
      if (dn === 6) this.dr[6] = (v & 0x0000e00f) | 0xffff0ff0;
      else if (dn === 7) this.dr[7] = (v & 0xffff2bff) | 0x400;
      else this.dr[dn] = v;
    }
  }

  /** CR0 write checks (SDM MOV to CR0, 2.5): PG needs PE, NW needs CD, PG needs an MMU. */
  writeCr0(v: number): void {
    if (v & CR0_PG && !(v & CR0_PE)) this.gp(0);
    if (v & CR0_NW && !(v & CR0_CD)) this.gp(0);
    if (v & CR0_PG && this.translation === null) this.gp(0);
    const old = this.cr0;
    this.cr0 = v | CR0_ET;
    if ((old ^ this.cr0) & CR0_PE) {
      if (!(this.cr0 & CR0_PE)) this.setCpl(0);
      this.refreshAllSegments();
    }
    this.controlChanged();
  }

  allowedCr4(): number {
    let bits = CR4_TSD | CR4_DE | CR4_MCE | CR4_PCE;
    if (this.pagingFeatures & CPUID_PSE) bits |= CR4_PSE;
    if (this.pagingFeatures & CPUID_PGE) bits |= CR4_PGE;
    return bits;
  }

  writeCr4(v: number): void {
    if (v & ~this.allowedCr4()) this.gp(0);
    this.cr4 = v;
    this.controlChanged();
  }

  /** Used by LF_SUB-style compare fast paths in subclasses. */
  static readonly lazyKinds = { LF_LOGIC, LF_SUB };
  static readonly dataSegments = [ES, DS, FS, GS];
}
