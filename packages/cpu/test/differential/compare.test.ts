/**
 * The comparison masks exactly what it should: a flag the SDM leaves undefined for the last
 * instruction may differ, a defined one may not; BSF/BSR's destination only when ZF=1; RF only
 * in a fault's image. Fabricated results, so this runs without the harness or the CPU.
 */
import { describe, expect, it } from "vitest";
import { compareCase } from "./corpus.js";
import type { EmuResult } from "./emulated.js";
import { AF, CF, RF, ZF } from "./flags.js";
import type { TestCase } from "./generator.js";
import type { HostResult } from "./host.js";
import { fillScratch } from "./prng.js";

const SEED = 7;
const scratch = () => {
  const s = new Uint32Array(0x800);
  fillScratch(SEED, s);
  return s;
};

function tc(undefAfter: number, extra: Partial<TestCase> = {}): TestCase {
  return {
    id: 1,
    mode: 32,
    code: Uint8Array.from([0x21, 0xc8]), // and eax, ecx
    regs: new Uint32Array(8),
    eflags: 0x202,
    scratchSeed: SEED,
    insns: [{ offset: 0, length: 2, form: "AND E,G 32 reg", undefBefore: 0 }],
    undefAfter,
    zeroSourceDest: null,
    ...extra,
  };
}

const host = (eflags: number, regs = new Uint32Array(8), vector = -1, eipOffset = 2): HostResult => ({
  vector,
  errorCode: 0,
  eipOffset,
  regs,
  eflags,
  sregs: new Uint16Array(6),
  diffs: new Uint32Array(0),
});
const emu = (eflags: number, regs = new Uint32Array(8), vector = -1, eipOffset = 2): EmuResult => ({
  vector,
  errorCode: 0,
  kind: vector < 0 ? null : "exception",
  eipOffset,
  regs,
  eflags,
  sregs: new Uint16Array(6),
  stop: vector < 0 ? "address" : "stop",
});

describe("compareCase", () => {
  it("ignores an undefined flag and reports a defined one", () => {
    expect(compareCase(1, tc(AF), host(0x202 | AF), emu(0x202), scratch())).toBeNull();
    const m = compareCase(1, tc(AF), host(0x202 | CF), emu(0x202), scratch());
    expect(m?.details.join()).toMatch(/EFLAGS/);
  });

  it("reports registers, memory and exceptions", () => {
    const regs = new Uint32Array(8);
    regs[3] = 5;
    expect(compareCase(1, tc(0), host(0x202, regs), emu(0x202), scratch())?.details.join()).toMatch(/EBX/);
    const changed = scratch();
    changed[10] ^= 1;
    expect(compareCase(1, tc(0), host(0x202), emu(0x202), changed)?.details.join()).toMatch(
      /memory scratch\+28/,
    );
    expect(
      compareCase(1, tc(0), host(0x202, undefined, 0, 0), emu(0x202), scratch())?.details.join(),
    ).toMatch(/exception/);
  });

  it("masks a BSF/BSR destination only when the source was zero (ZF=1)", () => {
    const t = tc(CF, { zeroSourceDest: { reg: 2, mask: 0xffff } });
    const a = new Uint32Array(8);
    const b = new Uint32Array(8);
    b[2] = 0x1234;
    expect(compareCase(1, t, host(0x202 | ZF, a), emu(0x202 | ZF, b), scratch())).toBeNull();
    expect(compareCase(1, t, host(0x202, a), emu(0x202, b), scratch())).not.toBeNull();
    b[2] = 0x10000; // above the 16-bit destination: defined
    expect(compareCase(1, t, host(0x202 | ZF, a), emu(0x202 | ZF, b), scratch())).not.toBeNull();
  });

  it("masks RF only in a fault's image, and uses the undefined flags before the faulting instruction", () => {
    const t = tc(AF);
    expect(
      compareCase(1, t, host(0x202 | RF, undefined, 13, 0), emu(0x202, undefined, 13, 0), scratch()),
    ).toBeNull();
    expect(compareCase(1, t, host(0x202 | RF), emu(0x202), scratch())).not.toBeNull();
    // Faulting at the AND itself: nothing is undefined yet, so AF must match.
    expect(
      compareCase(1, t, host(0x202 | AF, undefined, 13, 0), emu(0x202, undefined, 13, 0), scratch()),
    ).not.toBeNull();
  });
});
