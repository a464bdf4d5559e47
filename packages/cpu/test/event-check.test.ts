import type { InterruptController } from "@pagurus/spec";
import { Eflags, Reg } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { FakePic, SEL, sysCpu, TSS_B } from "./helpers.js";

/*
 * INTR matters at an instruction boundary only while IF = 1 (SDM Vol. 3A, 6.8.1): a guest that
 * runs with IF = 0 while its PIC has a request (a Multiboot kernel before its STI, with the
 * BIOS's PIT firing) must stay on the fast path (compiled blocks, the inline loop), and the
 * interrupt must still arrive at the exact boundary where IF = 1 lets it in. The slow path is
 * counted by `eventChecks` (one per call of checkEvents), not timed.
 */

/** 3 * 100000 + 1 instructions with IF = 0, then `enable` (which sets IF), then `after`. */
function guest(enable: string): string {
  return `
       mov ecx, 100000
    l: add eax, ecx
       dec ecx
       jnz l
    done:
       ${enable}
    after:
       mov ebx, 1
    next:
       mov ebx, 2
       hlt
    h: mov edi, [esp]           ; where the interrupt came in
       hlt
    target:
       mov esi, 3
       jmp after`;
}

const LOOP = 3 * 100000 + 1;

describe.each([
  ["compiled blocks", 16],
  ["interpreter", 0],
])("IF = 0 with INTR high (%s)", (_name, blockThreshold) => {
  function start(enable: string) {
    const pic = new FakePic(0x20);
    const s = sysCpu(guest(enable), { 32: { label: "h" } }, { blockThreshold }, { interrupts: pic });
    pic.pending = true;
    s.cpu.intr.set(true);
    return { s, pic };
  }

  it("runs on the fast path: a handful of slow-path checks for 300,000 instructions", () => {
    const { s, pic } = start("cli");
    expect(s.cpu.run({ instructions: LOOP })).toBe("budget");
    expect(s.cpu.eip).toBe(s.sym("done"));
    expect(pic.acks).toBe(0);
    // Entry to run() and INTR rising each cost one; before the fix it was one per instruction.
    expect(s.cpu.eventChecks).toBeLessThan(10);
    if (blockThreshold !== 0) expect(s.cpu.blockFn.some((f) => f !== null)).toBe(true);
  });

  it("STI: the interrupt is taken after the instruction that follows STI (its shadow)", () => {
    const { s, pic } = start("sti");
    expect(s.cpu.run({ instructions: LOOP + 10 })).toBe("halt");
    expect(pic.acks).toBe(1);
    expect(s.cpu.getReg(Reg.EDI)).toBe(s.sym("next"));
    expect(s.cpu.getReg(Reg.EBX)).toBe(1);
    expect(s.cpu.eventChecks).toBeLessThan(10);
  });

  it("POPF: the interrupt is taken right after the POPF that sets IF (no shadow)", () => {
    const { s, pic } = start("pushfd\n or dword [esp], 0x200\n popfd");
    expect(s.cpu.run({ instructions: LOOP + 10 })).toBe("halt");
    expect(pic.acks).toBe(1);
    expect(s.cpu.getReg(Reg.EDI)).toBe(s.sym("after"));
    expect(s.cpu.getReg(Reg.EBX)).toBe(0);
    expect(s.cpu.eventChecks).toBeLessThan(10);
  });

  it("IRET: the interrupt is taken before the first instruction IRET returns to", () => {
    const { s, pic } = start(`pushfd\n or dword [esp], 0x200\n push ${SEL.code0}\n push target\n iretd`);
    expect(s.cpu.run({ instructions: LOOP + 10 })).toBe("halt");
    expect(pic.acks).toBe(1);
    expect(s.cpu.getReg(Reg.EDI)).toBe(s.sym("target"));
    expect(s.cpu.getReg(Reg.ESI)).toBe(0);
  });

  it("a task switch to a task with IF = 1: taken before the new task's first instruction", () => {
    const { s, pic } = start(`jmp ${SEL.tssB}:0`);
    s.mem.w32(TSS_B + 0x20, s.sym("target"));
    s.mem.w32(TSS_B + 0x24, 0x202);
    s.mem.w32(TSS_B + 0x38, 0x6000);
    for (const off of [0x48, 0x50, 0x54, 0x58, 0x5c]) s.mem.w32(TSS_B + off, SEL.data0);
    s.mem.w32(TSS_B + 0x4c, SEL.code0);
    expect(s.cpu.run({ instructions: LOOP + 10 })).toBe("halt");
    expect(pic.acks).toBe(1);
    expect(s.cpu.getReg(Reg.EDI)).toBe(s.sym("target"));
  });

  it("the eflags setter and restore() look at INTR again", () => {
    const { s, pic } = start("cli");
    s.cpu.run({ instructions: LOOP });
    const snapshot = s.cpu.save();
    s.cpu.eflags = s.cpu.eflags | Eflags.IF;
    expect(s.cpu.run({ instructions: 10 })).toBe("halt");
    expect(pic.acks).toBe(1);
    expect(s.cpu.getReg(Reg.EDI)).toBe(s.sym("done"));

    pic.pending = true;
    s.cpu.restore({ ...snapshot, eflags: snapshot.eflags | Eflags.IF });
    s.cpu.setReg(Reg.EDI, 0);
    expect(s.cpu.run({ instructions: 10 })).toBe("halt");
    expect(pic.acks).toBe(2);
    expect(s.cpu.getReg(Reg.EDI)).toBe(s.sym("done"));
  });

  it("INTR rising while IF = 1 interrupts the fast path at the next boundary", () => {
    const pic = new FakePic(0x20);
    const s = sysCpu(guest("cli"), { 32: { label: "h" } }, { blockThreshold }, { interrupts: pic });
    s.cpu.eflags = s.cpu.eflags | Eflags.IF;
    expect(s.cpu.run({ instructions: 1000 })).toBe("budget");
    pic.pending = true;
    s.cpu.intr.set(true);
    const eip = s.cpu.eip;
    expect(s.cpu.run({ instructions: 10 })).toBe("halt");
    expect(s.cpu.getReg(Reg.EDI)).toBe(eip);
  });
});
