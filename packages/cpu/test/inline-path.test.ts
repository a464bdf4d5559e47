import { Eflags, Exception, Reg, Seg } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { Ia32Cpu } from "../src/index.js";
import {
  assemble,
  FLAT_CODE,
  FLAT_DATA,
  GDT,
  SEL,
  sysCpu,
  TestIo,
  TestMemory,
  writeDescriptor,
} from "./helpers.js";

/*
 * The run loop's inline path (runInline) touches the stack and aligned dwords of direct RAM
 * itself; these check that every case it does not take (unaligned, not direct RAM, a failing
 * segment check, a far target) falls back to the general path with the same result and
 * precise faults, and that its shift, rotate and IMUL flags are right.
 */

const ARITH = Eflags.CF | Eflags.PF | Eflags.ZF | Eflags.SF | Eflags.OF;

/** The #GP frame at CPL 0 (error code, EIP, CS, EFLAGS) on top of the stack. */
function gpFrame(s: ReturnType<typeof sysCpu>) {
  const esp = s.cpu.getReg(Reg.ESP);
  return { esp, code: s.mem.r32(esp), eip: s.mem.r32(esp + 4), cs: s.mem.r32(esp + 8) & 0xffff };
}

describe("inline path: stack and memory fast paths fall back correctly", () => {
  it("PUSH/POP/CALL/RET with an unaligned ESP", () => {
    const s = sysCpu(
      `mov esp, 0x8002
       mov eax, 0x11223344
       push eax
       pop ebx
       call f
       hlt
    f: mov ecx, [esp]
       ret`,
    );
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    expect(s.cpu.getReg(Reg.EBX)).toBe(0x11223344);
    expect(s.mem.r32(0x8002 - 4)).toBe(s.cpu.getReg(Reg.ECX));
    expect(s.cpu.getReg(Reg.ECX)).toBe(s.sym("f") - 1); // the return address: the HLT
    expect(s.cpu.getReg(Reg.ESP)).toBe(0x8002);
  });

  it("PUSH and MOV m32 to a page that is not direct RAM go through the bus", () => {
    const s = sysCpu(
      `mov eax, 0xcafef00d
       push eax
       mov [0x6000], eax
       mov ebx, [0x6000]
       pop ecx
       hlt`,
    );
    s.mem.fastPath.direct[7] = 0; // the stack page
    s.mem.fastPath.direct[6] = 0;
    s.cpu.flushTlb();
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    expect(s.mem.r32(0x8000 - 4)).toBe(0xcafef00d);
    expect(s.mem.r32(0x6000)).toBe(0xcafef00d);
    expect(s.cpu.getReg(Reg.EBX)).toBe(0xcafef00d);
    expect(s.cpu.getReg(Reg.ECX)).toBe(0xcafef00d);
  });

  it("RET to a target beyond the CS limit is #GP(0) at the RET with ESP unchanged", () => {
    const s = sysCpu(
      `push 0x5000
    fault: ret
       hlt
    h: hlt`,
      { [Exception.GP]: { label: "h" } },
    );
    s.cpu.setSegment(Seg.CS, { selector: SEL.code0, base: 0, limit: 0x1fff, access: 0x409b });
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    const f = gpFrame(s);
    expect(f.code).toBe(0);
    expect(f.eip).toBe(s.sym("fault"));
    expect(f.esp).toBe(0x8000 - 4 - 16); // the pushed target is still there under the frame
    expect(s.mem.r32(0x8000 - 4)).toBe(0x5000);
  });

  it("MOV m32, r32 through a read-only DS is #GP(0) and writes nothing", () => {
    const s = sysCpu(
      `mov eax, 0x12345678
       mov esi, 0x6000
       mov ebx, 2
    fault: mov [esi + ebx*4 + 8], eax
       hlt
    h: hlt`,
      { [Exception.GP]: { label: "h" } },
    );
    s.cpu.setSegment(Seg.DS, { selector: SEL.data0, base: 0, limit: 0xffffffff, access: 0xc091 });
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    expect(gpFrame(s).eip).toBe(s.sym("fault"));
    expect(s.mem.r32(0x6010)).toBe(0);
  });

  it("MOV r32, m32 and MOV EAX, moffs beyond the DS limit are #GP(0)", () => {
    for (const insn of ["mov ecx, [0x10000]", "mov eax, [0xfffe]"]) {
      const s = sysCpu(
        `mov ecx, 7
      fault: ${insn}
         hlt
      h: hlt`,
        { [Exception.GP]: { label: "h" } },
      );
      s.cpu.setSegment(Seg.DS, { selector: SEL.data0, base: 0, limit: 0xffff, access: 0x0093 });
      expect(s.cpu.run({ instructions: 100 })).toBe("halt");
      expect(gpFrame(s).eip).toBe(s.sym("fault"));
      expect(s.cpu.getReg(Reg.ECX)).toBe(7);
    }
  });

  it("MOV through a DS with a base reads and writes base + offset", () => {
    const s = sysCpu(
      `mov eax, 0xa5a5a5a5
       mov [0x100], eax
       mov edx, 0x40
       mov ebx, [edx*2 + 0x80]
       hlt`,
    );
    s.cpu.setSegment(Seg.DS, { selector: SEL.data0, base: 0x6000, limit: 0xffff, access: 0x4093 });
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    expect(s.mem.r32(0x6100)).toBe(0xa5a5a5a5);
    expect(s.cpu.getReg(Reg.EBX)).toBe(0xa5a5a5a5);
  });

  it("a flat DS and SS reloaded with a base mid-run stop skipping the checks", () => {
    const s = sysCpu(
      `mov eax, 0x11111111
       mov [0x100], eax
       push eax
       mov bx, 0x48
       mov ds, bx
       mov eax, 0x22222222
       mov [0x100], eax
       mov ecx, [0x104]
       mov bx, 0x50
       mov ss, bx
       push eax
       pop edx
       hlt`,
    );
    writeDescriptor(s.mem, GDT + 0x48, 0x6000, 0xffffffff, 0x13, 0); // base 0x6000
    writeDescriptor(s.mem, GDT + 0x50, 0x10000, 0xffffffff, 0x13, 0); // base 0x10000
    s.mem.w32(0x6104, 0x33333333);
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    expect(s.mem.r32(0x100)).toBe(0x11111111);
    expect(s.mem.r32(0x6100)).toBe(0x22222222);
    expect(s.cpu.getReg(Reg.ECX)).toBe(0x33333333);
    expect(s.mem.r32(0x10000 + 0x8000 - 8)).toBe(0x22222222);
    expect(s.mem.r32(0x8000 - 8)).toBe(0);
    expect(s.cpu.getReg(Reg.EDX)).toBe(0x22222222);
  });
});

describe("inline path: flags of shifts, rotates and IMUL imm", () => {
  const cases: [string, string, number, number][] = [
    // [setup, instruction, EAX after, arithmetic flags after]
    ["mov eax, 0x80000001", "shl eax, 1", 2, Eflags.CF | Eflags.OF],
    ["mov eax, 0x80000001", "shl eax, 4", 0x10, 0],
    ["mov eax, 0x80000003", "shr eax, 1", 0x40000001, Eflags.CF | Eflags.OF],
    ["mov eax, 0x80000000", "sar eax, 31", 0xffffffff, Eflags.PF | Eflags.SF],
    ["mov eax, 0x40000000", "sar eax, 31", 0, Eflags.CF | Eflags.PF | Eflags.ZF],
    ["xor ebx, ebx\nmov eax, 0x40000000", "rol eax, 1", 0x80000000, Eflags.PF | Eflags.ZF | Eflags.OF],
    ["or ebx, -1\nmov eax, 1", "ror eax, 1", 0x80000000, Eflags.PF | Eflags.SF | Eflags.CF | Eflags.OF],
    ["mov eax, 0x80000000\nadd eax, eax", "rol eax, 5", 0, Eflags.PF | Eflags.ZF],
    [
      "mov eax, 0x10000000\nadd eax, 0x70000000",
      "rol eax, 1",
      1,
      Eflags.SF | Eflags.PF | Eflags.CF | Eflags.OF,
    ],
    ["mov ecx, 0x10000", "imul eax, ecx, 0x10000", 0, Eflags.CF | Eflags.OF | Eflags.PF | Eflags.ZF],
    ["mov ecx, -2", "imul eax, ecx, 0x40000000", 0x80000000, Eflags.PF | Eflags.SF],
    ["mov ecx, 2", "imul eax, ecx, 0x40000000", 0x80000000, Eflags.CF | Eflags.OF | Eflags.PF | Eflags.SF],
    ["mov ecx, -3", "imul eax, ecx, -5", 15, Eflags.PF],
  ];
  for (const [setup, insn, eax, flags] of cases) {
    it(`${setup.replace("\n", "; ")}; ${insn}`, () => {
      const s = sysCpu(`${setup}\n${insn}\nhlt`);
      expect(s.cpu.run({ instructions: 100 })).toBe("halt");
      expect(s.cpu.getReg(Reg.EAX)).toBe(eax);
      expect(s.cpu.eflags & ARITH).toBe(flags);
    });
  }
});

describe("inline path: a flag-setting instruction and the JZ/JNZ after it in one step", () => {
  const cases: [string, string, boolean][] = [
    // [setup, instruction before the JZ, taken]
    ["mov ecx, 1", "dec ecx", true],
    ["mov ecx, 2", "dec ecx", false],
    ["mov ecx, -1", "inc ecx", true],
    ["mov eax, 5\nmov ebx, 5", "cmp eax, ebx", true],
    ["mov eax, 5\nmov ebx, 6", "cmp ebx, eax", false],
    ["mov eax, 5\nmov ebx, 5", "sub eax, ebx", true],
    ["mov eax, 0xf0\nmov ebx, 0x0f", "and eax, ebx", true],
    ["mov eax, 0xf0\nmov ebx, 0x1f", "test eax, ebx", false],
    ["mov eax, 7", "cmp eax, 7", true],
    ["mov eax, 7", "sub eax, 8", false],
    ["mov ecx, 0x100", "test cl, 1", true],
    ["mov ecx, 0x101", "test cl, 1", false],
  ];
  for (const [setup, insn, taken] of cases) {
    for (const jcc of ["jz", "jnz"]) {
      it(`${setup.replace("\n", "; ")}; ${insn}; ${jcc}`, () => {
        const s = sysCpu(`${setup}\n${insn}\n${jcc} t\nmov edx, 1\nhlt\nt: mov edx, 2\nhlt`);
        expect(s.cpu.run({ instructions: 100 })).toBe("halt");
        expect(s.cpu.getReg(Reg.EDX)).toBe(taken === (jcc === "jz") ? 2 : 1);
      });
    }
  }

  it("stops between the two at the budget and at `until`", () => {
    const src = `mov ecx, 1\nx: dec ecx\nj: jz t\nmov edx, 1\nhlt\nt: mov edx, 2\nhlt`;
    const s = sysCpu(src);
    expect(s.cpu.run({ instructions: 2 })).toBe("budget");
    expect(s.cpu.eip).toBe(s.sym("j"));
    expect(s.cpu.getReg(Reg.ECX)).toBe(0);
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    expect(s.cpu.getReg(Reg.EDX)).toBe(2);
    const u = sysCpu(src);
    expect(u.cpu.run({ instructions: 100, until: u.sym("j") })).toBe("address");
    expect(u.cpu.eip).toBe(u.sym("j"));
    expect(u.cpu.instructionCount).toBe(2);
  });

  it("a taken JZ beyond the CS limit is #GP(0) at the JZ, after the DEC", () => {
    const s = sysCpu(
      `mov ecx, 1
       dec ecx
    fault: jz short beyond
       hlt
    h: hlt
       times 0x40 nop
    beyond: hlt`,
      { [Exception.GP]: { label: "h" } },
    );
    s.cpu.setSegment(Seg.CS, { selector: SEL.code0, base: 0, limit: s.sym("h") + 0x20, access: 0x409b });
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    expect(s.cpu.getReg(Reg.ECX)).toBe(0);
    const f = gpFrame(s);
    expect(f.code).toBe(0);
    expect(f.eip).toBe(s.sym("fault"));
  });
});

describe("inline path: the fetch window", () => {
  it("ends with a RAM whose size is not a multiple of the page", () => {
    const mem = new TestMemory(0x2806);
    mem.fastPath.direct[2] = 3; // the partial last page is plain RAM too
    const cpu = new Ia32Cpu({ memory: mem, io: new TestIo() });
    cpu.setCr(0, cpu.getCr(0) | 1);
    cpu.setSegment(Seg.CS, FLAT_CODE);
    for (const s of [Seg.DS, Seg.ES, Seg.SS]) cpu.setSegment(s, FLAT_DATA);
    mem.load(0x27fb, assemble("bits 32\nmov ecx, 0x11111111\nmov eax, 0x12345678\nhlt"));
    cpu.eip = 0x27fb;
    expect(cpu.run({ instructions: 10 })).toBe("halt");
    expect(cpu.getReg(Reg.ECX)).toBe(0x11111111);
    expect(cpu.getReg(Reg.EAX)).toBe(0x12345678);
    expect(cpu.eip).toBe(0x2806);
  });
});

describe("inline path: events raised by its slow paths", () => {
  it("an MMIO write that raises INTR is taken right after the writing instruction", () => {
    let pending = false;
    const pic = {
      get pending() {
        return pending;
      },
      acknowledge(): number {
        pending = false;
        return 0x20;
      },
    };
    const s = sysCpu(
      `mov ebx, 0xfee00000
       mov eax, 1
       mov [ebx], eax
    after:
       mov ecx, 5
       mov ecx, 6
       hlt
    h: cli
       hlt`,
      { 32: { label: "h" } },
      {},
      { interrupts: pic },
    );
    s.cpu.eflags = s.cpu.eflags | Eflags.IF;
    const write8 = s.mem.write8.bind(s.mem);
    s.mem.write8 = (a: number, v: number) => {
      write8(a, v);
      if (a >>> 0 >= 0xfee00000) {
        pending = true;
        s.cpu.intr.set(true);
      }
    };
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    expect(s.cpu.getReg(Reg.ECX)).toBe(0);
    expect(s.mem.r32(s.cpu.getReg(Reg.ESP))).toBe(s.sym("after"));
  });
});
