import type { AddressTranslation, PageWalk } from "@pagurus/spec";
import { Exception, Reg } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { Ia32Cpu } from "../src/index.js";
import { flatCpu, GDT, sysCpu, TestIo, TestMemory, writeDescriptor } from "./helpers.js";

const TO_RING3 = `
  push 0x23
  push 0x7000
  pushfd
  push 0x1b
  push user
  iretd
user:
  mov ax, 0x23
  mov ds, ax
  mov es, ax`;

const SENSITIVE: { name: string; insn: string; strictOk: boolean }[] = [
  { name: "PUSHF", insn: "pushfd", strictOk: true },
  { name: "POPF", insn: "popfd", strictOk: true },
  { name: "IRET", insn: "iretd", strictOk: false },
  { name: "far RET", insn: "retf", strictOk: false },
  { name: "SGDT", insn: "sgdt [0x6000]", strictOk: true },
  { name: "SIDT", insn: "sidt [0x6000]", strictOk: true },
  { name: "SLDT", insn: "sldt eax", strictOk: true },
  { name: "STR", insn: "str eax", strictOk: true },
  { name: "SMSW", insn: "smsw eax", strictOk: true },
  { name: "LAR", insn: "lar eax, ecx", strictOk: true },
  { name: "LSL", insn: "lsl eax, ecx", strictOk: true },
  { name: "VERR", insn: "verr cx", strictOk: true },
  { name: "VERW", insn: "verw cx", strictOk: true },
  { name: "MOV r, Sreg", insn: "mov eax, ds", strictOk: true },
  { name: "PUSH Sreg", insn: "push ds", strictOk: true },
];

describe("virtualizationAssist", () => {
  for (const c of SENSITIVE) {
    it(`${c.name} at CPL 3: #GP(0) with the assist${c.strictOk ? ", no fault without" : ""}`, () => {
      const src = `${TO_RING3}
        push 0x1b
        push 0x1b
        mov ecx, 0x1b
      fault: ${c.insn}
      after: hlt
      h: hlt`;
      const on = sysCpu(src, { [Exception.GP]: { label: "h" } }, { virtualizationAssist: true });
      on.cpu.run({ instructions: 100 });
      const esp = on.cpu.getReg(Reg.ESP);
      expect(on.mem.r32(esp)).toBe(0);
      expect(on.mem.r32(esp + 4)).toBe(on.sym("fault"));
      if (c.strictOk) {
        const off = sysCpu(src, { [Exception.GP]: { label: "h" } });
        off.cpu.run({ instructions: 100 });
        expect(off.mem.r32(off.cpu.getReg(Reg.ESP) + 4)).toBe(off.sym("after"));
      }
    });
  }

  // Descriptors a monitor marks with AVL (its DPL raised for ring compression): 0x48 data,
  // 0x50 code, both DPL 3 as a monitor's table holds them.
  const marked = (setup: string, insn: string, assist: boolean) => {
    const s = sysCpu(
      `${TO_RING3}
      ${setup}
      fault: ${insn}
      after: hlt
      target: hlt
      h: hlt`,
      { [Exception.GP]: { label: "h" } },
      { virtualizationAssist: assist },
    );
    writeDescriptor(s.mem, GDT + 0x48, 0, 0xffffffff, 0x13, 3, 0x5);
    writeDescriptor(s.mem, GDT + 0x50, 0, 0xffffffff, 0x1b, 3, 0x5);
    s.cpu.run({ instructions: 100 });
    // Every path ends in a #GP: the instruction's, or HLT's at CPL 3 after it.
    expect(s.cpu.eip).toBe(s.sym("h") + 1);
    const esp = s.cpu.getReg(Reg.ESP);
    return { at: s.mem.r32(esp + 4), error: s.mem.r32(esp), sym: s.sym };
  };
  for (const [name, setup, insn, faults] of [
    ["MOV ES of an RPL 3 selector for a marked descriptor", "mov ax, 0x4b", "mov es, ax", true],
    ["POP ES of an RPL 1 selector for a marked descriptor", "push 0x49", "pop es", true],
    ["MOV ES of an RPL 0 selector for a marked descriptor", "mov ax, 0x48", "mov es, ax", false],
    ["MOV ES of an RPL 3 selector for an unmarked descriptor", "mov ax, 0x23", "mov es, ax", false],
    ["MOV SS of an RPL 3 selector", "mov ax, 0x23", "mov ss, ax", true],
    ["far JMP to a marked code segment", "", "jmp 0x53:target", true],
    ["far CALL to a marked code segment", "", "call 0x53:target", true],
    ["far JMP to an unmarked code segment", "", "jmp 0x1b:target", false],
  ] as const) {
    it(`${name}: ${faults ? "#GP(0) with the assist, no fault without" : "no fault with the assist"}`, () => {
      const next = insn.includes("target") ? "target" : "after";
      const on = marked(setup, insn, true);
      expect({ at: on.at, error: on.error }).toEqual({ at: on.sym(faults ? "fault" : next), error: 0 });
      const off = marked(setup, insn, false);
      expect(off.at).toBe(off.sym(next));
    });
  }

  it("does nothing at CPL 0", () => {
    const s = sysCpu(
      `pushfd\n popfd\n str eax\n mov eax, ds\n hlt\n h: hlt`,
      { 13: { label: "h" } },
      {
        virtualizationAssist: true,
      },
    );
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.eip).toBe(s.sym("h"));
  });
});

class FakeMmu implements AddressTranslation {
  faultErrorCode = 0;
  readonly controls: number[][] = [];
  readonly invalidated: number[] = [];
  calls = 0;
  readonly map = new Map<number, { phys: number; writable: boolean; user: boolean }>();
  translate(linear: number, access: number): number {
    this.calls++;
    const e = this.map.get(linear >>> 12);
    if (!e) {
      this.faultErrorCode = access & 6;
      return -1;
    }
    if ((access & 2 && !e.writable) || (access & 4 && !e.user)) {
      this.faultErrorCode = 1 | (access & 6);
      return -1;
    }
    return e.phys + (linear & 0xfff);
  }
  setControl(cr0: number, cr3: number, cr4: number): void {
    this.controls.push([cr0, cr3, cr4]);
  }
  invalidatePage(linear: number): void {
    this.invalidated.push(linear);
  }
  flushAll(): void {}
  walk(_linear: number): PageWalk {
    throw new Error("not used");
  }
}

describe("paging through AddressTranslation", () => {
  it("translates, caches per page, raises #PF with CR2 and the error code, honours INVLPG", () => {
    const mmu = new FakeMmu();
    for (let p = 0; p < 0x400; p++) mmu.map.set(p, { phys: p << 12, writable: true, user: true });
    mmu.map.set(0x400, { phys: 0x5000, writable: true, user: false });
    mmu.map.set(0x402, { phys: 0x6000, writable: false, user: false });
    const s = sysCpu(
      `mov cr3, eax
       mov eax, cr0
       or eax, 0x80000000
       mov cr0, eax
       mov ebx, [0x400010]
       mov dword [0x400020], 0x77
       mov ecx, [0x400010]
       mov edx, [0x402000]
    f1: mov dword [0x402000], 1
       invlpg [0x400000]
       mov esi, [0x400010]
    f2: mov dword [0x401000], 1
       hlt
    h: inc ebp
       cmp ebp, 1
       jne h2
       add esp, 4
       add dword [esp], 10
       iretd
    h2: hlt`,
      { [Exception.PF]: { label: "h" } },
      {},
      { translation: mmu },
    );
    s.cpu.setReg(Reg.EAX, 0x123000);
    s.mem.w32(0x5010, 0xabcd);
    s.mem.w32(0x6000, 0x5555);
    s.mem.w32(0x7010, 0x7777);
    const before = mmu.calls;
    // After the first #PF the handler skips the faulting store; remap 0x400000 before INVLPG
    s.cpu.hooks.interrupt = (v) => {
      if (v === Exception.PF) mmu.map.set(0x400, { phys: 0x7000, writable: true, user: false });
      return false;
    };
    expect(s.cpu.run({ instructions: 200 })).toBe("halt");
    expect(mmu.controls.some((c) => c[0] & 0x80000000 && c[1] === 0x123000)).toBe(true);
    expect(s.cpu.getReg(Reg.EBX)).toBe(0xabcd);
    expect(s.cpu.getReg(Reg.ECX)).toBe(0xabcd);
    expect(s.cpu.getReg(Reg.EDX)).toBe(0x5555);
    expect(s.mem.r32(0x5020)).toBe(0x77);
    expect(s.mem.r32(0x6000)).toBe(0x5555); // read-only page untouched
    expect(mmu.invalidated).toEqual([0x400000]);
    expect(s.cpu.getReg(Reg.ESI)).toBe(0x7777); // re-translated after INVLPG
    // second #PF: not present, write, supervisor
    expect(s.cpu.getCr(2)).toBe(0x401000);
    const esp = s.cpu.getReg(Reg.ESP);
    expect(s.mem.r32(esp)).toBe(2);
    expect(s.mem.r32(esp + 4)).toBe(s.sym("f2"));
    expect(mmu.calls - before).toBeLessThan(40);
  });

  it("CR0.PG without a translation unit is #GP(0)", () => {
    const s = sysCpu(
      `mov eax, cr0
       or eax, 0x80000000
    fault: mov cr0, eax
       hlt
    h: hlt`,
      { [Exception.GP]: { label: "h" } },
    );
    s.cpu.run({ instructions: 100 });
    expect(s.mem.r32(s.cpu.getReg(Reg.ESP) + 4)).toBe(s.sym("fault"));
  });
});

describe("snapshots", () => {
  it("save/restore through JSON resumes identically", () => {
    const src = `
      mov ecx, 1000
    l: add eax, ecx
      rol eax, 3
      push eax
      pop ebx
      adc edx, ebx
      loop l
      hlt`;
    const a = flatCpu(src);
    a.cpu.run({ instructions: 123 });
    const snap = JSON.parse(JSON.stringify(a.cpu.save()));
    const mem = new TestMemory();
    mem.ram.set(a.mem.ram);
    const b = new Ia32Cpu({ memory: mem, io: new TestIo() });
    b.restore(snap);
    expect(b.save()).toEqual(a.cpu.save());
    expect(a.cpu.run()).toBe("halt");
    expect(b.run()).toBe("halt");
    expect(b.save()).toEqual(a.cpu.save());
    expect(b.getReg(Reg.EDX)).toBe(a.cpu.getReg(Reg.EDX));
    expect(a.cpu.instructionCount).toBe(2 + 6 * 1000);
  });
});

describe("memory-mapped I/O", () => {
  it("pages without direct access go through the PhysicalMemory methods", () => {
    const s = sysCpu(`mov eax, [0x300000]\n mov [0x300010], ebx\n mov cx, [0x300ffe]\n hlt`);
    const mmio: string[] = [];
    const direct = s.mem.fastPath.direct;
    direct[0x300] = 0;
    const mem = s.mem as unknown as {
      read32: (a: number) => number;
      write32: (a: number, v: number) => void;
    };
    const origRead = mem.read32.bind(s.mem);
    mem.read32 = (a) => {
      mmio.push(`r32 ${a.toString(16)}`);
      return a === 0x300000 ? 0x12345678 : origRead(a);
    };
    mem.write32 = (a, v) => {
      mmio.push(`w32 ${a.toString(16)}=${v.toString(16)}`);
    };
    s.cpu.setReg(Reg.EBX, 0xfeed);
    s.cpu.flushTlb();
    s.cpu.run({ instructions: 10 });
    expect(s.cpu.getReg(Reg.EAX)).toBe(0x12345678);
    expect(mmio).toEqual(["r32 300000", "w32 300010=feed"]);
  });
});
