import { Eflags, Exception, Reg, Seg } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { GDT, SEL, sysCpu, TSS_A, writeDescriptor } from "./helpers.js";

const TO_RING3 = `
  push 0x23
  push 0x7000
  pushfd
  push 0x1b
  push user
  iretd
user:`;

describe("identification and counters", () => {
  it("CPUID reports GenuineIntel, family 6, and only implemented features", () => {
    const s = sysCpu(
      `xor eax, eax\n cpuid\n mov esi, ebx\n mov edi, edx\n mov ebp, ecx\n mov eax, 1\n cpuid\n hlt`,
    );
    s.cpu.run({ instructions: 100 });
    const vendor = [s.cpu.getReg(Reg.ESI), s.cpu.getReg(Reg.EDI), s.cpu.getReg(Reg.EBP)]
      .map((v) => String.fromCharCode(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >>> 24))
      .join("");
    expect(vendor).toBe("GenuineIntel");
    expect((s.cpu.getReg(Reg.EAX) >> 8) & 0xf).toBe(6);
    const edx = s.cpu.getReg(Reg.EDX);
    expect(edx & 1).toBe(0); // no FPU
    expect(edx & (1 << 11)).toBe(0); // no SEP
    expect(edx & (1 << 4)).toBeTruthy(); // TSC
    expect(edx & (1 << 8)).toBeTruthy(); // CX8
    expect(edx & (1 << 15)).toBeTruthy(); // CMOV
    expect(edx & (1 << 3)).toBe(0); // PSE only with a translation unit
  });

  it("RDTSC counts instructions; WRMSR/RDMSR on the TSC; other MSRs are #GP(0)", () => {
    const s = sysCpu(
      `nop
       nop
       rdtsc
       mov esi, eax
       mov ecx, 0x10
       mov eax, 1000
       xor edx, edx
       wrmsr
       rdmsr
       mov edi, eax
       mov ecx, 0x174
    fault: rdmsr
       hlt
    h: hlt`,
      { [Exception.GP]: { label: "h" } },
    );
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.getReg(Reg.ESI)).toBe(2);
    expect(s.cpu.getReg(Reg.EDI)).toBe(1001); // one instruction later
    expect(s.mem.r32(s.cpu.getReg(Reg.ESP) + 4)).toBe(s.sym("fault"));
  });
});

describe("privileged instructions at CPL 3 are #GP(0)", () => {
  for (const insn of [
    "hlt",
    "cli",
    "mov cr0, eax",
    "mov eax, cr3",
    "lgdt [0x6000]",
    "lidt [0x6000]",
    "clts",
    "wbinvd",
    "invlpg [0]",
    "mov dr7, eax",
    "in al, 0x60",
    "wrmsr",
    "lmsw ax",
    "ltr ax",
    "lldt ax",
  ]) {
    it(insn, () => {
      const s = sysCpu(`${TO_RING3}\n fault: ${insn}\n hlt\n h: hlt`, { [Exception.GP]: { label: "h" } });
      s.cpu.run({ instructions: 100 });
      const esp = s.cpu.getReg(Reg.ESP);
      expect(s.mem.r32(esp)).toBe(0);
      expect(s.mem.r32(esp + 4)).toBe(s.sym("fault"));
    });
  }
});

describe("descriptor-table instructions", () => {
  it("LGDT/SGDT and LIDT/SIDT round trip; SMSW and LMSW", () => {
    const s = sysCpu(
      `lgdt [src]
       sgdt [dst]
       sidt [dst2]
       lgdt [orig]
       smsw eax
       mov ebx, 0xe
       lmsw bx
       smsw ecx
       hlt
    src: dw 0x1234
       dd 0x00abcdef
    orig: dw 0x5f
       dd 0x500
    dst: times 6 db 0
    dst2: times 6 db 0`,
    );
    s.cpu.run({ instructions: 100 });
    expect(s.mem.r16(s.sym("dst"))).toBe(0x1234);
    expect(s.mem.r32(s.sym("dst") + 2)).toBe(0xabcdef);
    expect(s.mem.r16(s.sym("dst2"))).toBe(0x7ff);
    expect(s.cpu.gdtr).toEqual({ base: 0x500, limit: 0x5f });
    expect(s.cpu.getReg(Reg.EAX)).toBe(0x60000011);
    // LMSW sets MP EM TS but cannot clear PE
    expect(s.cpu.getReg(Reg.ECX) & 0xf).toBe(0xf);
  });

  it("LAR/LSL/VERR/VERW report access rights, limits and ZF", () => {
    const s = sysCpu(
      `mov cx, 0x1b
       lar eax, cx
       pushfd
       lsl ebx, cx
       mov dx, 0x48
       lsl esi, dx
       pushfd
       verr cx
       pushfd
       verw cx
       pushfd
       mov dx, 0x99
       lar edi, dx
       pushfd
       hlt`,
    );
    writeDescriptor(s.mem, GDT + 0x48, 0x1000, 0x2fff, 0x13, 0, 0);
    s.cpu.run({ instructions: 100 });
    const esp = s.cpu.getReg(Reg.ESP);
    const zf = (i: number) => (s.mem.r32(esp + 4 * i) & Eflags.ZF) !== 0;
    expect(s.cpu.getReg(Reg.EAX)).toBe(0x00c0fb00); // limit bits 19:16 masked, as QEMU and Bochs do
    expect(s.cpu.getReg(Reg.EBX)).toBe(0xffffffff);
    expect(s.cpu.getReg(Reg.ESI)).toBe(0x2fff);
    expect(zf(4)).toBe(true); // lar
    expect(zf(3)).toBe(true); // lsl 0x48
    expect(zf(2)).toBe(true); // verr code (readable)
    expect(zf(1)).toBe(false); // verw code
    expect(zf(0)).toBe(false); // lar beyond the GDT limit
  });

  it("LTR marks the TSS busy; LTR of a busy TSS and LLDT of a non-LDT are #GP(selector)", () => {
    const s = sysCpu(
      `mov ax, 0x30
       ltr ax
       str ebx
       mov ax, 0x28
    fault: ltr ax
       hlt
    h: hlt`,
      { [Exception.GP]: { label: "h" } },
    );
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.getReg(Reg.EBX)).toBe(0x30);
    expect(s.mem.ram[GDT + 0x30 + 5] & 0x0f).toBe(0x0b);
    const esp = s.cpu.getReg(Reg.ESP);
    expect(s.mem.r32(esp)).toBe(0x28);
    expect(s.mem.r32(esp + 4)).toBe(s.sym("fault"));

    const t = sysCpu(`mov ax, 0x08\n fault: lldt ax\n hlt\n h: hlt`, { [Exception.GP]: { label: "h" } });
    t.cpu.run({ instructions: 100 });
    expect(t.mem.r32(t.cpu.getReg(Reg.ESP))).toBe(0x08);
  });

  it("LLDT and segment loads through the LDT", () => {
    const s = sysCpu(
      `mov ax, 0x48
       lldt ax
       mov ax, 0x0c
       mov es, ax
       mov eax, [es:0]
       hlt`,
    );
    // LDT at 0x4000 with one data segment at base 0x5000 (selector 0x0c = index 1, TI)
    writeDescriptor(s.mem, GDT + 0x48, 0x4000, 0x0f, 0x02, 0, 0);
    writeDescriptor(s.mem, 0x4008, 0x5000, 0xfff, 0x13, 0, 0x4);
    s.mem.w32(0x5000, 0xdeadbeef);
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.getReg(Reg.EAX)).toBe(0xdeadbeef);
    expect(s.cpu.getSegment(Seg.LDTR)).toMatchObject({ selector: 0x48, base: 0x4000, limit: 0xf });
    expect(s.cpu.getSegment(Seg.ES).base).toBe(0x5000);
  });

  it("ARPL raises the RPL and sets ZF", () => {
    const s = sysCpu(`mov ax, 0x10\n mov bx, 0x23\n arpl ax, bx\n pushfd\n pop ecx\n hlt`);
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.getReg(Reg.EAX) & 0xffff).toBe(0x13);
    expect(s.cpu.getReg(Reg.ECX) & Eflags.ZF).toBe(Eflags.ZF);
  });

  it("CR4 reserved bits are #GP(0); debug registers hold their values", () => {
    const s = sysCpu(
      `mov eax, 0x12345678
       mov dr0, eax
       mov ebx, dr0
       mov ecx, dr7
       mov eax, 1 << 5
    fault: mov cr4, eax
       hlt
    h: hlt`,
      { [Exception.GP]: { label: "h" } },
    );
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.getReg(Reg.EBX)).toBe(0x12345678);
    expect(s.cpu.getReg(Reg.ECX)).toBe(0x400);
    expect(s.mem.r32(s.cpu.getReg(Reg.ESP) + 4)).toBe(s.sym("fault"));
  });
});

describe("virtual-8086 mode", () => {
  it("is not implemented: IRET into it stops the run with a clear report", () => {
    const s = sysCpu(
      `push 0
       push 0
       push 0
       push 0
       push 0x1000
       push 0x7000
       push 0x20002
       push 0x1000
       push 0
       iretd`,
    );
    expect(s.cpu.run({ instructions: 100 })).toBe("shutdown");
    expect(s.cpu.shutdownReport).toMatch(/virtual-8086/);
    expect(s.cpu.eflags & Eflags.VM).toBe(0);
    expect(() => {
      s.cpu.eflags = Eflags.VM;
    }).toThrow(/virtual-8086/);
  });
});

describe("task state", () => {
  it("TSS A stays the current task for stack switches", () => {
    const s = sysCpu(`hlt`);
    expect(s.cpu.getSegment(Seg.TR)).toMatchObject({ selector: SEL.tssA, base: TSS_A });
  });
});
