import { Eflags, Exception, Reg, Seg } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { GDT, SEL, sysCpu, TSS_A, TSS_B, writeDescriptor, writeGate } from "./helpers.js";

const TO_RING3 = `
  push 0x23
  push 0x7000
  pushfd
  push 0x1b
  push user
  iretd`;

describe("interrupt gates and privilege changes", () => {
  it("INT n from ring 3 switches to the TSS ring-0 stack and IRET returns", () => {
    const s = sysCpu(
      `${TO_RING3}
    user:
      mov eax, 0x11
      int 0x80
    back:
      mov ebx, 0x22
    fault:
      int 0x81
      hlt
    h80:
      mov [ss:saved], esp
      push ecx
      push esi
      push edi
      lea esi, [esp+12]
      mov edi, copy
      mov ecx, 6
    cp: mov eax, [ss:esi]
      mov [ss:edi], eax
      add esi, 4
      add edi, 4
      loop cp
      pop edi
      pop esi
      pop ecx
      mov edi, [esp+16]
      iretd
    hgp:
      hlt
    saved: dd 0
    copy: times 6 dd 0`,
      {
        128: { label: "h80", type: 0x0f, dpl: 3 },
        129: { label: "h80", type: 0x0e, dpl: 0 },
        [Exception.GP]: { label: "hgp" },
      },
    );
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    const m = s.mem;
    expect(m.r32(s.sym("saved"))).toBe(0x9000 - 20);
    const saved = s.sym("copy");
    expect(m.r32(saved)).toBe(s.sym("back"));
    expect(m.r32(saved + 4)).toBe(SEL.code3);
    expect(m.r32(saved + 12)).toBe(0x7000);
    expect(m.r32(saved + 16)).toBe(SEL.data3);
    expect(s.cpu.getReg(Reg.EDI)).toBe(SEL.data3);
    expect(s.cpu.getReg(Reg.EBX)).toBe(0x22);
    // int 0x81 at CPL 3 through a DPL-0 gate: #GP(vector * 8 + 2), frame on the ring-0 stack
    const esp = s.cpu.getReg(Reg.ESP);
    expect(esp).toBe(0x9000 - 24);
    expect(m.r32(esp)).toBe(0x81 * 8 + 2);
    expect(m.r32(esp + 4)).toBe(s.sym("fault"));
    expect(m.r32(esp + 8)).toBe(SEL.code3);
    expect(m.r32(esp + 16)).toBe(0x7000);
    expect(m.r32(esp + 20)).toBe(SEL.data3);
    expect(s.cpu.cpl).toBe(0);
    expect(s.cpu.getSegment(Seg.SS).selector).toBe(SEL.data0);
    // IRET to ring 3 nulled DS (its DPL 0 is below the new CPL)
    expect(s.cpu.getSegment(Seg.DS).selector).toBe(0);
  });

  it("INT 8 and INT 14 from ring 3 through DPL-0 gates are #GP(vector*8+2), never #DF", () => {
    for (const v of [8, 14]) {
      const s = sysCpu(
        `${TO_RING3}
      user:
      fault: int ${v}
        hlt
      h: hlt`,
        { [v]: { label: "h" }, [Exception.GP]: { label: "h" }, [Exception.DF]: { label: "h" } },
      );
      s.cpu.run({ instructions: 100 });
      const esp = s.cpu.getReg(Reg.ESP);
      expect(s.mem.r32(esp)).toBe(v * 8 + 2);
      expect(s.mem.r32(esp + 4)).toBe(s.sym("fault"));
    }
  });

  it("interrupt gates clear IF, trap gates keep it", () => {
    const s = sysCpu(
      `sti
       int 0x40
       hlt
    h: pushfd
       pop eax
       cli
       hlt`,
      { 64: { label: "h", type: 0x0f } },
    );
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.getReg(Reg.EAX) & Eflags.IF).toBeTruthy();
    const t = sysCpu(
      `sti
       int 0x40
       hlt
    h: pushfd
       pop eax
       hlt`,
      { 64: { label: "h", type: 0x0e } },
    );
    t.cpu.run({ instructions: 100 });
    expect(t.cpu.getReg(Reg.EAX) & Eflags.IF).toBe(0);
  });

  it("#SS(0) at ring 3 is delivered on the ring-0 stack", () => {
    const s = sysCpu(
      `push 0x4b
       push 0x7000
       pushfd
       push 0x1b
       push user
       iretd
    user:
    fault:
       push eax
       hlt
    h: hlt`,
      { [Exception.SS]: { label: "h" } },
    );
    // ring-3 stack segment with limit 0x6ffb: the push at 0x6ffc does not fit
    writeDescriptor(s.mem, GDT + 0x48, 0, 0x6ffb, 0x13, 3, 0x4);
    s.cpu.run({ instructions: 100 });
    const esp = s.cpu.getReg(Reg.ESP);
    expect(esp).toBe(0x9000 - 24);
    expect(s.mem.r32(esp)).toBe(0);
    expect(s.mem.r32(esp + 4)).toBe(s.sym("fault"));
    expect(s.mem.r32(esp + 20)).toBe(0x4b);
  });
});

describe("far calls, call gates and returns", () => {
  it("a call gate to ring 0 copies parameters; RETF imm returns to ring 3", () => {
    const s = sysCpu(
      `${TO_RING3}
    user:
      push 0xaaaa
      push 0xbbbb
      call 0x4b:0
    back:
      mov esi, esp
      hlt
    target:
      mov [ss:saved], esp
      push ecx
      push esi
      push edi
      lea esi, [esp+12]
      mov edi, copy
      mov ecx, 6
    cp: mov eax, [ss:esi]
      mov [ss:edi], eax
      add esi, 4
      add edi, 4
      loop cp
      pop edi
      pop esi
      pop ecx
      retf 8
    hgp:
      hlt
    saved: dd 0
    copy: times 6 dd 0`,
      { [Exception.GP]: { label: "hgp" } },
    );
    writeGate(s.mem, GDT + 0x48, SEL.code0, s.sym("target"), 0x0c, 3, 2);
    s.cpu.run({ instructions: 100 });
    const m = s.mem;
    expect(m.r32(s.sym("saved"))).toBe(0x9000 - 24);
    const saved = s.sym("copy");
    expect(m.r32(saved)).toBe(s.sym("back"));
    expect(m.r32(saved + 4)).toBe(SEL.code3);
    expect(m.r32(saved + 8)).toBe(0xbbbb);
    expect(m.r32(saved + 12)).toBe(0xaaaa);
    expect(m.r32(saved + 16)).toBe(0x7000 - 8);
    expect(m.r32(saved + 20)).toBe(SEL.data3);
    // back in ring 3 with the parameters popped; HLT there is #GP(0)
    expect(s.cpu.getReg(Reg.ESI)).toBe(0x7000);
    expect(s.cpu.cpl).toBe(0);
    expect(m.r32(s.cpu.getReg(Reg.ESP) + 4)).toBe(s.sym("back") + 2);
  });

  it("far JMP/CALL to a code segment, RETF at the same level, #GP on a bad target", () => {
    const s = sysCpu(
      `call SEL_CODE:far_fn
       mov ebx, eax
    fault:
       jmp 0x10:0
       hlt
    far_fn:
       mov eax, 0x55
       retf
    hgp: hlt
    SEL_CODE equ 0x08`,
      { [Exception.GP]: { label: "hgp" } },
    );
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.getReg(Reg.EBX)).toBe(0x55);
    const esp = s.cpu.getReg(Reg.ESP);
    expect(s.mem.r32(esp)).toBe(0x10);
    expect(s.mem.r32(esp + 4)).toBe(s.sym("fault"));
  });
});

describe("hardware task switching", () => {
  function fillTss(s: ReturnType<typeof sysCpu>, at: number, eip: number, esp: number): void {
    s.mem.w32(at + 0x20, eip);
    s.mem.w32(at + 0x24, 2);
    s.mem.w32(at + 0x38, esp);
    s.mem.w32(at + 0x48, SEL.data0);
    s.mem.w32(at + 0x4c, SEL.code0);
    s.mem.w32(at + 0x50, SEL.data0);
    s.mem.w32(at + 0x54, SEL.data0);
    s.mem.w32(at + 0x58, SEL.data0);
    s.mem.w32(at + 0x5c, SEL.data0);
  }

  it("JMP to a TSS saves the old task, loads the new one and moves the busy bit", () => {
    const s = sysCpu(
      `mov eax, 0x1234
       jmp 0x30:0
    after:
       hlt
    taskb:
       mov ebx, 0x99
       hlt`,
    );
    fillTss(s, TSS_B, s.sym("taskb"), 0x6000);
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.getReg(Reg.EBX)).toBe(0x99);
    expect(s.cpu.getReg(Reg.ESP)).toBe(0x6000);
    expect(s.cpu.getReg(Reg.EAX)).toBe(0);
    expect(s.cpu.getSegment(Seg.TR).selector).toBe(SEL.tssB);
    expect(s.mem.r32(TSS_A + 0x20)).toBe(s.sym("after"));
    expect(s.mem.r32(TSS_A + 0x28)).toBe(0x1234);
    expect(s.mem.r32(TSS_A + 0x38)).toBe(0x8000);
    expect((s.mem.ram[GDT + 0x28 + 5] >> 1) & 1).toBe(0); // A no longer busy
    expect((s.mem.ram[GDT + 0x30 + 5] >> 1) & 1).toBe(1); // B busy
    expect(s.cpu.getCr(0) & 8).toBe(8); // CR0.TS
    expect(s.mem.r16(TSS_B)).toBe(0); // JMP leaves no back link
  });

  it("INT through a task gate nests (NT, back link) and IRET returns to the caller", () => {
    const s = sysCpu(
      `mov eax, 0x1234
       int 0x40
    after:
       mov ecx, eax
       pushfd
       pop edx
       hlt
    taskb:
       pushfd
       pop esi
       iretd
       `,
    );
    writeGate(s.mem, 0x800 + 0x40 * 8, SEL.tssB, 0, 0x05, 0);
    fillTss(s, TSS_B, s.sym("taskb"), 0x6000);
    s.cpu.run({ instructions: 100 });
    expect(s.mem.r16(TSS_B)).toBe(SEL.tssA);
    expect(s.mem.r32(TSS_B + 0x24 + 0x10) & 0).toBe(0);
    // task B saw NT set; after IRET, task A runs with its registers and NT clear
    expect(s.mem.r32(TSS_B + 0x28 + 6 * 4) & Eflags.NT).toBe(Eflags.NT);
    expect(s.cpu.getReg(Reg.ECX)).toBe(0x1234);
    expect(s.cpu.getReg(Reg.EDX) & Eflags.NT).toBe(0);
    expect(s.cpu.getSegment(Seg.TR).selector).toBe(SEL.tssA);
    expect((s.mem.ram[GDT + 0x30 + 5] >> 1) & 1).toBe(0); // B not busy after IRET
    expect((s.mem.ram[GDT + 0x28 + 5] >> 1) & 1).toBe(1);
  });

  it("CALL to a busy TSS is #GP(selector)", () => {
    const s = sysCpu(
      `fault: call 0x28:0
       hlt
    h: hlt`,
      { [Exception.GP]: { label: "h" } },
    );
    s.cpu.run({ instructions: 100 });
    const esp = s.cpu.getReg(Reg.ESP);
    expect(s.mem.r32(esp)).toBe(0x28);
    expect(s.mem.r32(esp + 4)).toBe(s.sym("fault"));
  });
});

describe("I/O permission", () => {
  it("IN/OUT at CPL 3 with IOPL 0 consult the TSS bitmap", () => {
    const s = sysCpu(
      `${TO_RING3}
    user:
      out 0x80, al
    fault:
      out 0x81, al
      hlt
    h: hlt`,
      { [Exception.GP]: { label: "h" } },
    );
    // TSS A with an I/O map at 0x68 covering ports 0-0x3ff: 0x80 allowed, 0x81 not
    writeDescriptor(s.mem, GDT + 0x28, TSS_A, 0x68 + 0x80, 0x0b, 0, 0);
    s.cpu.setSegment(Seg.TR, { selector: SEL.tssA, base: TSS_A, limit: 0x68 + 0x80, access: 0x8b });
    s.mem.ram[TSS_A + 102] = 0x68;
    s.mem.ram.fill(0xff, TSS_A + 0x68, TSS_A + 0x68 + 0x80);
    s.mem.ram[TSS_A + 0x68 + 0x10] = 0xfe;
    s.cpu.run({ instructions: 100 });
    expect(s.io.writes.map((w) => w[0])).toEqual([0x80]);
    expect(s.mem.r32(s.cpu.getReg(Reg.ESP) + 4)).toBe(s.sym("fault"));
  });
});

describe("16-bit gates and TSSs", () => {
  it("a 16-bit interrupt gate pushes a 16-bit frame", () => {
    const s = sysCpu(
      `int 0x41
    after:
       hlt
    h: hlt`,
    );
    writeGate(s.mem, 0x800 + 0x41 * 8, SEL.code0, s.sym("h"), 0x06, 0);
    s.cpu.run({ instructions: 100 });
    const esp = s.cpu.getReg(Reg.ESP);
    expect(esp).toBe(0x8000 - 6);
    expect(s.mem.r16(esp)).toBe(s.sym("after"));
    expect(s.mem.r16(esp + 2)).toBe(SEL.code0);
  });

  it("JMP to a 16-bit TSS saves the 16-bit state and loads the new one", () => {
    const s = sysCpu(
      `mov eax, 0x12345678
       jmp 0x48:0
    after:
       hlt
    taskb:
       hlt`,
    );
    const tss16 = 0x3200;
    writeDescriptor(s.mem, GDT + 0x48, tss16, 0x2b, 0x01, 0, 0);
    // the current task is a 16-bit TSS too
    writeDescriptor(s.mem, GDT + 0x50, 0x3300, 0x2b, 0x03, 0, 0);
    s.cpu.setSegment(Seg.TR, { selector: 0x50, base: 0x3300, limit: 0x2b, access: 0x83 });
    const w16 = (a: number, v: number) => {
      s.mem.ram[a] = v & 0xff;
      s.mem.ram[a + 1] = v >> 8;
    };
    w16(tss16 + 14, s.sym("taskb"));
    w16(tss16 + 16, 2);
    w16(tss16 + 18, 0x4444); // AX
    w16(tss16 + 26, 0x6000); // SP
    w16(tss16 + 34, SEL.data0);
    w16(tss16 + 36, SEL.code0);
    w16(tss16 + 38, SEL.data0);
    w16(tss16 + 40, SEL.data0);
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.eip).toBe(s.sym("taskb") + 1);
    expect(s.cpu.getSegment(Seg.TR).selector).toBe(0x48);
    // 16-bit TSS loads only the low halves of the registers
    expect(s.cpu.getReg(Reg.EAX)).toBe(0x12344444);
    expect(s.cpu.getReg(Reg.ESP) & 0xffff).toBe(0x6000);
    expect(s.mem.r16(0x3300 + 14)).toBe(s.sym("after"));
    expect(s.mem.r16(0x3300 + 18)).toBe(0x5678);
    expect(s.mem.ram[GDT + 0x48 + 5] & 0x0f).toBe(0x03);
    expect(s.mem.ram[GDT + 0x50 + 5] & 0x0f).toBe(0x01);
  });
});

describe("#TS", () => {
  it("an invalid SS0 in the TSS is #TS(selector), here delivered through a task gate", () => {
    const s = sysCpu(
      `${TO_RING3}
    user:
    fault:
      int 0x80
      hlt
    h80: hlt
    tshandler:
      hlt`,
      { 128: { label: "h80", type: 0x0f, dpl: 3 } },
    );
    // SS0 names a code segment: not a valid stack for the ring-0 switch
    s.mem.w32(TSS_A + 8, SEL.code0);
    writeGate(s.mem, 0x800 + Exception.TS * 8, SEL.tssB, 0, 0x05, 0);
    s.mem.w32(TSS_B + 0x20, s.sym("tshandler"));
    s.mem.w32(TSS_B + 0x24, 2);
    s.mem.w32(TSS_B + 0x38, 0x6000);
    for (const [off, sel] of [
      [0x48, SEL.data0],
      [0x4c, SEL.code0],
      [0x50, SEL.data0],
      [0x54, SEL.data0],
    ])
      s.mem.w32(TSS_B + off, sel);
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.eip).toBe(s.sym("tshandler") + 1);
    expect(s.cpu.getSegment(Seg.TR).selector).toBe(SEL.tssB);
    expect(s.cpu.getReg(Reg.ESP)).toBe(0x6000 - 4);
    expect(s.mem.r32(0x6000 - 4)).toBe(SEL.code0);
    expect(s.cpu.eflags & Eflags.NT).toBe(Eflags.NT);
    expect(s.mem.r16(TSS_B)).toBe(SEL.tssA);
    // the interrupted task was saved at the INT instruction, at CPL 3
    expect(s.mem.r32(TSS_A + 0x20)).toBe(s.sym("fault"));
    expect(s.mem.r16(TSS_A + 0x4c)).toBe(SEL.code3);
  });
});
