import { Eflags, Reg } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { flatCpu } from "./helpers.js";

describe("flat 32-bit code", () => {
  it("runs arithmetic and a loop, then halts", () => {
    const { cpu } = flatCpu(`
      mov eax, 5
      add eax, 7
      mov ecx, 10
      xor ebx, ebx
    l: add ebx, ecx
      loop l
      hlt`);
    expect(cpu.run({ instructions: 1000 })).toBe("halt");
    expect(cpu.getReg(Reg.EAX)).toBe(12);
    expect(cpu.getReg(Reg.EBX)).toBe(55);
    expect(cpu.getReg(Reg.ECX)).toBe(0);
  });

  it("computes flags lazily and exactly", () => {
    const { cpu } = flatCpu(`
      mov eax, 0x7fffffff
      add eax, 1
      hlt`);
    cpu.run();
    const f = cpu.eflags;
    expect(f & Eflags.OF).toBeTruthy();
    expect(f & Eflags.SF).toBeTruthy();
    expect(f & Eflags.ZF).toBe(0);
    expect(f & Eflags.CF).toBe(0);
    expect(f & Eflags.AF).toBeTruthy();
    expect(f & Eflags.PF).toBeTruthy();
  });
});
