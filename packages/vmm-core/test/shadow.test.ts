import { PhysicalMemoryMap } from "@pagurus/bus";
import { Mmu } from "@pagurus/mmu";
import { GuestSpace } from "@pagurus/relocator";
import { PageAccess } from "@pagurus/spec";
import { beforeEach, describe, expect, it } from "vitest";
import { FrameAllocator } from "../src/frames.js";
import { scanGuestSpace } from "../src/guest-space.js";
import { CR0_PE, CR0_PG, CR0_WP, CR4_PSE, type GuestPaging, Pte } from "../src/paging-bits.js";
import { ShadowPaging, ShadowView } from "../src/shadow.js";

const GUEST_RAM = 0x400000; // 4 MiB of guest RAM
const MONITOR = 0x400000; // the monitor's frames sit above it
const P = Pte.P;
const RW = Pte.RW;
const US = Pte.US;

/** A guest with a page directory at 0x10000 and one page table at 0x11000 for 0..4 MiB. */
function machine() {
  const memory = new PhysicalMemoryMap({ ramSize: 0x800000 });
  const frames = new FrameAllocator(memory, MONITOR, 0x100000);
  const shadow = new ShadowPaging(memory, frames, GUEST_RAM);
  const mmu = new Mmu(memory); // the machine's MMU, walking the shadow tables
  const pd = 0x10000;
  const pt = 0x11000;
  memory.write32(pd, pt | P | RW | US);
  const guest: GuestPaging = { cr0: CR0_PE | CR0_PG | CR0_WP, cr3: pd, cr4: 0 };
  const mapGuest = (linear: number, frame: number, flags: number) =>
    memory.write32(pt + ((linear >>> 12) & 0x3ff) * 4, frame | flags);
  /** What the machine would see at `linear` at CPL 3 with this shadow CR3. */
  const machineTranslate = (cr3: number, linear: number, access: number) => {
    mmu.setControl(CR0_PE | CR0_PG | CR0_WP, cr3, 0);
    return mmu.translate(linear, access | PageAccess.User);
  };
  return { memory, frames, shadow, guest, pd, pt, mapGuest, machineTranslate };
}

describe("shadow page tables", () => {
  let m: ReturnType<typeof machine>;
  beforeEach(() => {
    m = machine();
  });

  it("start empty: every guest page faults into the monitor first (a hidden fault)", () => {
    m.mapGuest(0x5000, 0x7000, P | RW | US);
    const cr3 = m.shadow.activate(m.guest, ShadowView.Kernel);
    expect(m.frames.owns(cr3)).toBe(true);
    expect(m.machineTranslate(cr3, 0x5123, PageAccess.Read)).toBe(-1);
    expect(m.shadow.resolve(0x5123, false, m.guest, ShadowView.Kernel)).toEqual({ kind: "filled" });
    expect(m.machineTranslate(cr3, 0x5123, PageAccess.Read)).toBe(0x7123);
  });

  it("set the guest's Accessed bit on first use and Dirty only on the first write", () => {
    m.mapGuest(0x5000, 0x7000, P | RW | US);
    const cr3 = m.shadow.activate(m.guest, ShadowView.Kernel);
    m.shadow.resolve(0x5000, false, m.guest, ShadowView.Kernel);
    expect(m.memory.read32(m.pt + 5 * 4)).toBe(0x7000 | P | RW | US | Pte.A);
    expect(m.memory.read32(m.pd) & Pte.A).toBe(Pte.A);
    // Clean page: the shadow maps it read-only so the first write comes back to the monitor.
    expect(m.machineTranslate(cr3, 0x5000, PageAccess.Write)).toBe(-1);
    expect(m.shadow.resolve(0x5000, true, m.guest, ShadowView.Kernel)).toEqual({ kind: "filled" });
    expect(m.memory.read32(m.pt + 5 * 4)).toBe(0x7000 | P | RW | US | Pte.A | Pte.D);
    expect(m.machineTranslate(cr3, 0x5000, PageAccess.Write)).toBe(0x7000);
  });

  it("reflect faults the guest would take, with the guest's error code", () => {
    m.mapGuest(0x6000, 0x8000, P); // supervisor, read-only
    expect(m.shadow.resolve(0x9000, false, m.guest, ShadowView.Kernel)).toEqual({
      kind: "guest",
      errorCode: 0,
    });
    expect(m.shadow.resolve(0x9000, true, m.guest, ShadowView.User)).toEqual({ kind: "guest", errorCode: 6 });
    expect(m.shadow.resolve(0x6000, false, m.guest, ShadowView.User)).toEqual({
      kind: "guest",
      errorCode: 5,
    });
    expect(m.shadow.resolve(0x6000, true, m.guest, ShadowView.Kernel)).toEqual({
      kind: "guest",
      errorCode: 3,
    });
    // With CR0.WP = 0 the guest kernel may write it: the monitor emulates that write.
    const noWp = { ...m.guest, cr0: CR0_PE | CR0_PG };
    expect(m.shadow.resolve(0x6004, true, noWp, ShadowView.Kernel)).toEqual({
      kind: "emulate",
      reason: "wp0",
      physical: 0x8004,
    });
    // A guest fault sets no Accessed bit (SDM 4.8).
    expect(m.memory.read32(m.pt + 6 * 4) & Pte.A).toBe(0);
  });

  it("keep guest user code out of guest kernel pages but let the guest kernel in", () => {
    m.mapGuest(0x6000, 0x8000, P | RW); // a guest kernel page
    const kernel = m.shadow.activate(m.guest, ShadowView.Kernel);
    const user = m.shadow.activate(m.guest, ShadowView.User);
    expect(kernel).not.toBe(user);
    expect(m.shadow.resolve(0x6000, false, m.guest, ShadowView.Kernel)).toEqual({ kind: "filled" });
    expect(m.machineTranslate(kernel, 0x6000, PageAccess.Read)).toBe(0x8000);
    expect(m.machineTranslate(user, 0x6000, PageAccess.Read)).toBe(-1);
    expect(m.shadow.resolve(0x6000, false, m.guest, ShadowView.User).kind).toBe("guest");
  });

  it("write-protect the guest's page tables so that every change reaches the monitor (claim 5)", () => {
    m.mapGuest(0x11000, 0x11000, P | RW | US | Pte.D); // the guest maps its own page table
    const cr3 = m.shadow.activate(m.guest, ShadowView.Kernel);
    expect(m.shadow.tableFrames.has(0x11000)).toBe(true);
    expect(m.shadow.resolve(0x11000, false, m.guest, ShadowView.Kernel)).toEqual({ kind: "filled" });
    expect(m.machineTranslate(cr3, 0x11000, PageAccess.Read)).toBe(0x11000);
    expect(m.machineTranslate(cr3, 0x11000, PageAccess.Write)).toBe(-1);
    expect(m.shadow.resolve(0x11008, true, m.guest, ShadowView.Kernel)).toEqual({
      kind: "emulate",
      reason: "page-table",
      physical: 0x11008,
    });
  });

  it("map the stub supervisor-only at the same place in every shadow (claims 4 and 6)", () => {
    m.shadow.setStub([
      { linear: 0xffc00000, frame: 0x500000, writable: false },
      { linear: 0xffc01000, frame: 0x501000, writable: true },
    ]);
    const kernel = m.shadow.activate(m.guest, ShadowView.Kernel);
    const flat = m.shadow.activate({ cr0: CR0_PE, cr3: 0, cr4: 0 }, ShadowView.Kernel);
    for (const cr3 of [kernel, flat]) {
      expect(m.machineTranslate(cr3, 0xffc00010, PageAccess.Read)).toBe(-1); // CPL 3: #PF
      const mmu = new Mmu(m.memory);
      mmu.setControl(CR0_PE | CR0_PG | CR0_WP, cr3, 0);
      expect(mmu.translate(0xffc00010, PageAccess.Read)).toBe(0x500010); // CPL 0: the stub
      expect(mmu.translate(0xffc01ff0, PageAccess.Write)).toBe(0x501ff0);
      expect(mmu.translate(0xffc00010, PageAccess.Write)).toBe(-1); // code pages are read-only
    }
    expect(m.shadow.resolve(0xffc00ff0, true, m.guest, ShadowView.Kernel)).toEqual({
      kind: "stub",
      linear: 0xffc00ff0,
    });
  });

  it("move the stub by remapping its pages, leaving the old place to the guest", () => {
    m.shadow.setStub([{ linear: 0x5000, frame: 0x500000, writable: true }]);
    m.mapGuest(0x5000, 0x7000, P | RW | US | Pte.A | Pte.D);
    const cr3 = m.shadow.activate(m.guest, ShadowView.Kernel);
    expect(m.shadow.resolve(0x5000, false, m.guest, ShadowView.Kernel).kind).toBe("stub");
    m.shadow.setStub([{ linear: 0x3ff000, frame: 0x500000, writable: true }]);
    expect(m.machineTranslate(cr3, 0x5000, PageAccess.Read)).toBe(-1);
    expect(m.shadow.resolve(0x5000, true, m.guest, ShadowView.Kernel)).toEqual({ kind: "filled" });
    expect(m.machineTranslate(cr3, 0x5000, PageAccess.Write)).toBe(0x7000);
    expect(m.shadow.isStubPage(0x3ff000)).toBe(true);
  });

  it("use 4 MiB guest pages through 4 KiB shadow pages, and report unbacked frames", () => {
    const guest = { ...m.guest, cr4: CR4_PSE };
    m.memory.write32(m.pd + 4, 0x400000 | P | RW | US | Pte.PS); // 4-8 MiB: beyond guest RAM
    m.memory.write32(m.pd + 8, 0x000000 | P | RW | US | Pte.PS | Pte.A | Pte.D); // 8-12 MiB -> 0-4 MiB
    const cr3 = m.shadow.activate(guest, ShadowView.Kernel);
    expect(m.shadow.resolve(0x812345, true, guest, ShadowView.Kernel)).toEqual({ kind: "filled" });
    expect(m.machineTranslate(cr3, 0x812345, PageAccess.Write)).toBe(0x12345);
    expect(m.shadow.resolve(0x400000, false, guest, ShadowView.Kernel)).toEqual({
      kind: "unbacked",
      physical: 0x400000,
    });
    m.memory.write32(m.pd + 12, 0x002000 | P | Pte.PS); // bit 13 is reserved in a 4 MiB PDE
    expect(m.shadow.resolve(0xc00000, false, guest, ShadowView.Kernel)).toEqual({
      kind: "guest",
      errorCode: 9,
    });
  });

  it("give every frame back when flushed", () => {
    m.mapGuest(0x5000, 0x7000, P | RW | US);
    m.shadow.activate(m.guest, ShadowView.Kernel);
    m.shadow.resolve(0x5000, false, m.guest, ShadowView.Kernel);
    expect(m.frames.framesInUse).toBeGreaterThan(0);
    m.shadow.flushAll();
    expect(m.frames.framesInUse).toBe(0);
  });
});

describe("scanGuestSpace", () => {
  it("maps guest RAM with paging off, and what the tables say with paging on", () => {
    const m = machine();
    const space = new GuestSpace();
    scanGuestSpace(m.memory, { cr0: CR0_PE, cr3: 0, cr4: 0 }, GUEST_RAM, space);
    expect(space.mappedRanges()).toEqual([{ first: 0, count: GUEST_RAM >>> 12 }]);

    m.mapGuest(0x1000, 0x1000, P);
    m.mapGuest(0x2000, 0x2000, P | RW);
    m.mapGuest(0x3ff000, 0x3000, P);
    m.memory.write32(m.pd + 0x3ff * 4, 0 | P | Pte.PS);
    const scan = scanGuestSpace(m.memory, { ...m.guest, cr4: CR4_PSE }, GUEST_RAM, space);
    expect(space.mappedRanges()).toEqual([
      { first: 1, count: 2 },
      { first: 0x3ff, count: 1 },
      { first: 0xffc00, count: 1024 },
    ]);
    expect([...scan.tableFrames].sort()).toEqual([0x10000, 0x11000]);
  });
});
