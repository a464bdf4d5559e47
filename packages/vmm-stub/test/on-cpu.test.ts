/**
 * The stub running on pagurus's own CPU (bonus of issue 6, part 1): a guest at CPL 3 executes
 * INT n, CLI/STI, HLT, UD2; the stub reflects to the guest's IDT (claim 7) or makes the host
 * call (claim 8), and moves while parked in a host call (claims 9, 10) without a code byte
 * changing. Paging is off here (vmmCr3 = shadow CR3s = 0, so the stub switches nothing):
 * "remapping" the stub is played by copying its frames, which is what a page-table remap
 * looks like from the CPU's side.
 */
import { PhysicalMemoryMap } from "@pagurus/bus";
import { Ia32Cpu } from "@pagurus/cpu";
import type { IoBus } from "@pagurus/spec";
import { Seg } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import {
  CODE_PAGES,
  CoreRequest,
  createStubImage,
  DataField,
  ExitReason,
  FrameField,
  PAGE_SIZE,
  readStubCounters,
  relocate,
  STUB_SIZE,
  StubOffset,
  stubImage,
} from "../src/index.js";
import { enterGuestUser, writeGuestDescriptors } from "./guest-setup.js";

const RAM = 4 << 20;
const GUEST_IDT = 0x10000;
const GUEST_TSS = 0x11000;
const USER = 0x20000;
const H80 = 0x21000;
const H81 = 0x22000;
const H82 = 0x23000;
const H06 = 0x24000;
const H0D = 0x25000;
const KSTACK = 0x9000;
const USTACK = 0x8000;

interface HostCall {
  reason: number;
  vector: number;
  eip: number;
  cs: number;
  csBase: number;
}

/** A tiny stand-in for vmm-core: loads the stub, fills the guest's GDT slots, records host calls. */
function world(base: number, code: Record<number, number[]>, virtualizationAssist = false) {
  const mem = new PhysicalMemoryMap({ ramSize: RAM });
  const calls: HostCall[] = [];
  const r32 = (a: number) => mem.read32(a);
  const w32 = (a: number, v: number) => mem.write32(a, v >>> 0);
  let onCall: (c: HostCall) => void = () => cpu.requestStop();
  let stub = base;
  const io: IoBus = {
    in8: () => 0xff,
    in16: () => 0xffff,
    in32: () => 0xffffffff,
    out8: () => {},
    out16: () => {},
    out32: (port, value) => {
      if (port !== r32(stub + DataField.hostCallPort)) return;
      const f = stub + StubOffset.frame;
      const call = {
        reason: value,
        vector: r32(f + FrameField.vector),
        eip: r32(f + FrameField.eip),
        cs: r32(f + FrameField.cs) & 0xffff,
        csBase: cpu.getSegment(Seg.CS).base,
      };
      calls.push(call);
      onCall(call);
    },
  };
  const cpu = new Ia32Cpu({ memory: mem, io }, { virtualizationAssist });
  mem.ram.set(createStubImage(base), base);
  // Guest descriptors in the stub's GDTs (the core's job).
  writeGuestDescriptors(w32, base);
  // The guest's own IDT and TSS, and the data page fields the core keeps.
  const gate = (v: number, offset: number, type: number) => {
    w32(GUEST_IDT + v * 8, (0x08 << 16) | (offset & 0xffff));
    w32(GUEST_IDT + v * 8 + 4, (offset & 0xffff0000) | (type << 8));
  };
  gate(0x80, H80, 0xee); // interrupt gate, DPL 3
  gate(0x81, H81, 0x8f); // trap gate, DPL 0
  gate(0x82, H82, 0x8e); // interrupt gate, DPL 0
  gate(0x06, H06, 0x8e);
  gate(0x0d, H0D, 0x8e);
  gate(0x83, H80, 0xef); // trap gate, DPL 3: the virtual IF stays 1
  w32(GUEST_TSS + 4, KSTACK);
  w32(GUEST_TSS + 8, 0x10);
  w32(base + DataField.guestIdtrBase, GUEST_IDT);
  w32(base + DataField.guestIdtrLimit, 0x7ff);
  w32(base + DataField.guestTssBase, GUEST_TSS);
  w32(base + DataField.vcpl, 3);
  w32(base + DataField.vflags, 0x200);
  for (const [at, bytes] of Object.entries(code)) mem.ram.set(bytes, Number(at));
  // The CPU as the core leaves it before entering the guest: protected mode, the stub's
  // tables, the guest in user mode at CPL 3.
  cpu.setCr(0, 0x11);
  enterGuestUser(cpu, base, USER, USTACK);
  return {
    cpu,
    mem,
    calls,
    r32,
    w32,
    get stub() {
      return stub;
    },
    set stub(b: number) {
      stub = b;
    },
    setOnCall(fn: (c: HostCall) => void) {
      onCall = fn;
    },
    frame: (field: keyof typeof FrameField) => r32(stub + StubOffset.frame + FrameField[field]),
    setFrame: (field: keyof typeof FrameField, v: number) =>
      w32(stub + StubOffset.frame + FrameField[field], v),
    counters: () => readStubCounters((o) => r32(stub + o)),
  };
}

const HLT = [0xf4];

describe("the stub on Ia32Cpu", () => {
  it("reflects INT 0x80 from guest user mode to the guest's IDT with the frame the guest expects (claim 7)", () => {
    const w = world(0x300000, {
      [USER]: [0xb8, 0x34, 0x12, 0, 0, 0xcd, 0x80, ...HLT], // mov eax, 0x1234; int 0x80; hlt
      // Handler: copy the frame into registers, then HLT (privileged: the core's).
      [H80]: [
        0x8b,
        0x1c,
        0x24,
        0x8b,
        0x4c,
        0x24,
        4,
        0x8b,
        0x54,
        0x24,
        8,
        0x8b,
        0x74,
        0x24,
        12,
        0x8b,
        0x7c,
        0x24,
        16,
        ...HLT,
      ],
    });
    expect(w.cpu.run({ instructions: 10_000 })).toBe("stop");
    expect(w.calls).toEqual([
      { reason: ExitReason.trap, vector: 13, eip: H80 + 19, cs: 0x0b, csBase: 0x300000 },
    ]);
    // The guest-visible frame: EIP after INT, user CS and SS with RPL 3, EFLAGS with the virtual IF.
    expect(w.frame("ebx")).toBe(USER + 7);
    expect(w.frame("ecx")).toBe(0x1b);
    expect(w.frame("edx") & 0x200).toBe(0x200);
    expect(w.frame("esi")).toBe(USTACK);
    expect(w.frame("edi")).toBe(0x23);
    expect(w.frame("eax")).toBe(0x1234);
    expect(w.frame("esp")).toBe(KSTACK - 20);
    expect(w.frame("ss") & 0xffff).toBe(0x13);
    expect(w.r32(w.stub + DataField.vcpl)).toBe(0);
    expect(w.r32(w.stub + DataField.vflags) & 0x200).toBe(0); // interrupt gate: virtual IF cleared
    expect(w.cpu.eip).toBe(StubOffset.hostReturn);
    const c = w.counters();
    expect(c).toMatchObject({
      stubHandled: 1,
      coreHandled: 1,
      stubByVector: { 128: 1 },
      coreByVector: { 13: 1 },
    });
  });

  it("CLI/STI on the virtual IF, a pending virtual interrupt, a core-requested delivery, and a move during a host call", () => {
    const NEW = 0x100000;
    const w = world(0x300000, {
      [USER]: [0xcd, 0x80, ...HLT],
      [H80]: [...HLT, 0xcd, 0x80, ...HLT], // first HLT: the core; after the move, INT 0x80 again at virtual CPL 0
      [H81]: [0xfa, 0xfb, ...HLT], // cli; sti (delivers the pending 0x82); hlt
      [H82]: [...HLT, 0xcd, 0x80],
    });
    // Host call 1 (HLT in H80): skip it, ask for 0x81 now and leave 0x82 pending.
    w.setOnCall(() => {
      if (w.calls.length > 1) return w.cpu.requestStop();
      w.setFrame("eip", w.frame("eip") + 1);
      w.w32(w.stub + DataField.coreRequest, CoreRequest.deliver);
      w.w32(w.stub + DataField.coreRequestVector, 0x81);
      w.w32(w.stub + DataField.pendingVector, 0x82);
    });
    expect(w.cpu.run({ instructions: 100_000 })).toBe("stop");
    w.setOnCall(() => w.cpu.requestStop());
    expect(w.calls.map((c) => [c.reason, c.vector, c.eip])).toEqual([
      [ExitReason.trap, 13, H80],
      [ExitReason.trap, 13, H82], // host call 2: HLT in the 0x82 handler
    ]);
    // 0x82 was delivered after STI, in the guest's kernel view (RPL 0). STI; HLT with an
    // interrupt pending: as bare, the interrupt "wakes" the HLT, EIP is after it.
    const gesp = w.frame("esp");
    expect(w.r32(gesp)).toBe(H81 + 3);
    expect(w.r32(gesp + 4)).toBe(0x08);
    expect(w.r32(gesp + 8) & 0x200).toBe(0x200);
    const c = w.counters();
    expect(c.stubByVector[13]).toBe(2); // CLI and STI emulated by the stub
    expect(c.virqDelivered).toBe(1);
    expect(w.r32(w.stub + DataField.pendingVector)).toBe(0xffffffff);

    // The core moves the stub while it is parked in host call 2: remap (here: copy the frames),
    // apply the data writes, load GDTR/IDTR/segment bases. No code byte is patched.
    const old = w.stub;
    const codeBefore = w.mem.ram.slice(old, old + 2 * PAGE_SIZE);
    w.mem.ram.copyWithin(NEW, old, old + STUB_SIZE);
    w.mem.ram.fill(0xcc, old, old + STUB_SIZE);
    const r = relocate(NEW);
    for (const wr of r.writes)
      for (let i = 0; i < wr.size; i++) w.mem.ram[NEW + wr.offset + i] = (wr.value >>> (8 * i)) & 0xff;
    w.cpu.gdtr = r.gdtr;
    w.cpu.idtr = r.idtr;
    for (const s of [Seg.ES, Seg.CS, Seg.SS, Seg.DS, Seg.FS, Seg.GS, Seg.TR] as const) {
      const cache = w.cpu.getSegment(s);
      const moved = r.segmentBases.find((b) => b.selector === cache.selector);
      if (moved) w.cpu.setSegment(s, { ...cache, base: moved.base });
    }
    w.stub = NEW;
    w.setFrame("eip", w.frame("eip") + 1); // past the HLT: INT 0x80 at virtual CPL 0, then HLT
    expect(w.cpu.run({ instructions: 100_000 })).toBe("stop");
    expect(w.calls.at(-1)).toEqual({ reason: ExitReason.trap, vector: 13, eip: H80, cs: 0x0b, csBase: NEW });
    expect(w.r32(NEW + DataField.stubBase)).toBe(NEW);
    expect(Buffer.from(w.mem.ram.subarray(NEW, NEW + 2 * PAGE_SIZE)).equals(Buffer.from(codeBefore))).toBe(
      true,
    );
    for (const p of CODE_PAGES) {
      const img = stubImage().subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
      expect(
        Buffer.from(w.mem.ram.subarray(NEW + p * PAGE_SIZE, NEW + (p + 1) * PAGE_SIZE)).equals(
          Buffer.from(img),
        ),
      ).toBe(true);
    }
  });

  it("with virtualizationAssist: PUSHF on the virtual IF, and the guest kernel's IRETs (same level and to user)", () => {
    const w = world(
      0x300000,
      {
        [USER]: [0xcd, 0x80, ...HLT], // int 0x80; hlt
        [H80]: [0x9c, 0x5b, 0xcd, 0x81, 0xcf], // pushf; pop ebx; int 0x81; iret
        [H81]: [0xcf], // iret
      },
      true,
    );
    expect(w.cpu.run({ instructions: 10_000 })).toBe("stop");
    expect(w.calls).toEqual([
      { reason: ExitReason.trap, vector: 13, eip: USER + 2, cs: 0x1b, csBase: 0x300000 },
    ]);
    expect(w.frame("ebx") & 0x200).toBe(0); // PUSHF in an interrupt-gate handler: virtual IF 0
    expect(w.frame("eflags") & 0x200).toBe(0x200); // the real IF never drops
    expect(w.frame("esp")).toBe(USTACK);
    expect(w.frame("ss") & 0xffff).toBe(0x23);
    expect(w.r32(w.stub + DataField.vcpl)).toBe(3);
    expect(w.r32(w.stub + DataField.vflags) & 0x200).toBe(0x200);
    expect(w.counters()).toMatchObject({
      stubHandled: 5,
      coreHandled: 1,
      stubByVector: { 13: 3, 128: 1, 129: 1 },
    });
  });

  // What the hardware's IRET would refuse at the guest's CPL 0 (SDM Vol. 2, IRET), though the
  // stub's slots, DPL 3 for ring compression, would let the machine's IRET through.
  for (const [name, frame] of [
    ["to user mode with the guest kernel's CS (DPL 0) at RPL 3", [0x23, USTACK, 0x202, 0x0b, USER + 2]],
    ["to user mode with a user SS of RPL 1", [0x21, USTACK, 0x202, 0x1b, USER + 2]],
    ["to user mode with the guest kernel's data segment as SS", [0x13, USTACK, 0x202, 0x1b, USER + 2]],
    ["to user mode beyond nothing but an empty GDT slot", [0x23, USTACK, 0x202, 0x2b, USER + 2]],
    ["at the same level to the user's CS (DPL 3) at RPL 0", [0x202, 0x18, USER + 2]],
  ] as const) {
    it(`an IRET ${name} goes to the core, the guest's state untouched`, () => {
      const push = frame.flatMap((v) => [0x68, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]);
      const iretAt = H80 + push.length;
      const w = world(0x300000, { [USER]: [0xcd, 0x80, ...HLT], [H80]: [...push, 0xcf] }, true);
      w.setOnCall(() => w.cpu.requestStop());
      expect(w.cpu.run({ instructions: 10_000 })).toBe("stop");
      expect(w.calls.map((c) => [c.reason, c.vector, c.eip])).toEqual([[ExitReason.trap, 13, iretAt]]);
      expect(w.r32(w.stub + DataField.vcpl)).toBe(0);
      expect(w.frame("esp")).toBe(KSTACK - 20 - frame.length * 4);
    });
  }

  it("POPF at virtual CPL 0 sets the virtual IF and IOPL, never the real ones", () => {
    const w = world(0x300000, { [USER]: [0xcd, 0x80], [H80]: [0x68, 0x02, 0x32, 0, 0, 0x9d, ...HLT] }, true);
    expect(w.cpu.run({ instructions: 10_000 })).toBe("stop");
    expect(w.calls.map((c) => c.eip)).toEqual([H80 + 6]);
    expect(w.r32(w.stub + DataField.vflags)).toBe(0x3200);
    expect(w.frame("eflags") & 0x3200).toBe(0x200);
  });

  it("CLI in guest user mode (virtual IOPL 0) becomes the guest's own #GP(0)", () => {
    const w = world(0x300000, { [USER]: [0xfa], [H0D]: [...HLT] });
    expect(w.cpu.run({ instructions: 10_000 })).toBe("stop");
    expect(w.calls.map((c) => [c.reason, c.vector, c.eip])).toEqual([[ExitReason.trap, 13, H0D]]);
    const esp = w.frame("esp");
    expect(esp).toBe(KSTACK - 24);
    expect([w.r32(esp), w.r32(esp + 4), w.r32(esp + 8), w.r32(esp + 16)]).toEqual([0, USER, 0x1b, USTACK]);
    expect(w.r32(w.stub + DataField.vflags) & 0x200).toBe(0); // cleared by the interrupt gate, not by CLI
  });

  it("STI not followed by HLT delivers a pending interrupt with EIP right after STI", () => {
    const w = world(0x300000, { [USER]: [0xcd, 0x80], [H80]: [0xfb, 0x90, ...HLT], [H82]: [...HLT] });
    w.w32(w.stub + DataField.pendingVector, 0x82);
    expect(w.cpu.run({ instructions: 10_000 })).toBe("stop");
    expect(w.calls.map((c) => c.eip)).toEqual([H82]);
    expect(w.r32(w.frame("esp"))).toBe(H80 + 1);
  });

  it("a pending interrupt the guest's IDT cannot take after a handled trap: deliveryFailed, trap done", () => {
    const w = world(0x300000, { [USER]: [0xcd, 0x83, ...HLT], [H80]: [...HLT] });
    w.w32(w.stub + DataField.pendingVector, 0x90); // no gate for 0x90 in the guest's IDT
    expect(w.cpu.run({ instructions: 10_000 })).toBe("stop");
    expect(w.calls.map((c) => [c.reason, c.vector, c.eip])).toEqual([[ExitReason.deliveryFailed, 0x83, H80]]);
    expect(w.r32(w.stub + DataField.deliverVector)).toBe(0x90);
    expect(w.r32(w.stub + DataField.pendingVector)).toBe(0x90);
    expect(w.r32(w.stub + DataField.vcpl)).toBe(0);
    expect(w.counters()).toMatchObject({ stubHandled: 1, stubByVector: { 131: 1 } });
  });

  it("a fault while delivering after a handled trap reports deliveryFailed, not the trap again", () => {
    const w = world(0x300000, { [USER]: [0xcd, 0x80], [H80]: [...HLT] });
    w.setOnCall(() => {
      if (w.calls.length > 1) return w.cpu.requestStop();
      // The core handled the HLT and asks for 0x82, but leaves a bad stack selector in the
      // frame (an empty GDT slot): the stub faults while pushing and must not redo the HLT.
      w.setFrame("eip", w.frame("eip") + 1);
      w.setFrame("ss", 0x3b);
      w.w32(w.stub + DataField.coreRequest, CoreRequest.deliver);
      w.w32(w.stub + DataField.coreRequestVector, 0x82);
    });
    expect(w.cpu.run({ instructions: 10_000 })).toBe("stop");
    expect(w.calls.map((c) => [c.reason, c.vector, c.eip])).toEqual([
      [ExitReason.trap, 13, H80],
      [ExitReason.deliveryFailed, 13, H80 + 1],
    ]);
    expect(w.r32(w.stub + DataField.deliverVector)).toBe(0x82);
    expect(w.counters().reflectAborts).toBe(1);
  });

  it("reflects a guest exception (#UD) with EIP at the faulting instruction", () => {
    const w = world(0x300000, { [USER]: [0x90, 0x0f, 0x0b], [H06]: [...HLT] });
    expect(w.cpu.run({ instructions: 10_000 })).toBe("stop");
    expect(w.calls.map((c) => [c.vector, c.eip])).toEqual([[13, H06]]);
    expect(w.r32(w.frame("esp"))).toBe(USER + 1);
    expect(w.counters().stubByVector[6]).toBe(1);
  });

  it("a fault while touching guest memory aborts to the core with the original trap untouched", () => {
    const w = world(0x300000, { [USER]: [0xcd, 0x80, ...HLT] });
    w.w32(GUEST_TSS + 8, 0x38); // the guest's SS0 is an empty slot: loading it faults in the stub
    expect(w.cpu.run({ instructions: 10_000 })).toBe("stop");
    expect(w.calls).toEqual([
      { reason: ExitReason.aborted, vector: 0x80, eip: USER + 2, cs: 0x1b, csBase: 0x300000 },
    ]);
    expect(w.frame("esp")).toBe(USTACK);
    expect(w.r32(w.stub + DataField.vcpl)).toBe(3);
    expect(w.counters()).toMatchObject({ reflectAborts: 1, stubHandled: 0, stubFaults: 0 });
  });

  it("INT n above the guest's privilege and a missing gate go to the core", () => {
    const w = world(0x300000, { [USER]: [0xcd, 0x81, ...HLT] });
    expect(w.cpu.run({ instructions: 10_000 })).toBe("stop");
    expect(w.calls.map((c) => [c.reason, c.vector, c.eip])).toEqual([
      [ExitReason.reflectFailed, 0x81, USER + 2],
    ]);
  });
});
