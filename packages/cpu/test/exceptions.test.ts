import { Eflags, Exception, Reg } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { GDT, IDT, SEL, sysCpu, writeDescriptor, writeGate } from "./helpers.js";

/** The stack after an exception at CPL 0 with the frame of a 32-bit gate. */
function frame(s: ReturnType<typeof sysCpu>, withCode: boolean) {
  const esp = s.cpu.getReg(Reg.ESP);
  const at = withCode ? esp + 4 : esp;
  return {
    esp,
    code: withCode ? s.mem.r32(esp) : undefined,
    eip: s.mem.r32(at),
    cs: s.mem.r32(at + 4) & 0xffff,
    eflags: s.mem.r32(at + 8),
  };
}

describe("exceptions: vectors, error codes, frames", () => {
  it("#DE from DIV by zero: fault frame points at the DIV, registers unchanged", () => {
    const s = sysCpu(
      `mov eax, 1
       xor ecx, ecx
       mov edx, 7
    fault: div ecx
       hlt
    h: hlt`,
      { [Exception.DE]: { label: "h" } },
    );
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    const f = frame(s, false);
    expect(f.esp).toBe(0x8000 - 12);
    expect(f.eip).toBe(s.sym("fault"));
    expect(f.cs).toBe(SEL.code0);
    expect(f.eflags & Eflags.RF).toBe(Eflags.RF); // faults push RF = 1 (SDM 17.3.1.1)
    expect(s.cpu.getReg(Reg.EAX)).toBe(1);
    expect(s.cpu.getReg(Reg.EDX)).toBe(7);
    expect(s.cpu.eip).toBe(s.sym("h") + 1);
  });

  it("#DE when the quotient overflows (IDIV -2^31 / -1)", () => {
    const s = sysCpu(
      `mov eax, 0x80000000
       cdq
       mov ecx, -1
    fault: idiv ecx
       hlt
    h: hlt`,
      { [Exception.DE]: { label: "h" } },
    );
    s.cpu.run({ instructions: 100 });
    expect(frame(s, false).eip).toBe(s.sym("fault"));
  });

  it("#GP(selector) loading DS with a selector beyond the GDT limit", () => {
    const s = sysCpu(
      `mov ax, 0x1233
    fault: mov ds, ax
       hlt
    h: hlt`,
      { [Exception.GP]: { label: "h" } },
    );
    s.cpu.run({ instructions: 100 });
    const f = frame(s, true);
    expect(f.code).toBe(0x1230);
    expect(f.eip).toBe(s.sym("fault"));
    expect(f.esp).toBe(0x8000 - 16);
  });

  it("#NP(selector) loading a not-present data segment; #SS(selector) for SS", () => {
    const s = sysCpu(
      `mov ax, 0x48
    f1: mov es, ax
       hlt
    h: hlt`,
      { [Exception.NP]: { label: "h" } },
    );
    writeDescriptor(s.mem, GDT + 0x48, 0, 0xfffff, 0x13, 0, 0xc, false);
    s.cpu.run({ instructions: 100 });
    expect(frame(s, true).code).toBe(0x48);
    expect(frame(s, true).eip).toBe(s.sym("f1"));

    const t = sysCpu(
      `mov ax, 0x48
    f1: mov ss, ax
       hlt
    h: hlt`,
      { [Exception.SS]: { label: "h" } },
    );
    writeDescriptor(t.mem, GDT + 0x48, 0, 0xfffff, 0x13, 0, 0xc, false);
    t.cpu.run({ instructions: 100 });
    expect(frame(t, true).code).toBe(0x48);
  });

  it("a null selector loads fine but any access through it is #GP(0)", () => {
    const s = sysCpu(
      `xor eax, eax
       mov es, ax
    fault: mov [es:0x2000], eax
       hlt
    h: hlt`,
      { [Exception.GP]: { label: "h" } },
    );
    s.cpu.run({ instructions: 100 });
    expect(frame(s, true).code).toBe(0);
    expect(frame(s, true).eip).toBe(s.sym("fault"));
  });

  it("#UD for UD2, LOCK on a register operand and LEA with a register", () => {
    for (const insn of ["ud2", "lock add eax, ebx", "db 0x8d, 0xc0", "lock nop", "db 0x0f, 0xff"]) {
      const s = sysCpu(`fault: ${insn}\n hlt\n h: hlt`, { [Exception.UD]: { label: "h" } });
      s.cpu.run({ instructions: 100 });
      expect(frame(s, false).eip, insn).toBe(s.sym("fault"));
      expect(s.cpu.eip, insn).toBe(s.sym("h") + 1);
    }
    // LOCK on a memory read-modify-write is fine
    const ok = sysCpu("lock add [0x2000], eax\n hlt\n h: hlt", { [Exception.UD]: { label: "h" } });
    ok.cpu.run({ instructions: 100 });
    expect(ok.cpu.eip).not.toBe(ok.sym("h") + 1);
  });

  it("#NM for x87 with CR0.EM or CR0.TS, #UD without an FPU otherwise", () => {
    const nm = sysCpu(`mov eax, cr0\n or eax, 8\n mov cr0, eax\n fault: fninit\n hlt\n h: hlt`, {
      [Exception.NM]: { label: "h" },
    });
    nm.cpu.run({ instructions: 100 });
    expect(frame(nm, false).eip).toBe(nm.sym("fault"));
    const ud = sysCpu(`fault: fninit\n hlt\n h: hlt`, { [Exception.UD]: { label: "h" } });
    ud.cpu.run({ instructions: 100 });
    expect(frame(ud, false).eip).toBe(ud.sym("fault"));
  });

  it("#BP and #OF are traps: the frame points after the instruction", () => {
    const s = sysCpu(`int3\n after: hlt\n h: hlt`, { [Exception.BP]: { label: "h" } });
    s.cpu.run({ instructions: 100 });
    expect(frame(s, false).eip).toBe(s.sym("after"));
    expect(frame(s, false).eflags & Eflags.RF).toBe(0);
    const o = sysCpu(`mov al, 0x7f\n add al, 1\n into\n after: hlt\n h: hlt`, {
      [Exception.OF]: { label: "h" },
    });
    o.cpu.run({ instructions: 100 });
    expect(frame(o, false).eip).toBe(o.sym("after"));
  });

  it("#BR from BOUND out of range", () => {
    const s = sysCpu(
      `mov eax, 10
    fault: bound eax, [bounds]
       hlt
    h: hlt
    bounds: dd 0, 9`,
      { [Exception.BR]: { label: "h" } },
    );
    s.cpu.run({ instructions: 100 });
    expect(frame(s, false).eip).toBe(s.sym("fault"));
  });

  it("precise faults: POP to an out-of-limit address leaves ESP unchanged", () => {
    const s = sysCpu(
      `mov ax, 0x40
       mov ds, ax
       push 0x1234
    fault: pop dword [0x20000]
       hlt
    h: hlt`,
      { [Exception.GP]: { label: "h" } },
    );
    s.cpu.run({ instructions: 100 });
    const f = frame(s, true);
    expect(f.eip).toBe(s.sym("fault"));
    expect(f.code).toBe(0);
    // one push of 4 bytes, then the 16-byte fault frame
    expect(f.esp).toBe(0x8000 - 4 - 16);
  });

  it("expand-down segments: offsets at or below the limit fault", () => {
    const s = sysCpu(
      `mov ax, 0x48
       mov es, ax
       mov [es:0x1000], eax
    fault: mov [es:0x0ffc], eax
       hlt
    h: hlt`,
      { [Exception.GP]: { label: "h" } },
    );
    // expand-down writable data, limit 0xfff: valid offsets 0x1000..0xffffffff
    writeDescriptor(s.mem, GDT + 0x48, 0, 0xfff, 0x17, 0, 0x4);
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.eip).toBe(s.sym("h") + 1);
    expect(frame(s, true).code).toBe(0);
    expect(frame(s, true).eip).toBe(s.sym("fault"));
  });

  it("#DF when delivering #GP hits a not-present gate; error code 0", () => {
    const s = sysCpu(
      `mov ax, 0x1234
    fault: mov ds, ax
       hlt
    df: hlt`,
      { [Exception.DF]: { label: "df" } },
    );
    writeGate(s.mem, IDT + 13 * 8, SEL.code0, s.sym("df"), 0x0e, 0);
    s.mem.ram[IDT + 13 * 8 + 5] &= 0x7f; // not present
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.eip).toBe(s.sym("df") + 1);
    const f = frame(s, true);
    expect(f.code).toBe(0);
    expect(f.eip).toBe(s.sym("fault"));
  });

  it("triple fault stops the CPU in shutdown with a report", () => {
    const s = sysCpu(`mov ax, 0x1234\n mov ds, ax\n hlt`);
    s.cpu.idtr = { base: IDT, limit: 0 };
    expect(s.cpu.run({ instructions: 100 })).toBe("shutdown");
    expect(s.cpu.shutdownReport).toMatch(/triple fault/);
    expect(s.cpu.run({ instructions: 100 })).toBe("shutdown");
    s.cpu.reset();
    expect(s.cpu.shutdownReport).toBeNull();
  });

  it("the interrupt hook sees exceptions and can swallow them", () => {
    const s = sysCpu(`fault: ud2\n hlt`);
    const seen: [number, number, string][] = [];
    s.cpu.hooks.interrupt = (v, code, kind) => {
      seen.push([v, code, kind]);
      s.cpu.eip = s.sym("fault") + 2;
      return true;
    };
    expect(s.cpu.run({ instructions: 100 })).toBe("halt");
    expect(seen).toEqual([[Exception.UD, 0, "exception"]]);
  });

  it("#AC(0) for a misaligned access at CPL 3 with CR0.AM and EFLAGS.AC", () => {
    const s = sysCpu(
      `mov eax, cr0
       or eax, 1 << 18
       mov cr0, eax
       push 0x23
       push 0x7000
       push 0x40002
       push 0x1b
       push user
       iretd
    user:
       mov eax, [ss:0x6000]
    fault:
       mov eax, [ss:0x6001]
       hlt
    h: hlt`,
      { [Exception.AC]: { label: "h" } },
    );
    s.cpu.run({ instructions: 100 });
    expect(s.cpu.eip).toBe(s.sym("h") + 1);
    const esp = s.cpu.getReg(Reg.ESP);
    expect(esp).toBe(0x9000 - 24);
    expect(s.mem.r32(esp)).toBe(0);
    expect(s.mem.r32(esp + 4)).toBe(s.sym("fault"));
  });
});
