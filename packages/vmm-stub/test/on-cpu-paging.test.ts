/**
 * The stub with paging on Ia32Cpu + Mmu:
 * two address spaces (claim 4: the guest's shadow page directory and the VMM's, the stub at
 * the same linear address in both, supervisor-only in the guest's), the world switch of a
 * host call (claim 8), a guest touch of a stub page faulting into the monitor (claim 6), and
 * a move that remaps the same frames elsewhere (claims 9, 10): no byte is copied.
 */
import { PhysicalMemoryMap } from "@pagurus/bus";
import { Ia32Cpu } from "@pagurus/cpu";
import { Mmu } from "@pagurus/mmu";
import type { IoBus } from "@pagurus/spec";
import { Seg } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import {
  createStubImage,
  DataField,
  ExitReason,
  FrameField,
  PAGE_SIZE,
  readStubCounters,
  relocate,
  STUB_PAGES,
  STUB_SIZE,
  StubOffset,
  stubImage,
} from "../src/index.js";
import { enterGuestUser, writeGuestDescriptors } from "./guest-setup.js";

const RAM = 8 << 20;
const STUB_FRAMES = 0x600000; // physical home of the stub's 5 frames; never mapped for the guest
const VMM_PD = 0x100000;
const GUEST_PD = 0x101000;
const PT_LOW = 0x102000; // guest identity map of 0..4 MiB (user pages)
const PT_A = 0x103000;
const PT_B = 0x104000;
const USER_PD = 0x105000; // the guest's user-mode view: no kernel pages (docs/architecture.md section 4)
const PT_LOW_USER = 0x106000;
const PROBE = 0x30000; // mapped to different frames in the two views
const BASE_A = 0xffbfb000;
const BASE_B = 0x00c03000;
const GUEST_IDT = 0x10000;
const GUEST_TSS = 0x11000;
const USER = 0x20000;
const H80 = 0x21000;
const KSTACK = 0x9000;
const USTACK = 0x8000;

describe("the stub on Ia32Cpu with paging", () => {
  it("world switch, a guest touch of the stub, and a move by remapping", () => {
    const mem = new PhysicalMemoryMap({ ramSize: RAM });
    const r32 = (a: number) => mem.read32(a);
    const w32 = (a: number, v: number) => mem.write32(a, v >>> 0);
    const data = (field: keyof typeof DataField) => STUB_FRAMES + DataField[field];
    const frame = (field: keyof typeof FrameField) => r32(STUB_FRAMES + StubOffset.frame + FrameField[field]);
    const calls: { reason: number; vector: number; error: number; cr3: number; csBase: number }[] = [];
    const io: IoBus = {
      in8: () => 0xff,
      in16: () => 0xffff,
      in32: () => 0xffffffff,
      out8: () => {},
      out16: () => {},
      out32: (port, value) => {
        if (port !== r32(data("hostCallPort"))) return;
        calls.push({
          reason: value,
          vector: frame("vector"),
          error: frame("error"),
          cr3: cpu.getCr(3),
          csBase: cpu.getSegment(Seg.CS).base,
        });
        cpu.requestStop();
      },
    };
    const mmu = new Mmu(mem);
    const cpu = new Ia32Cpu({ memory: mem, io, translation: mmu }, { virtualizationAssist: true });

    // The stub's frames, and its mapping at `base` in both page directories (claim 4).
    mem.ram.set(createStubImage(BASE_A), STUB_FRAMES);
    const mapStub = (base: number, pt: number, present: boolean) => {
      for (const pd of [VMM_PD, GUEST_PD, USER_PD]) w32(pd + (base >>> 22) * 4, pt | 0x3); // PDE: P, RW, supervisor
      for (let i = 0; i < STUB_PAGES; i++) {
        const pte = pt + (((base >>> 12) + i) & 0x3ff) * 4;
        w32(pte, present ? (STUB_FRAMES + i * PAGE_SIZE) | 0x3 : 0); // U/S = 0: supervisor-only (claim 6)
      }
    };
    mapStub(BASE_A, PT_A, true);
    // The guest's own memory: 0..4 MiB identity, user pages (the stub's frames are above).
    w32(GUEST_PD, PT_LOW | 0x7);
    for (let i = 0; i < 1024; i++) w32(PT_LOW + i * 4, (i * PAGE_SIZE) | 0x7);
    // The user view: the same, minus the kernel's stack and handler pages, and PROBE elsewhere.
    w32(USER_PD, PT_LOW_USER | 0x7);
    for (let i = 0; i < 1024; i++) w32(PT_LOW_USER + i * 4, (i * PAGE_SIZE) | 0x7);
    w32(PT_LOW_USER + ((KSTACK - 1) >>> 12) * 4, 0);
    w32(PT_LOW_USER + (H80 >>> 12) * 4, 0);
    w32(PT_LOW_USER + (PROBE >>> 12) * 4, (PROBE + PAGE_SIZE) | 0x7);
    w32(PROBE, 0x6b65726e); // what the kernel view sees
    w32(PROBE + PAGE_SIZE, 0x75736572); // what the user view sees

    // Guest descriptors (compressed to DPL 3), IDT, TSS, data page.
    writeGuestDescriptors(w32, STUB_FRAMES);
    w32(GUEST_IDT + 0x80 * 8, (0x08 << 16) | (H80 & 0xffff));
    w32(GUEST_IDT + 0x80 * 8 + 4, (H80 & 0xffff0000) | (0xee << 8));
    w32(GUEST_TSS + 4, KSTACK);
    w32(GUEST_TSS + 8, 0x10);
    w32(data("guestIdtrBase"), GUEST_IDT);
    w32(data("guestIdtrLimit"), 0x7ff);
    w32(data("guestTssBase"), GUEST_TSS);
    w32(data("vcpl"), 3);
    w32(data("vflags"), 0x200);
    w32(data("vmmCr3"), VMM_PD);
    w32(data("shadowCr3Kernel"), GUEST_PD);
    w32(data("shadowCr3User"), USER_PD);
    // User: int 0x80; mov ebx, [PROBE]; mov eax, [BASE_A] (reads the stub: #PF into the
    // monitor); int 0x80; hlt. Kernel handler: iret.
    const user = [0xcd, 0x80, 0x8b, 0x1d, ...le32(PROBE), 0xa1, ...le32(BASE_A), 0xcd, 0x80, 0xf4];
    mem.ram.set(user, USER);
    mem.ram.set([0xcf], H80);

    cpu.setCr(3, USER_PD);
    cpu.setCr(0, 0x80010011); // PG, WP, ET, PE
    enterGuestUser(cpu, BASE_A, USER, USTACK);

    // 1. INT 0x80 and its IRET run in the stub alone; the read of the stub's page faults (#PF,
    //    user, present) and goes to the core in the VMM's address space.
    expect(cpu.run({ instructions: 10_000 })).toBe("stop");
    expect(calls).toEqual([{ reason: ExitReason.trap, vector: 14, error: 5, cr3: VMM_PD, csBase: BASE_A }]);
    // The handler ran in the kernel view (its page is absent from the user view), the user
    // code after IRET in the user view again (it read the user view's PROBE).
    expect(frame("eip")).toBe(USER + 8);
    expect(frame("ebx")).toBe(0x75736572);
    expect(r32(data("faultCr2"))).toBe(BASE_A);
    expect(readStubCounters((o) => r32(STUB_FRAMES + o))).toMatchObject({
      stubHandled: 2,
      coreHandled: 1,
      worldSwitches: 1,
      stubByVector: { 13: 1, 128: 1 },
      coreByVector: { 14: 1 },
    });

    // 2. The core resolves the conflict by moving the stub (claim 9): map the same frames at
    //    BASE_B, unmap BASE_A, ten data writes, new GDTR/IDTR/segment bases. Then the guest's
    //    access is retried and sees its own (here: unmapped, then mapped by the core) memory.
    const code = stubImage().subarray(0, 2 * PAGE_SIZE);
    const framesBefore = mem.ram.slice(STUB_FRAMES, STUB_FRAMES + STUB_SIZE);
    mapStub(BASE_A, PT_A, false);
    mapStub(BASE_B, PT_B, true);
    const m = relocate(BASE_B);
    for (const wr of m.writes) {
      for (let i = 0; i < wr.size; i++) mem.ram[STUB_FRAMES + wr.offset + i] = (wr.value >>> (8 * i)) & 0xff;
    }
    cpu.gdtr = m.gdtr;
    cpu.idtr = m.idtr;
    for (const s of [Seg.ES, Seg.CS, Seg.SS, Seg.DS, Seg.FS, Seg.GS, Seg.TR] as const) {
      const cache = cpu.getSegment(s);
      const moved = m.segmentBases.find((b) => b.selector === cache.selector);
      if (moved) cpu.setSegment(s, { ...cache, base: moved.base });
    }
    cpu.flushTlb();
    // The guest now owns BASE_A: give it a page there holding a known value.
    w32(GUEST_PD + (BASE_A >>> 22) * 4, 0x3ff000 | 0x7);
    w32(USER_PD + (BASE_A >>> 22) * 4, 0x3ff000 | 0x7);
    for (let i = 0; i < 1024; i++) w32(0x3ff000 + i * 4, 0);
    w32(0x3ff000 + ((BASE_A >>> 12) & 0x3ff) * 4, 0x3fe000 | 0x7);
    w32(0x3fe000, 0xc0ffee);
    // The VMM's PDE for BASE_A's 4 MiB still points at PT_A, which the guest's PD no longer uses.

    expect(cpu.run({ instructions: 10_000 })).toBe("stop");
    // 3. The read got the guest's value, INT 0x80 went through the moved stub, HLT reached the core.
    expect(calls.slice(1)).toEqual([
      { reason: ExitReason.trap, vector: 13, error: 0, cr3: VMM_PD, csBase: BASE_B },
    ]);
    expect(frame("eax")).toBe(0xc0ffee);
    expect(frame("eip")).toBe(USER + user.length - 1);
    // The move touched data only: the code pages are the image's, the frames differ from
    // before only where the relocation writes and the counters/frame/stack live.
    expect(
      Buffer.from(mem.ram.subarray(STUB_FRAMES, STUB_FRAMES + 2 * PAGE_SIZE)).equals(Buffer.from(code)),
    ).toBe(true);
    const changed: number[] = [];
    for (let i = 0; i < StubOffset.data; i++)
      if (mem.ram[STUB_FRAMES + i] !== framesBefore[i]) changed.push(i);
    const allowed = new Set(m.writes.flatMap((w) => Array.from({ length: w.size }, (_, k) => w.offset + k)));
    expect(changed.filter((i) => !allowed.has(i))).toEqual([]);
    expect(readStubCounters((o) => r32(STUB_FRAMES + o)).worldSwitches).toBe(2);
  });
});

function le32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
}
