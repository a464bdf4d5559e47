import { Reg, Seg } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { Ia32Cpu } from "../src/index.js";
import { assemble, realCpu, TestIo, TestMemory, writeDescriptor } from "./helpers.js";

describe("reset", () => {
  it("starts at F000:FFF0 with CS base FFFF0000 (SDM table 9-1)", () => {
    const mem = new TestMemory();
    const cpu = new Ia32Cpu({ memory: mem, io: new TestIo() });
    expect(cpu.eip).toBe(0xfff0);
    expect(cpu.getSegment(Seg.CS)).toMatchObject({ selector: 0xf000, base: 0xffff0000, limit: 0xffff });
    expect(cpu.eflags).toBe(2);
    expect(cpu.getCr(0)).toBe(0x60000010);
    expect(cpu.getReg(Reg.EDX)).toBe(0x619);
    expect(cpu.cpl).toBe(0);
  });
});

describe("real mode", () => {
  it("addresses segment * 16 + offset and runs 16-bit code with 32-bit prefixes", () => {
    const { cpu, mem } = realCpu(`
      mov ax, 0x1000
      mov ds, ax
      mov word [0x20], 0x1234
      mov eax, 0x89abcdef
      mov [0x22], eax
      add eax, 1
      mov bx, [0x22]
      hlt`);
    expect(cpu.run({ instructions: 100 })).toBe("halt");
    expect(mem.r16(0x10020)).toBe(0x1234);
    expect(mem.r32(0x10022)).toBe(0x89abcdef);
    expect(cpu.getReg(Reg.EAX)).toBe(0x89abcdf0);
    expect(cpu.getReg(Reg.EBX) & 0xffff).toBe(0xcdef);
  });

  it("INT n goes through the IVT, pushes FLAGS CS IP, and IRET returns", () => {
    const { cpu, mem } = realCpu(`
      mov word [0x80*4], handler
      mov word [0x80*4+2], 0
      sti
      int 0x80
    after:
      mov cx, 3
      hlt
    handler:
      mov bp, sp
      mov ax, [bp]
      mov bx, [bp+4]
      iret`);
    cpu.run({ instructions: 100 });
    expect(cpu.getReg(Reg.EAX) & 0xffff).toBe(0x7c00 + 15);
    expect(cpu.getReg(Reg.EBX) & 0x200).toBe(0x200);
    expect(cpu.getReg(Reg.ECX) & 0xffff).toBe(3);
    expect(mem.r16(0x7000 - 2)).toBe(cpu.getReg(Reg.EBX) & 0xffff);
  });

  it("wraps at 1 MiB when A20 is masked", () => {
    const { cpu, mem } = realCpu(`
      mov ax, 0xffff
      mov ds, ax
      mov byte [0x10], 0x5a
      hlt`);
    cpu.a20.set(false);
    cpu.run({ instructions: 100 });
    expect(mem.ram[0]).toBe(0x5a);
    expect(mem.ram[0x100000]).toBe(0);
  });

  it("#DE in real mode uses IVT vector 0 and returns to the faulting DIV", () => {
    const { cpu } = realCpu(`
      mov word [0], handler
      mov word [2], 0
      xor cx, cx
      mov ax, 5
    fault:
      div cl
      hlt
    handler:
      mov bp, sp
      mov si, [bp]
      hlt`);
    cpu.run({ instructions: 100 });
    expect(cpu.getReg(Reg.ESI) & 0xffff).toBe(0x7c00 + 17);
  });
});

describe("mode switches", () => {
  const GDT_SRC = `
    align 8
    gdt: dq 0
      dw 0xffff, 0, 0x9a00, 0x00cf   ; 0x08 flat code 32
      dw 0xffff, 0, 0x9200, 0x00cf   ; 0x10 flat data 32 (4 GiB)
      dw 0xffff, 0, 0x9a00, 0x0000   ; 0x18 code 16, limit 64K
      dw 0xffff, 0, 0x9200, 0x0000   ; 0x20 data 16, limit 64K
    gdt_end:
    gdtr: dw gdt_end - gdt - 1
      dd gdt`;

  it("real -> protected (32-bit) -> real, and unreal mode keeps the 4 GiB limit", () => {
    const { cpu, mem } = realCpu(`
      cli
      lgdt [gdtr]
      mov eax, cr0
      or al, 1
      mov cr0, eax
      jmp 0x08:pm32
    bits 32
    pm32:
      mov ax, 0x10
      mov ds, ax
      mov fs, ax
      mov dword [0x200000], 0xcafe
      mov esi, cr0
      jmp 0x18:pm16
    bits 16
    pm16:
      mov ax, 0x20
      mov ds, ax
      mov eax, cr0
      and al, 0xfe
      mov cr0, eax
      jmp 0:rm
    rm:
      xor ax, ax
      mov ds, ax
      mov ebx, [dword fs:0x200000]      ; unreal: FS keeps its 4 GiB limit
      mov dword [dword fs:0x200004], 0xbeef
      hlt
    ${GDT_SRC}`);
    expect(cpu.run({ instructions: 100 })).toBe("halt");
    expect(cpu.getReg(Reg.ESI) & 1).toBe(1);
    expect(cpu.getCr(0) & 1).toBe(0);
    expect(cpu.getSegment(Seg.CS).base).toBe(0);
    expect(cpu.getReg(Reg.EBX)).toBe(0xcafe);
    expect(mem.r32(0x200004)).toBe(0xbeef);
    expect(cpu.getSegment(Seg.FS).limit).toBe(0xffffffff);
  });

  it("a real-mode segment with a 64 KiB limit faults beyond it (#GP via IVT 13)", () => {
    const { cpu } = realCpu(`
      mov word [13*4], handler
      mov word [13*4+2], 0
      xor ax, ax
      mov ds, ax
    fault:
      mov eax, [dword 0x10000]
      hlt
    handler:
      mov bp, sp
      mov di, [bp]
      hlt`);
    cpu.run({ instructions: 100 });
    expect(cpu.getReg(Reg.EDI) & 0xffff).toBe(0x7c00 + 16);
  });

  it("descriptor tables from JS: far jump into a 16-bit protected-mode segment", () => {
    const mem = new TestMemory();
    const cpu = new Ia32Cpu({ memory: mem, io: new TestIo() });
    writeDescriptor(mem, 0x508, 0x10000, 0xffff, 0x1b, 0, 0);
    cpu.gdtr = { base: 0x500, limit: 0xf };
    mem.load(0x10000, assemble("bits 16\n mov ax, 0x1234\n hlt"));
    mem.load(0x7c00, assemble("bits 16\norg 0x7c00\n mov eax, cr0\n or al, 1\n mov cr0, eax\n jmp 0x08:0"));
    cpu.setSegment(Seg.CS, { selector: 0, base: 0, limit: 0xffff, access: 0x9b });
    cpu.eip = 0x7c00;
    cpu.run({ instructions: 100 });
    expect(cpu.getReg(Reg.EAX) & 0xffff).toBe(0x1234);
    expect(cpu.getSegment(Seg.CS)).toMatchObject({ selector: 8, base: 0x10000, limit: 0xffff });
    // the CPU set the Accessed bit in the descriptor
    expect(mem.ram[0x508 + 5] & 1).toBe(1);
  });
});
