/**
 * The native harness checked against results worked out by hand from the SDM, independently of
 * @pagurus/cpu: if the harness itself misreported registers, flags, memory or faults, the
 * differential test would compare against garbage.
 */
import { describe, expect, it } from "vitest";
import { toolMissing } from "../../../../tooling/test-support/src/tools.js";
import type { TestCase } from "./generator.js";
import { chooseLayout, ensureHarness, runHost } from "./host.js";
import { fillScratch } from "./prng.js";

const harness = ensureHarness();
if ("missing" in harness) toolMissing("the host CPU harness", harness.missing);
const layout =
  "path" in harness
    ? chooseLayout(harness.path)
    : { scratchBase: 0x8000, addr16: true, sel: { cs: 0, ds: 0, fs: 0, gs: 0 } };
const S = layout.scratchBase;
const ESP0 = S + 0x1c00;

function tc(code: number[], regs: number[], eflags = 0x202, scratchSeed = 1, mode: 16 | 32 = 32): TestCase {
  const r = Uint32Array.from(regs.length ? regs : [0, 0, 0, 0, 0, 0, 0, 0]);
  r[4] = ESP0;
  return {
    id: 0,
    mode,
    code: Uint8Array.from(code),
    regs: r,
    eflags,
    scratchSeed,
    insns: [],
    undefAfter: 0,
    zeroSourceDest: null,
  };
}

describe.skipIf("missing" in harness)("host CPU harness", () => {
  const path = "path" in harness ? harness.path : "";

  it("reports registers and flags of straight-line code", () => {
    // add al, 0x7f with AL=1: 0x80, OF (sign change), SF, AF (carry out of bit 3), PF clear (one bit set)
    const [r] = runHost(path, layout, [tc([0x04, 0x7f], [1, 2, 3, 4, 0, 6, 7, 8])]);
    expect(r.vector).toBe(-1);
    expect(r.eipOffset).toBe(2);
    expect(Array.from(r.regs)).toEqual([0x80, 2, 3, 4, ESP0, 6, 7, 8]);
    expect(r.eflags & 0x8d5).toBe(0x800 | 0x80 | 0x10);
    expect(r.eflags & 0x202).toBe(0x202);
  });

  it("passes the initial EFLAGS in (STC/CMC chain)", () => {
    // adc eax, 0 with CF=1 in, EAX=0xffffffff: result 0, CF=1, ZF=1
    const [r] = runHost(path, layout, [tc([0x83, 0xd0, 0x00], [0xffffffff, 0, 0, 0, 0, 0, 0, 0], 0x203)]);
    expect(r.regs[0]).toBe(0);
    expect(r.eflags & 0x41).toBe(0x41);
  });

  it("reports memory writes as changed scratch dwords, and the stack", () => {
    // mov [S+0x10], ebx ; push ecx
    const [r] = runHost(path, layout, [
      tc([0x89, 0x1d, ...le32(S + 0x10), 0x51], [0, 0xc0ffee, 0, 0x12345678, 0, 0, 0, 0], 0x202, 99),
    ]);
    const initial = new Uint32Array(0x800);
    fillScratch(99, initial);
    const diffs = new Map<number, number>();
    for (let i = 0; i < r.diffs.length; i += 2) diffs.set(r.diffs[i], r.diffs[i + 1]);
    expect(diffs.get(4)).toBe(0x12345678);
    expect(diffs.get((0x1c00 - 4) / 4)).toBe(0xc0ffee);
    expect(r.regs[4]).toBe(ESP0 - 4);
    expect(diffs.size).toBe(2 - (initial[4] === 0x12345678 ? 1 : 0));
  });

  it("reports #DE with the registers before the faulting instruction", () => {
    // inc ebx ; div ecx (ECX=0)
    const [r] = runHost(path, layout, [tc([0x43, 0xf7, 0xf1], [5, 0, 0, 9, 0, 0, 0, 0])]);
    expect(r.vector).toBe(0);
    expect(r.eipOffset).toBe(1);
    expect(r.regs[3]).toBe(10);
    expect(r.regs[0]).toBe(5);
  });

  it("reports traps after the instruction and faults with their error code", () => {
    const res = runHost(path, layout, [
      tc([0x90, 0xcc], []), // INT3: trap, EIP after it
      tc([0x0f, 0x0b], []), // UD2: #UD at the instruction
      tc([0xf4], []), // HLT at CPL 3: #GP(0)
      tc([0xcd, 0x40], []), // INT 40h through a DPL 0 gate: #GP(40h*8+2)
      tc([0xb0, 0x7f, 0x04, 0x01, 0xce], []), // mov al,7f; add al,1 (OF=1); INTO: trap #OF
    ]);
    expect(res.map((r) => [r.vector, r.eipOffset])).toEqual([
      [3, 2],
      [6, 0],
      [13, 0],
      [13, 0],
      [4, 5],
    ]);
    expect(res[2].errorCode).toBe(0);
    expect(res[3].errorCode).toBe(0x40 * 8 + 2);
  });

  it("reports the selectors, also after the code loaded a null selector into DS and ES", () => {
    // mov eax, 3 ; mov ds, eax ; mov es, eax  (null selectors with RPL 3 load fine at CPL 3)
    const [r] = runHost(path, layout, [tc([0xb8, 3, 0, 0, 0, 0x8e, 0xd8, 0x8e, 0xc0], [])]);
    expect(r.vector).toBe(-1);
    expect(Array.from(r.sregs)).toEqual([3, layout.sel.cs, layout.sel.ds, 3, layout.sel.fs, layout.sel.gs]);
    // ... and a later access through the null DS is #GP(0) at that instruction.
    const [f] = runHost(path, layout, [tc([0xb8, 0, 0, 0, 0, 0x8e, 0xd8, 0x8b, 0x05, ...le32(S)], [])]);
    expect([f.vector, f.errorCode, f.eipOffset, f.sregs[3]]).toEqual([13, 0, 7, 0]);
  });

  it("runs code in a 16-bit code segment (LDT) with EIP relative to its base", () => {
    // 16-bit: mov ax, 0x1234 (B8 iw) ; push ax ; inc ax (40); then nop ; ud2 (#UD at +1)
    const [r, f] = runHost(path, layout, [
      tc([0xb8, 0x34, 0x12, 0x50, 0x40], [0xffff0000, 0, 0, 0, 0, 0, 0, 0], 0x202, 1, 16),
      tc([0x90, 0x0f, 0x0b], [], 0x202, 1, 16),
    ]);
    expect(r.vector).toBe(-1);
    expect(r.eipOffset).toBe(5);
    expect(r.regs[0]).toBe(0xffff1235);
    expect(r.regs[4]).toBe(ESP0 - 2);
    expect(r.sregs[1] & 4).toBe(4); // CS is the LDT selector
    expect([f.vector, f.eipOffset, f.sregs[1] & 4]).toEqual([6, 1, 4]);
  });

  it("keeps one process for many cases", () => {
    const many = Array.from({ length: 5000 }, (_, i) => tc([0x40 + (i & 7)], [1, 2, 3, 4, 0, 6, 7, 8]));
    const res = runHost(path, layout, many);
    expect(res).toHaveLength(5000);
    expect(res[4999].regs[7]).toBe(9); // inc edi
    expect(res[4998].regs[6]).toBe(8); // inc esi
  });
});

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
