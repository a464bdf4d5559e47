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

describe("string instructions", () => {
  it("REP MOVSB/STOSD/MOVSD across pages, backwards, overlapping and with 16-bit addresses", () => {
    const { cpu, mem } = flatCpu(`
      mov edi, 0x20ffe
      mov ecx, 3
      mov eax, 0x11223344
      rep stosd
      mov esi, 0x20ffe
      mov edi, 0x30ff0
      mov ecx, 12
      rep movsb
      ; overlapping forward copy repeats the first byte (memset idiom)
      mov byte [0x40000], 0x5a
      mov esi, 0x40000
      mov edi, 0x40001
      mov ecx, 100
      rep movsb
      ; backwards
      std
      mov esi, 0x20ffe + 8
      mov edi, 0x50008
      mov ecx, 3
      rep movsd
      cld
      ; 16-bit addressing wraps SI/DI at 64 KiB
      mov esi, 0x1fffe
      mov edi, 0x1fff0
      mov ecx, 4
      a16 rep movsb
      hlt`);
    mem.ram.set([1, 2, 3, 4], 0x1fffe - 0xfffe + 0xfffe);
    expect(cpu.run({ instructions: 1000 })).toBe("halt");
    expect(mem.r32(0x20ffe)).toBe(0x11223344);
    expect(mem.r32(0x21002)).toBe(0x11223344);
    expect(mem.r32(0x30ff0 + 8)).toBe(0x11223344);
    expect(mem.ram[0x40000 + 100]).toBe(0x5a);
    expect(mem.ram[0x40000 + 101]).toBe(0);
    expect(mem.r32(0x50000)).toBe(0x11223344);
    expect(mem.r32(0x50008)).toBe(0x11223344);
    expect(cpu.getReg(Reg.ECX)).toBe(0);
    expect(cpu.getReg(Reg.ESI)).toBe(0x10002);
    expect(cpu.getReg(Reg.EDI)).toBe(0x1fff4);
  });

  it("REPE CMPSB stops at the first difference; REPNE SCASB finds a byte", () => {
    const { cpu, mem } = flatCpu(`
      mov esi, 0x20000
      mov edi, 0x21000
      mov ecx, 10
      repe cmpsb
      mov ebx, ecx
      mov edi, 0x20000
      mov al, 7
      mov ecx, 10
      repne scasb
      hlt`);
    mem.ram.set([1, 2, 3, 4, 5, 6, 7, 8], 0x20000);
    mem.ram.set([1, 2, 3, 9], 0x21000);
    cpu.run({ instructions: 1000 });
    expect(cpu.getReg(Reg.EBX)).toBe(6);
    expect(cpu.getReg(Reg.EDI)).toBe(0x20007);
    expect(cpu.getReg(Reg.ECX)).toBe(3);
  });
});
