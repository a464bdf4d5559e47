import { PageAccess } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { Mmu } from "../src/index.js";
import {
  A,
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR4_PSE,
  D,
  P,
  PD,
  PS,
  paged,
  pdeOf,
  pteOf,
  Ram,
  RW,
  US,
} from "./helpers.js";

const LINEAR = 0x00c0_5abc;
const FRAME = 0x0070_0000;
const { Read, Write, User } = PageAccess;

// SDM Vol. 3A, 4.8: A is set in every paging-structure entry used for a translation, D in
// the entry that maps the page on the first write to it.
describe("Accessed and Dirty flags", () => {
  it("a read sets A in the PDE and the PTE, and no D", () => {
    const { ram, mmu } = paged(LINEAR, FRAME, P | RW | US, P | RW | US);
    expect(mmu.translate(LINEAR, User | Read)).toBe(FRAME | 0xabc);
    expect(ram.peek32(pdeOf(LINEAR)) & (A | D)).toBe(A);
    expect(ram.peek32(pteOf(LINEAR)) & (A | D)).toBe(A);
  });

  it("a write sets A in both and D only in the PTE", () => {
    const { ram, mmu } = paged(LINEAR, FRAME, P | RW | US, P | RW | US);
    expect(mmu.translate(LINEAR, User | Write)).toBe(FRAME | 0xabc);
    expect(ram.peek32(pdeOf(LINEAR)) & (A | D)).toBe(A);
    expect(ram.peek32(pteOf(LINEAR)) & (A | D)).toBe(A | D);
  });

  it("entries that already have the bits are not written again", () => {
    const { ram, mmu } = paged(LINEAR, FRAME, P | RW | A, P | RW | A | D);
    expect(mmu.translate(LINEAR, Write)).toBe(FRAME | 0xabc);
    expect(ram.writes).toEqual([]);
  });

  it("the other bits of the entries are preserved", () => {
    const { ram, mmu } = paged(LINEAR, FRAME, P | RW | US | 0xe00, P | RW | 0x18);
    mmu.translate(LINEAR, Write);
    expect(ram.peek32(pdeOf(LINEAR)) >>> 0).toBe((0x2000 | P | RW | US | 0xe00 | A) >>> 0);
    expect(ram.peek32(pteOf(LINEAR)) >>> 0).toBe((FRAME | P | RW | 0x18 | A | D) >>> 0);
  });

  describe("no A or D on an access that faults", () => {
    it("protection fault: nothing is written", () => {
      const { ram, mmu } = paged(LINEAR, FRAME, P | RW | US, P | US, { cr0: CR0_PE | CR0_PG | CR0_WP });
      expect(mmu.translate(LINEAR, User | Write)).toBe(-1);
      expect(ram.writes).toEqual([]);
    });
    it("not-present PTE: the PDE's A stays clear", () => {
      const { ram, mmu } = paged(LINEAR, FRAME, P | RW | US, RW | US);
      expect(mmu.translate(LINEAR, Read)).toBe(-1);
      expect(ram.writes).toEqual([]);
      expect(ram.peek32(pdeOf(LINEAR)) & A).toBe(0);
    });
    it("user access to a supervisor PTE: no A anywhere", () => {
      const { ram, mmu } = paged(LINEAR, FRAME, P | RW | US, P | RW);
      expect(mmu.translate(LINEAR, User)).toBe(-1);
      expect(ram.writes).toEqual([]);
    });
  });

  it("a write through a translation cached by a read re-walks and sets D", () => {
    const { ram, mmu } = paged(LINEAR, FRAME, P | RW, P | RW);
    mmu.translate(LINEAR, Read);
    expect(ram.peek32(pteOf(LINEAR)) & D).toBe(0);
    const before = ram.writes.length;
    expect(mmu.translate(LINEAR, Write)).toBe(FRAME | 0xabc);
    expect(ram.peek32(pteOf(LINEAR)) & D).toBe(D);
    expect(ram.writes.length).toBe(before + 1);
    // Now cached dirty: further writes do not touch memory.
    mmu.translate(LINEAR + 4, Write);
    expect(ram.writes.length).toBe(before + 1);
  });

  it("D cleared by software is not set again until the TLB entry is invalidated (SDM 4.8 note)", () => {
    const { ram, mmu } = paged(LINEAR, FRAME, P | RW, P | RW);
    mmu.translate(LINEAR, Write);
    ram.poke32(pteOf(LINEAR), FRAME | P | RW | A); // the OS clears D, without INVLPG
    mmu.translate(LINEAR, Write);
    expect(ram.peek32(pteOf(LINEAR)) & D).toBe(0); // stale dirty entry used
    mmu.invalidatePage(LINEAR);
    mmu.translate(LINEAR, Write);
    expect(ram.peek32(pteOf(LINEAR)) & D).toBe(D);
  });

  it("4 MiB pages: A and D go to the PDE", () => {
    const ram = new Ram();
    ram.poke32(pdeOf(LINEAR), 0x0080_0000 | P | RW | PS);
    const mmu = new Mmu(ram);
    mmu.setControl(CR0_PE | CR0_PG, PD, CR4_PSE);
    mmu.translate(LINEAR, Read);
    expect(ram.peek32(pdeOf(LINEAR)) & (A | D)).toBe(A);
    mmu.translate(LINEAR, Write);
    expect(ram.peek32(pdeOf(LINEAR)) & (A | D)).toBe(A | D);
  });

  it("a self-referencing directory entry keeps both updates", () => {
    // PDE 0x3FF points at the directory itself: linear 0xFFFF_F000 maps the directory page.
    const ram = new Ram();
    ram.poke32(PD + 0x3ff * 4, PD | P | RW);
    const mmu = new Mmu(ram);
    mmu.setControl(CR0_PE | CR0_PG, PD, 0);
    expect(mmu.translate(0xffff_f000, Write)).toBe(PD);
    expect(ram.peek32(PD + 0x3ff * 4) & (A | D)).toBe(A | D);
  });
});
