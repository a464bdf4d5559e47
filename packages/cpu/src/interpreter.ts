import { Exception } from "@pagurus/spec";
import { Arithmetic } from "./arithmetic.js";
import { ABORT, CR0_EM, CR0_MP, CR0_PE, CR0_TS, DF, IF } from "./core.js";
import { KIND_EXCEPTION, KIND_SOFTWARE } from "./system.js";

/*
 * The instruction decoder and executor: one `switch` on the opcode byte (and one on the
 * second byte of 0F opcodes), ModRM decoding into eaSeg/eaOff, and the integer ISA of the
 * i686 (Intel SDM Vol. 2). System instructions that need descriptor work call into
 * SystemCpu. Faults throw the preallocated FAULT after raise() recorded the vector.
 */

/** Prefix bytes: 26 2E 36 3E 64 65 66 67 F0 F2 F3. */
const IS_PREFIX = new Uint8Array(256);
for (const p of [0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x66, 0x67, 0xf0, 0xf2, 0xf3]) IS_PREFIX[p] = 1;

/** Opcodes `executeHot` may take (in 32-bit code without prefixes). */
const IS_HOT = new Uint8Array(256);
for (const p of [
  0x01, 0x03, 0x09, 0x0b, 0x21, 0x23, 0x29, 0x2b, 0x31, 0x33, 0x39, 0x3b, 0x83, 0x85, 0x89, 0x8b, 0x90, 0xc3,
  0xe8, 0xe9, 0xeb,
])
  IS_HOT[p] = 1;
for (let p = 0x40; p < 0x80; p++) if (p < 0x60 ? (p & 7) !== 4 : p >= 0x70) IS_HOT[p] = 1;

function signExtend8(v: number): number {
  return (v << 24) >> 24;
}
function signExtend16(v: number): number {
  return (v << 16) >> 16;
}

export class Interpreter extends Arithmetic {
  // =====================================================================================
  // Decode and execute one instruction
  // =====================================================================================

  step(): void {
    this.instrEip = this.pc;
    this.instrEsp = this.regs[4];
    const d = this.csD;
    this.os32 = d;
    this.as32 = d;
    this.segOvr = -1;
    const op = this.fetch8();
    if (IS_PREFIX[op] !== 0) this.stepPrefixed(op);
    else if (!d || IS_HOT[op] === 0 || !this.executeHot(op)) this.execute(op, 0);
  }

  /**
   * The hottest 32-bit register forms, in a function small enough for V8 to compile with its
   * helpers inlined; `execute` handles everything else (and the memory forms). Returns false,
   * with nothing consumed, for a form it does not take.
   */
  executeHot(op: number): boolean {
    const r = this.regs;
    switch (op) {
      case 0x01:
      case 0x09:
      case 0x21:
      case 0x29:
      case 0x31:
      case 0x39:
      case 0x85: {
        const m = this.peek8();
        if (m < 0xc0) return false;
        this.pc = (this.pc + 1) | 0;
        const res = this.alu32(op === 0x85 ? 4 : op >> 3, r[m & 7], r[(m >> 3) & 7]);
        if (op !== 0x39 && op !== 0x85) r[m & 7] = res;
        return true;
      }
      case 0x03:
      case 0x0b:
      case 0x23:
      case 0x2b:
      case 0x33:
      case 0x3b: {
        const m = this.peek8();
        if (m < 0xc0) return false;
        this.pc = (this.pc + 1) | 0;
        const res = this.alu32(op >> 3, r[(m >> 3) & 7], r[m & 7]);
        if (op !== 0x3b) r[(m >> 3) & 7] = res;
        return true;
      }
      case 0x83: {
        const m = this.peek8();
        if (m < 0xc0) return false;
        this.pc = (this.pc + 1) | 0;
        const sub = (m >> 3) & 7;
        const res = this.alu32(sub, r[m & 7], (this.fetch8() << 24) >> 24);
        if (sub !== 7) r[m & 7] = res;
        return true;
      }
      case 0x89:
      case 0x8b: {
        const m = this.fetch8();
        if (m < 0xc0) {
          this.movMem32(op, m);
          return true;
        }
        if (op === 0x89) r[m & 7] = r[(m >> 3) & 7];
        else r[(m >> 3) & 7] = r[m & 7];
        return true;
      }
      case 0x40:
      case 0x41:
      case 0x42:
      case 0x43:
      case 0x45:
      case 0x46:
      case 0x47: {
        const v = r[op & 7];
        this.keepCF();
        const res = (v + 1) | 0;
        r[op & 7] = res;
        this.setLazy32(/* LF_INC */ 6, res, v, 1);
        return true;
      }
      case 0x48:
      case 0x49:
      case 0x4a:
      case 0x4b:
      case 0x4d:
      case 0x4e:
      case 0x4f: {
        const v = r[op & 7];
        this.keepCF();
        const res = (v - 1) | 0;
        r[op & 7] = res;
        this.setLazy32(/* LF_DEC */ 7, res, v, 1);
        return true;
      }
      case 0x50:
      case 0x51:
      case 0x52:
      case 0x53:
      case 0x55:
      case 0x56:
      case 0x57:
        this.push32(r[op & 7]);
        return true;
      case 0x58:
      case 0x59:
      case 0x5a:
      case 0x5b:
      case 0x5d:
      case 0x5e:
      case 0x5f:
        r[op & 7] = this.pop32();
        return true;
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
      case 0x7f: {
        const rel = (this.fetch8() << 24) >> 24;
        if (this.cond(op & 15)) this.jumpNear((this.pc + rel) | 0);
        return true;
      }
      case 0xe8: {
        const rel = this.fetch32();
        const next = this.pc;
        const target = (next + rel) | 0;
        if ((target ^ /* MIN */ -0x80000000) > this.csLimitF) this.gp(0);
        this.push32(next);
        this.pc = target;
        return true;
      }
      case 0xc3:
        this.jumpNear(this.pop32());
        return true;
      case 0xe9: {
        const rel = this.fetch32();
        this.jumpNear((this.pc + rel) | 0);
        return true;
      }
      case 0xeb: {
        const rel = (this.fetch8() << 24) >> 24;
        this.jumpNear((this.pc + rel) | 0);
        return true;
      }
      case 0x90:
        return true;
      default:
        return false;
    }
  }

  /**
   * ALU r/m32, r32 / r32, r/m32 / TEST with a memory operand (32-bit addressing, no ADC/SBB):
   * the inline path's memory forms. The write is checked before the flags change.
   */
  aluMem32(op: number, m: number): void {
    this.modrm = m;
    this.decodeEA32(m);
    const seg = this.eaSeg;
    const off = this.eaOff;
    const reg = (m >> 3) & 7;
    const kind = op === 0x85 ? 4 : op >> 3;
    if (op & 2) {
      const res = this.alu32(kind, this.regs[reg], this.rd32(seg, off));
      if (kind !== 7) this.regs[reg] = res;
      return;
    }
    const writes = kind !== 7 && op !== 0x85;
    if (writes) this.checkWrite(seg, off, 4);
    const res = this.alu32(kind, this.rd32(seg, off), this.regs[reg]);
    if (writes) this.wr32(seg, off, res);
  }

  /** ALU m32, b (ADD OR AND SUB XOR CMP) at seg:off: the general path of compiled blocks. */
  aluRmw32(kind: number, seg: number, off: number, b: number): void {
    if (kind !== 7) this.checkWrite(seg, off, 4);
    const res = this.alu32(kind, this.rd32(seg, off), b);
    if (kind !== 7) this.wr32(seg, off, res);
  }

  /** 83 /n with a memory operand: ALU m32, imm8 (no ADC/SBB). */
  aluMemImm8(m: number): void {
    this.modrm = m;
    this.decodeEA32(m);
    const seg = this.eaSeg;
    const off = this.eaOff;
    const kind = (m >> 3) & 7;
    const imm = (this.fetch8() << 24) >> 24;
    if (kind !== 7) this.checkWrite(seg, off, 4);
    const res = this.alu32(kind, this.rd32(seg, off), imm);
    if (kind !== 7) this.wr32(seg, off, res);
  }

  /** C7 /0 with a memory operand: MOV m32, imm32. */
  movMemImm32(m: number): void {
    this.modrm = m;
    this.decodeEA32(m);
    const seg = this.eaSeg;
    const off = this.eaOff;
    this.wr32(seg, off, this.fetch32());
  }

  /** MOV r/m32, r32 and MOV r32, r/m32 with a memory operand (32-bit addressing). */
  movMem32(op: number, m: number): void {
    this.modrm = m;
    this.decodeEA32(m);
    const reg = (m >> 3) & 7;
    if (op === 0x8b) this.regs[reg] = this.rd32(this.eaSeg, this.eaOff);
    else this.wr32(this.eaSeg, this.eaOff, this.regs[reg]);
  }

  /** The byte at EIP without consuming it (the fetch window's fast path, or a real fetch). */
  peek8(): number {
    const pc = this.pc;
    const b = this.fetch8();
    this.pc = pc;
    return b;
  }

  /** The eight ALU operations on dwords (ADD OR ADC SBB AND SUB XOR CMP). */
  alu32(op: number, a: number, b: number): number {
    let res: number;
    switch (op) {
      case 0:
        res = (a + b) | 0;
        this.setLazy32(/* LF_ADD */ 1, res, a, b);
        return res;
      case 1:
        res = a | b;
        break;
      case 4:
        res = a & b;
        break;
      case 6:
        res = a ^ b;
        break;
      case 5:
      case 7:
        res = (a - b) | 0;
        this.setLazy32(/* LF_SUB */ 3, res, a, b);
        return res;
      default:
        return this.alu(op, 32, a, b);
    }
    this.setLazy32(/* LF_LOGIC */ 5, res, 0, 0);
    return res;
  }

  setLazy32(kind: number, res: number, op1: number, op2: number): void {
    this.lop = kind;
    this.lres = res;
    this.lop1 = op1;
    this.lop2 = op2;
  }

  /** The slow path of step(): prefixes (SDM Vol. 2, 2.1.1). */
  stepPrefixed(op: number): void {
    const d = this.csD;
    let rep = 0;
    let lock = false;
    let prefixes = 0;
    for (;;) {
      switch (op) {
        case 0x66:
          this.os32 = !d;
          break;
        case 0x67:
          this.as32 = !d;
          break;
        case 0x26:
          this.segOvr = /* ES */ 0;
          break;
        case 0x2e:
          this.segOvr = /* CS */ 1;
          break;
        case 0x36:
          this.segOvr = /* SS */ 2;
          break;
        case 0x3e:
          this.segOvr = /* DS */ 3;
          break;
        case 0x64:
          this.segOvr = /* FS */ 4;
          break;
        case 0x65:
          this.segOvr = /* GS */ 5;
          break;
        case 0xf0:
          lock = true;
          break;
        case 0xf2:
        case 0xf3:
          rep = op;
          break;
        default:
          if (lock) this.checkLock(op);
          this.execute(op, rep);
          return;
      }
      // An instruction longer than 15 bytes raises #GP(0) (SDM Vol. 2, 2.3.11).
      if (++prefixes >= 15) this.gp(0);
      op = this.fetch8();
    }
  }

  /**
   * LOCK is allowed only on the read-modify-write instructions with a memory destination
   * (SDM Vol. 2, LOCK); anything else is #UD. Peeks at the following bytes without
   * consuming them.
   */
  checkLock(op: number): void {
    const save = this.pc;
    let modrm: number;
    let ok = false;
    if (op === 0x0f) {
      const op2 = this.fetch8();
      modrm = this.fetch8();
      const mem = modrm < 0xc0;
      const reg = (modrm >> 3) & 7;
      ok =
        mem &&
        (op2 === 0xab ||
          op2 === 0xb3 ||
          op2 === 0xbb ||
          op2 === 0xb0 ||
          op2 === 0xb1 ||
          op2 === 0xc0 ||
          op2 === 0xc1 ||
          (op2 === 0xba && reg >= 5) ||
          (op2 === 0xc7 && reg === 1));
    } else {
      const alu = op < 0x40 && (op & 7) < 2 && op >> 3 !== 7;
      const grp = op === 0x80 || op === 0x81 || op === 0x82 || op === 0x83;
      if (
        alu ||
        grp ||
        op === 0x86 ||
        op === 0x87 ||
        op === 0xf6 ||
        op === 0xf7 ||
        op === 0xfe ||
        op === 0xff
      ) {
        modrm = this.fetch8();
        const reg = (modrm >> 3) & 7;
        const mem = modrm < 0xc0;
        if (alu || op === 0x86 || op === 0x87) ok = mem;
        else if (grp) ok = mem && reg !== 7;
        else if (op === 0xf6 || op === 0xf7) ok = mem && (reg === 2 || reg === 3);
        else ok = mem && reg < 2;
      }
    }
    this.pc = save;
    if (!ok) this.ud();
  }

  /** The one-byte opcode map (SDM Vol. 2, table A-2). */
  execute(op: number, rep: number): void {
    const r = this.regs;
    switch (op) {
      // ---- ALU: 00-3F (forms 0-5)
      case 0x00:
      case 0x08:
      case 0x10:
      case 0x18:
      case 0x20:
      case 0x28:
      case 0x30:
      case 0x38: {
        this.decodeModrm();
        if (op !== 0x38) this.rmwCheck(1);
        const a = this.readE8();
        const res = this.alu(op >> 3, 8, a, this.getReg8((this.modrm >> 3) & 7));
        if (op !== 0x38) this.writeE8(res);
        return;
      }
      case 0x01:
      case 0x09:
      case 0x11:
      case 0x19:
      case 0x21:
      case 0x29:
      case 0x31:
      case 0x39: {
        const m = this.fetch8();
        if (m >= 0xc0 && this.os32) {
          // register, register: the common case without ModRM bookkeeping
          const res = this.alu(op >> 3, 32, r[m & 7], r[(m >> 3) & 7]);
          if (op !== 0x39) r[m & 7] = res;
          return;
        }
        this.modrm = m;
        if (m < 0xc0) this.decodeEA(m);
        if (op !== 0x39) this.rmwCheck(this.os32 ? 4 : 2);
        if (this.os32) {
          const a = this.readE32();
          const res = this.alu(op >> 3, 32, a, r[(this.modrm >> 3) & 7]);
          if (op !== 0x39) this.writeE32(res);
        } else {
          const a = this.readE16();
          const res = this.alu(op >> 3, 16, a, r[(this.modrm >> 3) & 7] & 0xffff);
          if (op !== 0x39) this.writeE16(res);
        }
        return;
      }
      case 0x02:
      case 0x0a:
      case 0x12:
      case 0x1a:
      case 0x22:
      case 0x2a:
      case 0x32:
      case 0x3a: {
        this.decodeModrm();
        const reg = (this.modrm >> 3) & 7;
        const res = this.alu(op >> 3, 8, this.getReg8(reg), this.readE8());
        if (op !== 0x3a) this.setReg8(reg, res);
        return;
      }
      case 0x03:
      case 0x0b:
      case 0x13:
      case 0x1b:
      case 0x23:
      case 0x2b:
      case 0x33:
      case 0x3b: {
        const m = this.fetch8();
        if (m >= 0xc0 && this.os32) {
          const res = this.alu(op >> 3, 32, r[(m >> 3) & 7], r[m & 7]);
          if (op !== 0x3b) r[(m >> 3) & 7] = res;
          return;
        }
        this.modrm = m;
        if (m < 0xc0) this.decodeEA(m);
        const reg = (m >> 3) & 7;
        if (this.os32) {
          const res = this.alu(op >> 3, 32, r[reg], this.readE32());
          if (op !== 0x3b) r[reg] = res;
        } else {
          const res = this.alu(op >> 3, 16, r[reg] & 0xffff, this.readE16());
          if (op !== 0x3b) this.setReg16(reg, res);
        }
        return;
      }
      case 0x04:
      case 0x0c:
      case 0x14:
      case 0x1c:
      case 0x24:
      case 0x2c:
      case 0x34:
      case 0x3c: {
        const res = this.alu(op >> 3, 8, r[0] & 0xff, this.fetch8());
        if (op !== 0x3c) this.setReg8(0, res);
        return;
      }
      case 0x05:
      case 0x0d:
      case 0x15:
      case 0x1d:
      case 0x25:
      case 0x2d:
      case 0x35:
      case 0x3d: {
        if (this.os32) {
          const res = this.alu(op >> 3, 32, r[0], this.fetch32());
          if (op !== 0x3d) r[0] = res;
        } else {
          const res = this.alu(op >> 3, 16, r[0] & 0xffff, this.fetch16());
          if (op !== 0x3d) this.setReg16(0, res);
        }
        return;
      }
      // ---- PUSH/POP segment registers
      case 0x06:
      case 0x0e:
      case 0x16:
      case 0x1e:
        this.pushSeg(op >> 3);
        return;
      case 0x07:
      case 0x17:
      case 0x1f:
        this.popSeg(op >> 3);
        return;
      case 0x0f:
        this.execute0F(this.fetch8(), rep);
        return;
      // ---- BCD
      case 0x27:
      case 0x2f:
        this.decimalAdjust(op === 0x2f);
        return;
      case 0x37:
      case 0x3f:
        this.asciiAdjust(op === 0x3f);
        return;
      // ---- INC/DEC/PUSH/POP register
      case 0x40:
      case 0x41:
      case 0x42:
      case 0x43:
      case 0x44:
      case 0x45:
      case 0x46:
      case 0x47:
        if (this.os32) r[op & 7] = this.inc(32, r[op & 7]);
        else this.setReg16(op & 7, this.inc(16, r[op & 7] & 0xffff));
        return;
      case 0x48:
      case 0x49:
      case 0x4a:
      case 0x4b:
      case 0x4c:
      case 0x4d:
      case 0x4e:
      case 0x4f:
        if (this.os32) r[op & 7] = this.dec(32, r[op & 7]);
        else this.setReg16(op & 7, this.dec(16, r[op & 7] & 0xffff));
        return;
      case 0x50:
      case 0x51:
      case 0x52:
      case 0x53:
      case 0x54:
      case 0x55:
      case 0x56:
      case 0x57:
        if (this.os32) this.push32(r[op & 7]);
        else this.push16(r[op & 7]);
        return;
      case 0x58:
      case 0x59:
      case 0x5a:
      case 0x5b:
      case 0x5c:
      case 0x5d:
      case 0x5e:
      case 0x5f:
        if (this.os32) {
          const v = this.pop32();
          r[op & 7] = v;
        } else {
          const v = this.pop16();
          this.setReg16(op & 7, v);
        }
        return;
      case 0x60:
        this.pusha();
        return;
      case 0x61:
        this.popa();
        return;
      case 0x62:
        this.bound();
        return;
      case 0x63: {
        // ARPL (protected mode only)
        if (!(this.cr0 & CR0_PE)) this.ud();
        this.decodeModrm();
        const dst = this.readE16();
        const src = r[(this.modrm >> 3) & 7] & 0xffff;
        this.materializeFlags();
        if ((dst & 3) < (src & 3)) {
          this.writeE16((dst & ~3) | (src & 3));
          this.flagsv |= /* ZF */ 0x40;
        } else this.flagsv &= ~(/* ZF */ 0x40);
        return;
      }
      case 0x68:
        this.pushv(this.fetchImmV());
        return;
      case 0x6a:
        this.pushv(signExtend8(this.fetch8()));
        return;
      case 0x69:
      case 0x6b: {
        this.decodeModrm();
        const src = this.os32 ? this.readE32() : signExtend16(this.readE16());
        const imm =
          op === 0x6b
            ? signExtend8(this.fetch8())
            : this.os32
              ? this.fetch32()
              : signExtend16(this.fetch16());
        this.imulReg(src, imm);
        return;
      }
      case 0x6c:
      case 0x6e:
        this.stringOp(op === 0x6c ? 0x6c : 0x6e, 1, rep);
        return;
      case 0x6d:
      case 0x6f:
        this.stringOp(op === 0x6d ? 0x6c : 0x6e, this.os32 ? 4 : 2, rep);
        return;
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
      case 0x7f: {
        const rel = signExtend8(this.fetch8());
        if (this.cond(op & 15)) this.jumpNear((this.pc + rel) | 0);
        return;
      }
      case 0x80:
      case 0x82: {
        this.decodeModrm();
        const sub = (this.modrm >> 3) & 7;
        if (sub !== 7) this.rmwCheck(1);
        const a = this.readE8();
        const res = this.alu(sub, 8, a, this.fetch8());
        if (sub !== 7) this.writeE8(res);
        return;
      }
      case 0x81:
      case 0x83: {
        this.decodeModrm();
        const sub = (this.modrm >> 3) & 7;
        if (sub !== 7) this.rmwCheck(this.os32 ? 4 : 2);
        if (this.os32) {
          const a = this.readE32();
          const b = op === 0x83 ? signExtend8(this.fetch8()) : this.fetch32();
          const res = this.alu(sub, 32, a, b);
          if (sub !== 7) this.writeE32(res);
        } else {
          const a = this.readE16();
          const b = op === 0x83 ? signExtend8(this.fetch8()) & 0xffff : this.fetch16();
          const res = this.alu(sub, 16, a, b);
          if (sub !== 7) this.writeE16(res);
        }
        return;
      }
      case 0x84:
        this.decodeModrm();
        this.alu(4, 8, this.readE8(), this.getReg8((this.modrm >> 3) & 7));
        return;
      case 0x85:
        this.decodeModrm();
        if (this.os32) this.alu(4, 32, this.readE32(), r[(this.modrm >> 3) & 7]);
        else this.alu(4, 16, this.readE16(), r[(this.modrm >> 3) & 7] & 0xffff);
        return;
      case 0x86: {
        // XCHG with memory is a read-modify-write: the write side's segment and page checks
        // come before the read's alignment check (SDM Vol. 3A, 6.9: #GP and #PF before #AC).
        this.decodeModrm();
        this.rmwCheck(1);
        const reg = (this.modrm >> 3) & 7;
        const a = this.readE8();
        this.writeE8(this.getReg8(reg));
        this.setReg8(reg, a);
        return;
      }
      case 0x87: {
        this.decodeModrm();
        this.rmwCheck(this.os32 ? 4 : 2);
        const a = this.readEv();
        this.writeEv(this.readGv());
        this.writeGv(a);
        return;
      }
      case 0x88:
        this.decodeModrm();
        this.writeE8(this.getReg8((this.modrm >> 3) & 7));
        return;
      case 0x89: {
        const m = this.fetch8();
        this.modrm = m;
        if (m >= 0xc0) {
          if (this.os32) r[m & 7] = r[(m >> 3) & 7];
          else this.setReg16(m & 7, r[(m >> 3) & 7]);
          return;
        }
        this.decodeEA(m);
        if (this.os32) this.wr32(this.eaSeg, this.eaOff, r[(m >> 3) & 7]);
        else this.wr16(this.eaSeg, this.eaOff, r[(m >> 3) & 7]);
        return;
      }
      case 0x8a:
        this.decodeModrm();
        this.setReg8((this.modrm >> 3) & 7, this.readE8());
        return;
      case 0x8b: {
        const m = this.fetch8();
        this.modrm = m;
        if (m >= 0xc0) {
          if (this.os32) r[(m >> 3) & 7] = r[m & 7];
          else this.setReg16((m >> 3) & 7, r[m & 7]);
          return;
        }
        this.decodeEA(m);
        if (this.os32) r[(m >> 3) & 7] = this.rd32(this.eaSeg, this.eaOff);
        else this.setReg16((m >> 3) & 7, this.rd16(this.eaSeg, this.eaOff));
        return;
      }
      case 0x8c: {
        this.decodeModrm();
        const sreg = (this.modrm >> 3) & 7;
        if (sreg > 5) this.ud();
        this.assistCheck();
        const v = this.segSel[sreg];
        if (this.modrm >= 0xc0 && this.os32) r[this.modrm & 7] = v;
        else this.writeE16(v);
        return;
      }
      case 0x8d:
        this.decodeModrm();
        if (this.modrm >= 0xc0) this.ud();
        this.writeGv(this.eaOff);
        return;
      case 0x8e: {
        this.decodeModrm();
        const sreg = (this.modrm >> 3) & 7;
        if (sreg > 5 || sreg === /* CS */ 1) this.ud();
        this.loadSeg(sreg, this.readE16());
        if (sreg === /* SS */ 2) this.setShadow();
        return;
      }
      case 0x8f: {
        // POP Ev: the address is computed after ESP was incremented (SDM POP).
        const v = this.popv();
        this.decodeModrm();
        if (((this.modrm >> 3) & 7) !== 0) this.ud();
        this.writeEv(v);
        return;
      }
      case 0x90:
        // NOP (also PAUSE with F3)
        return;
      case 0x91:
      case 0x92:
      case 0x93:
      case 0x94:
      case 0x95:
      case 0x96:
      case 0x97: {
        const reg = op & 7;
        if (this.os32) {
          const t = r[reg];
          r[reg] = r[0];
          r[0] = t;
        } else {
          const t = r[reg] & 0xffff;
          this.setReg16(reg, r[0]);
          this.setReg16(0, t);
        }
        return;
      }
      case 0x98:
        if (this.os32) r[0] = signExtend16(r[0]);
        else this.setReg16(0, signExtend8(r[0]));
        return;
      case 0x99:
        if (this.os32) r[2] = r[0] >> 31;
        else this.setReg16(2, signExtend16(r[0]) >> 16);
        return;
      case 0x9a: {
        const off = this.fetchImmV();
        const sel = this.fetch16();
        this.farCall(sel, off, this.os32, this.pc);
        return;
      }
      case 0x9b:
        // WAIT/FWAIT: #NM when MP and TS are both set (SDM Vol. 3A, 2.5, table 2-2)
        if ((this.cr0 & (CR0_MP | CR0_TS)) === (CR0_MP | CR0_TS)) this.raiseNoCode(Exception.NM);
        return;
      case 0x9c: {
        this.assistCheck();
        if (this.v86) this.unimplementedV86("PUSHF");
        // VM and RF are pushed as 0 (SDM PUSHF)
        const f = this.getEflags() & ~(0x20000 | 0x10000);
        this.pushv(f);
        return;
      }
      case 0x9d: {
        this.assistCheck();
        if (this.v86) this.unimplementedV86("POPF");
        const v = this.popv();
        this.writeFlags(v, this.popfMask(this.os32));
        return;
      }
      case 0x9e: {
        // SAHF: SF ZF AF PF CF from AH
        this.materializeFlags();
        this.flagsv = (this.flagsv & ~0xd5) | ((r[0] >> 8) & 0xd5);
        return;
      }
      case 0x9f:
        this.setReg8(4, (this.getEflags() & 0xd7) | 2);
        return;
      case 0xa0:
      case 0xa1:
      case 0xa2:
      case 0xa3: {
        const off = this.as32 ? this.fetch32() : this.fetch16();
        const seg = this.segOvr >= 0 ? this.segOvr : /* DS */ 3;
        if (op === 0xa0) this.setReg8(0, this.rd8(seg, off));
        else if (op === 0xa1) {
          if (this.os32) r[0] = this.rd32(seg, off);
          else this.setReg16(0, this.rd16(seg, off));
        } else if (op === 0xa2) this.wr8(seg, off, r[0]);
        else if (this.os32) this.wr32(seg, off, r[0]);
        else this.wr16(seg, off, r[0]);
        return;
      }
      case 0xa4:
      case 0xa6:
      case 0xaa:
      case 0xac:
      case 0xae:
        this.stringOp(op, 1, rep);
        return;
      case 0xa5:
      case 0xa7:
      case 0xab:
      case 0xad:
      case 0xaf:
        this.stringOp(op - 1, this.os32 ? 4 : 2, rep);
        return;
      case 0xa8:
        this.alu(4, 8, r[0] & 0xff, this.fetch8());
        return;
      case 0xa9:
        if (this.os32) this.alu(4, 32, r[0], this.fetch32());
        else this.alu(4, 16, r[0] & 0xffff, this.fetch16());
        return;
      case 0xb0:
      case 0xb1:
      case 0xb2:
      case 0xb3:
      case 0xb4:
      case 0xb5:
      case 0xb6:
      case 0xb7:
        this.setReg8(op & 7, this.fetch8());
        return;
      case 0xb8:
      case 0xb9:
      case 0xba:
      case 0xbb:
      case 0xbc:
      case 0xbd:
      case 0xbe:
      case 0xbf:
        if (this.os32) r[op & 7] = this.fetch32();
        else this.setReg16(op & 7, this.fetch16());
        return;
      case 0xc0:
      case 0xc1:
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3: {
        this.decodeModrm();
        const sub = (this.modrm >> 3) & 7;
        const byte = (op & 1) === 0;
        const size = byte ? 8 : this.os32 ? 32 : 16;
        this.rmwCheck(size >> 3);
        const v = byte ? this.readE8() : this.readEv();
        const count = op <= 0xc1 ? this.fetch8() : op <= 0xd1 ? 1 : r[1] & 0xff;
        const res = this.shift(sub, size, v, count);
        if (byte) this.writeE8(res);
        else this.writeEv(res);
        return;
      }
      case 0xc2:
      case 0xc3: {
        const imm = op === 0xc2 ? this.fetch16() : 0;
        const target = this.popv();
        this.jumpNear(target);
        this.addEsp(imm);
        return;
      }
      case 0xc4:
      case 0xc5:
        this.loadFarPointer(op === 0xc4 ? /* ES */ 0 : /* DS */ 3);
        return;
      case 0xc6:
        this.decodeModrm();
        if (((this.modrm >> 3) & 7) !== 0) this.ud();
        this.writeE8(this.fetch8());
        return;
      case 0xc7:
        this.decodeModrm();
        if (((this.modrm >> 3) & 7) !== 0) this.ud();
        this.writeEv(this.fetchImmV());
        return;
      case 0xc8:
        this.enter();
        return;
      case 0xc9: {
        // LEAVE: (E)SP <- (E)BP, then pop (E)BP
        const bp = this.ssB ? r[5] : r[5] & 0xffff;
        const v = this.os32 ? this.rd32(/* SS */ 2, bp) : this.rd16(/* SS */ 2, bp);
        if (this.ssB) r[4] = (bp + (this.os32 ? 4 : 2)) | 0;
        else this.setReg16(4, bp + (this.os32 ? 4 : 2));
        if (this.os32) r[5] = v;
        else this.setReg16(5, v);
        return;
      }
      case 0xca:
      case 0xcb: {
        const imm = op === 0xca ? this.fetch16() : 0;
        this.assistCheck();
        this.farReturn(this.os32, imm);
        return;
      }
      case 0xcc:
        this.softwareInterrupt(Exception.BP, KIND_SOFTWARE);
        return;
      case 0xcd: {
        const v = this.fetch8();
        if (this.v86) this.unimplementedV86("INT n");
        this.softwareInterrupt(v, KIND_SOFTWARE);
        return;
      }
      case 0xce:
        if (this.getOF()) this.softwareInterrupt(Exception.OF, KIND_SOFTWARE);
        return;
      case 0xcf:
        this.assistCheck();
        this.interruptReturn(this.os32);
        return;
      case 0xd4: {
        // AAM imm8
        const base = this.fetch8();
        if (base === 0) this.raiseNoCode(Exception.DE);
        const al = r[0] & 0xff;
        const lo = al % base;
        this.setReg16(0, lo | (Math.floor(al / base) << 8));
        this.setLazy(/* LF_LOGIC */ 5, 8, lo, 0, 0);
        return;
      }
      case 0xd5: {
        // AAD imm8: flags as the 8-bit addition AL + AH*imm8 sets them
        const base = this.fetch8();
        const al = r[0] & 0xff;
        const t = (((r[0] >> 8) & 0xff) * base) & 0xff;
        const res = (al + t) & 0xff;
        this.setReg16(0, res);
        this.setLazy(/* LF_ADD */ 1, 8, al + t, al, t);
        return;
      }
      case 0xd6:
        // SALC (undocumented, present on every Intel IA-32 CPU)
        this.setReg8(0, this.getCF() ? 0xff : 0);
        return;
      case 0xd7: {
        const seg = this.segOvr >= 0 ? this.segOvr : /* DS */ 3;
        const off = this.as32 ? (r[3] + (r[0] & 0xff)) | 0 : (r[3] + (r[0] & 0xff)) & 0xffff;
        this.setReg8(0, this.rd8(seg, off));
        return;
      }
      case 0xd8:
      case 0xd9:
      case 0xda:
      case 0xdb:
      case 0xdc:
      case 0xdd:
      case 0xde:
      case 0xdf:
        // x87 escape: no FPU. #NM when CR0.EM or CR0.TS says so, else #UD (SDM table 2-2).
        if (this.cr0 & (CR0_EM | CR0_TS)) this.raiseNoCode(Exception.NM);
        this.ud();
        return;
      case 0xe0:
      case 0xe1:
      case 0xe2: {
        const rel = signExtend8(this.fetch8());
        const c = this.decCounter();
        let take = c !== 0;
        if (op === 0xe0) take = take && !this.getZF();
        else if (op === 0xe1) take = take && this.getZF();
        if (take) this.jumpNear((this.pc + rel) | 0);
        return;
      }
      case 0xe3: {
        const rel = signExtend8(this.fetch8());
        if (this.counter() === 0) this.jumpNear((this.pc + rel) | 0);
        return;
      }
      case 0xe4:
      case 0xe5:
      case 0xec:
      case 0xed: {
        const port = op < 0xe8 ? this.fetch8() : r[2] & 0xffff;
        const size = (op & 1) === 0 ? 1 : this.os32 ? 4 : 2;
        this.checkIo(port, size);
        if (size === 1) this.setReg8(0, this.io.in8(port));
        else if (size === 2) this.setReg16(0, this.io.in16(port));
        else r[0] = this.io.in32(port);
        return;
      }
      case 0xe6:
      case 0xe7:
      case 0xee:
      case 0xef: {
        const port = op < 0xe8 ? this.fetch8() : r[2] & 0xffff;
        const size = (op & 1) === 0 ? 1 : this.os32 ? 4 : 2;
        this.checkIo(port, size);
        if (size === 1) this.io.out8(port, r[0] & 0xff);
        else if (size === 2) this.io.out16(port, r[0] & 0xffff);
        else this.io.out32(port, r[0] >>> 0);
        return;
      }
      case 0xe8: {
        const rel = this.fetchImmV();
        const next = this.pc;
        const target = (next + rel) | 0;
        if (((this.os32 ? target : target & 0xffff) ^ /* MIN */ -0x80000000) > this.csLimitF) this.gp(0);
        this.pushv(next);
        this.jumpNear(target);
        return;
      }
      case 0xe9: {
        const rel = this.fetchImmV();
        this.jumpNear((this.pc + rel) | 0);
        return;
      }
      case 0xea: {
        const off = this.fetchImmV();
        const sel = this.fetch16();
        this.farJump(sel, off, this.os32, this.pc);
        return;
      }
      case 0xeb: {
        const rel = signExtend8(this.fetch8());
        this.jumpNear((this.pc + rel) | 0);
        return;
      }
      case 0xf1:
        // INT1/ICEBP: #DB as a trap, without the IDT gate DPL check
        if (!this.deliverEvent(Exception.DB, 0, false, KIND_EXCEPTION, this.pc)) throw ABORT;
        return;
      case 0xf4:
        if (this.cpl !== 0) this.gp(0);
        this.halted = true;
        this.eventPending = true;
        return;
      case 0xf5:
        this.materializeFlags();
        this.flagsv ^= /* CF */ 0x1;
        return;
      case 0xf6: {
        this.decodeModrm();
        const sub = (this.modrm >> 3) & 7;
        if (sub === 2 || sub === 3) this.rmwCheck(1);
        const v = this.readE8();
        switch (sub) {
          case 0:
          case 1:
            this.alu(4, 8, v, this.fetch8());
            return;
          case 2:
            this.writeE8(~v);
            return;
          case 3:
            this.writeE8(this.alu(5, 8, 0, v));
            return;
          default:
            this.mulDiv(sub, 8, v);
            return;
        }
      }
      case 0xf7: {
        this.decodeModrm();
        const sub = (this.modrm >> 3) & 7;
        const size = this.os32 ? 32 : 16;
        if (sub === 2 || sub === 3) this.rmwCheck(size >> 3);
        const v = this.readEv();
        switch (sub) {
          case 0:
          case 1:
            this.alu(4, size, v, this.fetchImmV());
            return;
          case 2:
            this.writeEv(~v);
            return;
          case 3:
            this.writeEv(this.alu(5, size, 0, v));
            return;
          default:
            this.mulDiv(sub, size, v);
            return;
        }
      }
      case 0xf8:
      case 0xf9:
        this.materializeFlags();
        this.flagsv = (this.flagsv & ~(/* CF */ 0x1)) | (op & 1);
        return;
      case 0xfa:
      case 0xfb: {
        // CLI/STI: need CPL <= IOPL in protected mode (SDM CLI, STI; no PVI here)
        if (this.cr0 & CR0_PE && this.cpl > this.iopl) this.gp(0);
        if (op === 0xfa) this.flagsv &= ~IF;
        else if ((this.flagsv & IF) === 0) {
          this.flagsv |= IF;
          this.setShadow();
          this.eventPending = true;
        }
        return;
      }
      case 0xfc:
        this.flagsv &= ~DF;
        return;
      case 0xfd:
        this.flagsv |= DF;
        return;
      case 0xfe: {
        this.decodeModrm();
        const sub = (this.modrm >> 3) & 7;
        if (sub > 1) this.ud();
        this.rmwCheck(1);
        const v = this.readE8();
        this.writeE8(sub === 0 ? this.inc(8, v) : this.dec(8, v));
        return;
      }
      case 0xff:
        this.group5();
        return;
      default:
        // 0x26 etc. are handled as prefixes; 0xD6 is SALC; nothing else is undefined in
        // the one-byte map except what lands here.
        this.ud();
    }
  }

  /**
   * Read-modify-write on memory: check the write side first, so that a fault on the write
   * leaves the flags as they were (precise faults; the ALU sets flags before the store).
   */
  rmwCheck(size: number): void {
    if (this.modrm < 0xc0) this.checkWrite(this.eaSeg, this.eaOff, size);
  }

  /** Interrupts (and MOV SS debug traps) are held off for one instruction. */
  setShadow(): void {
    this.shadowAt = this.icount + 1;
  }

  /** virtualizationAssist: sensitive instructions fault at CPL > 0 (README). */
  assistCheck(): void {
    if (this.virtualizationAssist && this.cpl > 0 && this.cr0 & CR0_PE) this.gp(0);
  }

  pushSeg(seg: number): void {
    this.assistCheck();
    const v = this.segSel[seg];
    if (this.os32) {
      // Recent Intel CPUs write only 16 bits into the 32-bit slot (SDM PUSH).
      const off = this.stackOff(-4);
      this.wr16(/* SS */ 2, off, v);
      this.addEsp(-4);
    } else this.push16(v);
  }

  popSeg(seg: number): void {
    const v = this.os32 ? this.rd32(/* SS */ 2, this.stackOff(0)) : this.rd16(/* SS */ 2, this.stackOff(0));
    this.loadSeg(seg, v & 0xffff);
    this.addEsp(this.os32 ? 4 : 2);
    if (seg === /* SS */ 2) this.setShadow();
  }

  imulReg(a: number, b: number): void {
    if (this.os32) {
      const lo = this.imul32(a, b);
      this.writeGv(lo);
      this.setMulFlags(32, lo, this.mulHi !== lo >> 31);
    } else {
      const p = signExtend16(a) * signExtend16(b);
      this.writeGv(p);
      this.setMulFlags(16, p, p !== signExtend16(p));
    }
  }

  decimalAdjust(subtract: boolean): void {
    const r = this.regs;
    const oldAl = r[0] & 0xff;
    const oldCf = this.getCF();
    let al = oldAl;
    let cf = 0;
    let af = 0;
    if ((al & 0xf) > 9 || this.getAF()) {
      al = subtract ? al - 6 : al + 6;
      cf = oldCf | (al < 0 || al > 0xff ? 1 : 0);
      af = /* AF */ 0x10;
      al &= 0xff;
    }
    if (oldAl > 0x99 || oldCf) {
      al = (subtract ? al - 0x60 : al + 0x60) & 0xff;
      cf = 1;
    } else if (!subtract) cf = 0;
    else cf = cf & 1;
    this.setReg8(0, al);
    this.setResFlags(8, al, cf | af);
  }

  asciiAdjust(subtract: boolean): void {
    const r = this.regs;
    let ax = r[0] & 0xffff;
    let flags = 0;
    if ((ax & 0xf) > 9 || this.getAF()) {
      if (subtract) {
        ax = (ax - 6) & 0xffff;
        ax = (ax - 0x100) & 0xffff;
      } else ax = (ax + 0x106) & 0xffff;
      flags = /* AF */ 0x10 | /* CF */ 0x1;
    }
    ax &= 0xff0f;
    this.setReg16(0, ax);
    this.setResFlags(8, ax & 0xff, flags);
  }

  pusha(): void {
    const r = this.regs;
    const size = this.os32 ? 4 : 2;
    this.checkWrite(/* SS */ 2, this.stackOff(-8 * size), 8 * size);
    const esp = r[4];
    for (let i = 0; i < 8; i++) {
      const v = i === 4 ? esp : r[i];
      if (this.os32) this.push32(v);
      else this.push16(v);
    }
  }

  popa(): void {
    const r = this.regs;
    const size = this.os32 ? 4 : 2;
    this.checkRead(/* SS */ 2, this.stackOff(0), 8 * size);
    for (let i = 7; i >= 0; i--) {
      const v = this.popv();
      if (i === 4) continue;
      if (this.os32) r[i] = v;
      else this.setReg16(i, v);
    }
  }

  bound(): void {
    this.decodeModrm();
    if (this.modrm >= 0xc0) this.ud();
    const idx = this.os32 ? this.readGv() : signExtend16(this.readGv());
    let lower: number;
    let upper: number;
    if (this.os32) {
      lower = this.rd32(this.eaSeg, this.eaOff);
      upper = this.rd32(this.eaSeg, (this.eaOff + 4) | 0);
    } else {
      const off2 = this.as32 ? (this.eaOff + 2) | 0 : (this.eaOff + 2) & 0xffff;
      lower = signExtend16(this.rd16(this.eaSeg, this.eaOff));
      upper = signExtend16(this.rd16(this.eaSeg, off2));
    }
    if (idx < lower || idx > upper) this.raiseNoCode(Exception.BR);
  }

  /** LDS/LES/LFS/LGS/LSS: offset first, then the selector (SDM "LDS/LES/LFS/LGS/LSS"). */
  loadFarPointer(seg: number): void {
    this.decodeModrm();
    if (this.modrm >= 0xc0) this.ud();
    const off = this.os32 ? this.rd32(this.eaSeg, this.eaOff) : this.rd16(this.eaSeg, this.eaOff);
    const selOff = this.as32
      ? (this.eaOff + (this.os32 ? 4 : 2)) | 0
      : (this.eaOff + (this.os32 ? 4 : 2)) & 0xffff;
    const sel = this.rd16(this.eaSeg, selOff);
    this.loadSeg(seg, sel);
    this.writeGv(off);
  }

  /** ENTER imm16, imm8 (SDM ENTER, nesting levels 0-31). */
  enter(): void {
    const r = this.regs;
    const size = this.fetch16();
    const level = this.fetch8() & 31;
    const os = this.os32 ? 4 : 2;
    // Check the whole new frame first so a fault leaves ESP and EBP unchanged.
    this.checkWrite(/* SS */ 2, this.stackOff(-(os * (1 + level))), os * (1 + level));
    this.pushv(r[5]);
    const frameTemp = this.ssB ? r[4] : r[4] & 0xffff;
    if (level > 0) {
      let bp = this.ssB ? r[5] : r[5] & 0xffff;
      for (let i = 1; i < level; i++) {
        bp = this.ssB ? (bp - os) | 0 : (bp - os) & 0xffff;
        this.pushv(this.os32 ? this.rd32(/* SS */ 2, bp) : this.rd16(/* SS */ 2, bp));
      }
      this.pushv(frameTemp);
    }
    if (this.os32) r[5] = frameTemp;
    else this.setReg16(5, frameTemp);
    this.addEsp(-size);
  }

  group5(): void {
    this.decodeModrm();
    const sub = (this.modrm >> 3) & 7;
    switch (sub) {
      case 0:
      case 1: {
        this.rmwCheck(this.os32 ? 4 : 2);
        const v = this.readEv();
        const size = this.os32 ? 32 : 16;
        this.writeEv(sub === 0 ? this.inc(size, v) : this.dec(size, v));
        return;
      }
      case 2: {
        const target = this.readEv();
        const t = this.os32 ? target : target & 0xffff;
        if ((t ^ /* MIN */ -0x80000000) > this.csLimitF) this.gp(0);
        this.pushv(this.pc);
        this.pc = t;
        return;
      }
      case 3:
      case 5: {
        if (this.modrm >= 0xc0) this.ud();
        const off = this.os32 ? this.rd32(this.eaSeg, this.eaOff) : this.rd16(this.eaSeg, this.eaOff);
        const selOff = this.as32
          ? (this.eaOff + (this.os32 ? 4 : 2)) | 0
          : (this.eaOff + (this.os32 ? 4 : 2)) & 0xffff;
        const sel = this.rd16(this.eaSeg, selOff);
        if (sub === 3) this.farCall(sel, off, this.os32, this.pc);
        else this.farJump(sel, off, this.os32, this.pc);
        return;
      }
      case 4:
        this.jumpNear(this.readEv());
        return;
      case 6:
        this.pushv(this.readEv());
        return;
      default:
        this.ud();
    }
  }

  /** Overridden by Ia32Cpu: the 0F map lives with the system instructions. */
  execute0F(_op: number, _rep: number): void {
    this.ud();
  }
}
