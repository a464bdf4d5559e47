import type { InterruptController } from "@pagurus/spec";
import { Eflags, Exception, Reg } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { FakePic, sysCpu } from "./helpers.js";

describe("external interrupts", () => {
  it("are held off for one instruction after STI (the STI shadow)", () => {
    const pic = new FakePic(0x20);
    const s = sysCpu(
      `sti
       mov ecx, 5
    after:
       mov ecx, 6
       hlt
    h: cli
       hlt`,
      { 32: { label: "h" } },
      {},
      { interrupts: pic },
    );
    pic.pending = true;
    s.cpu.intr.set(true);
    s.cpu.run({ instructions: 100 });
    expect(pic.acks).toBe(1);
    expect(s.cpu.getReg(Reg.ECX)).toBe(5);
    expect(s.mem.r32(s.cpu.getReg(Reg.ESP))).toBe(s.sym("after"));
  });

  it("are held off after MOV SS", () => {
    const pic = new FakePic(0x20);
    const s = sysCpu(
      `mov ax, ss
       mov ss, ax
       mov ecx, 5
    after:
       hlt
    h: cli
       hlt`,
      { 32: { label: "h" } },
      {},
      { interrupts: pic },
    );
    s.cpu.eflags = s.cpu.eflags | Eflags.IF;
    s.cpu.run({ instructions: 2 });
    pic.pending = true;
    s.cpu.intr.set(true);
    s.cpu.run({ instructions: 100 });
    expect(s.mem.r32(s.cpu.getReg(Reg.ESP))).toBe(s.sym("after"));
  });

  it("HLT stops the run; INTR wakes it and the handler returns after the HLT", () => {
    const pic = new FakePic(0x21);
    const s = sysCpu(
      `sti
       hlt
    after:
       mov ebx, 7
       cli
       hlt
    h: mov eax, 2
       iretd`,
      { 33: { label: "h" } },
      {},
      { interrupts: pic },
    );
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    expect(s.cpu.halted).toBe(true);
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    pic.pending = true;
    s.cpu.intr.set(true);
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    expect(s.cpu.getReg(Reg.EAX)).toBe(2);
    expect(s.cpu.getReg(Reg.EBX)).toBe(7);
    expect(pic.acks).toBe(1);
  });

  it("are not taken with IF = 0", () => {
    const pic = new FakePic(0x20);
    const s = sysCpu(`mov ecx, 1\n hlt\n h: hlt`, { 32: { label: "h" } }, {}, { interrupts: pic });
    pic.pending = true;
    s.cpu.intr.set(true);
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    expect(pic.acks).toBe(0);
    expect(s.cpu.eip).toBe(0x1006);
  });

  it("reach the interrupt hook as 'external'", () => {
    const pic = new FakePic(0x30);
    const s = sysCpu(`sti\n nop\n nop\n cli\n hlt`, {}, {}, { interrupts: pic });
    const seen: string[] = [];
    s.cpu.hooks.interrupt = (v, _c, kind) => {
      seen.push(`${v}:${kind}`);
      return true;
    };
    pic.pending = true;
    s.cpu.intr.set(true);
    s.cpu.run({ instructions: 100 });
    expect(seen[0]).toBe("48:external");
  });
});

describe("single step", () => {
  it("TF raises #DB after the next instruction, with DR6.BS", () => {
    const s = sysCpu(
      `pushfd
       or dword [esp], 0x100
       popfd
       mov eax, 1
    after:
       mov eax, 2
       hlt
    h: hlt`,
      { [Exception.DB]: { label: "h" } },
    );
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.getReg(Reg.EAX)).toBe(1);
    expect(s.mem.r32(s.cpu.getReg(Reg.ESP))).toBe(s.sym("after"));
    expect(s.cpu.getDr(6) & 0x4000).toBe(0x4000);
  });
});

describe("run options", () => {
  it("stops at an address, on budget and on requestStop", () => {
    const s = sysCpu(`nop\n nop\n target: nop\n jmp target`);
    expect(s.cpu.run({ until: s.sym("target") })).toBe("address");
    expect(s.cpu.eip).toBe(s.sym("target"));
    expect(s.cpu.instructionCount).toBe(2);
    expect(s.cpu.run({ instructions: 10 })).toBe("budget");
    expect(s.cpu.instructionCount).toBe(12);
    s.cpu.hooks.interrupt = () => {
      s.cpu.requestStop();
      return true;
    };
    s.cpu.requestStop();
    expect(s.cpu.run({ instructions: 10 })).toBe("stop");
  });
});

describe("injectEvent (EventInjection)", () => {
  it("delivers an exception with an error code through the IDT at the current boundary", () => {
    const s = sysCpu(`here: nop\n hlt\n h: hlt`, { [Exception.GP]: { label: "h" } });
    s.cpu.injectEvent(Exception.GP, 0x28, "exception");
    expect(s.cpu.eip).toBe(s.sym("h"));
    const esp = s.cpu.getReg(Reg.ESP);
    expect(s.mem.r32(esp)).toBe(0x28);
    expect(s.mem.r32(esp + 4)).toBe(s.sym("here"));
    expect(s.cpu.run({ instructions: 10 })).toBe("halt");
  });

  it("a software injection through a DPL-0 gate at CPL 3 becomes #GP; no gate at all is a triple fault", () => {
    const s = sysCpu(`hlt`);
    s.cpu.idtr = { base: 0x800, limit: 0 };
    s.cpu.injectEvent(0x40, null, "external");
    expect(s.cpu.run({ instructions: 10 })).toBe("shutdown");
  });
});
