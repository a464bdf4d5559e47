import { PageAccess } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { CR0_PE, CR0_PG, CR0_WP, D, P, PD, paged, pteOf, US } from "./helpers.js";

const LINEAR = 0x0080_1000;
const FRAME = 0x0060_0000;
const { Read, Write, User } = PageAccess;

// SDM Vol. 3A, 4.6: supervisor writes to read-only pages are allowed with CR0.WP = 0 and
// forbidden with CR0.WP = 1; user writes need R/W = 1 whatever WP says.
describe("CR0.WP", () => {
  it("WP = 0: a supervisor write to a read-only page succeeds and sets D", () => {
    const { ram, mmu } = paged(LINEAR, FRAME, P | US, P | US, { cr0: CR0_PE | CR0_PG });
    expect(mmu.translate(LINEAR, Write)).toBe(FRAME);
    expect(ram.peek32(pteOf(LINEAR)) & D).toBe(D);
  });

  it("WP = 1: the same write faults with P | W", () => {
    const { ram, mmu } = paged(LINEAR, FRAME, P | US, P | US, { cr0: CR0_PE | CR0_PG | CR0_WP });
    expect(mmu.translate(LINEAR, Write)).toBe(-1);
    expect(mmu.faultErrorCode).toBe(0b011);
    expect(ram.peek32(pteOf(LINEAR)) & D).toBe(0);
  });

  it("user writes to a read-only page fault with either WP", () => {
    for (const cr0 of [CR0_PE | CR0_PG, CR0_PE | CR0_PG | CR0_WP]) {
      const { mmu } = paged(LINEAR, FRAME, P | US, P | US, { cr0 });
      expect(mmu.translate(LINEAR, User | Write)).toBe(-1);
      expect(mmu.faultErrorCode).toBe(0b111);
    }
  });

  it("toggling WP takes effect on an already cached translation", () => {
    const { mmu } = paged(LINEAR, FRAME, P | US, P | US, { cr0: CR0_PE | CR0_PG });
    expect(mmu.translate(LINEAR, Write)).toBe(FRAME); // cached as dirty, not writable
    mmu.setControl(CR0_PE | CR0_PG | CR0_WP, PD, 0);
    expect(mmu.translate(LINEAR, Write)).toBe(-1);
    mmu.setControl(CR0_PE | CR0_PG, PD, 0);
    expect(mmu.translate(LINEAR, Write)).toBe(FRAME);
    expect(mmu.translate(LINEAR, Read)).toBe(FRAME);
  });
});

describe("paging disabled", () => {
  it("translates to the identity and never touches memory", () => {
    const { ram, mmu } = paged(LINEAR, FRAME, P, P, { cr0: CR0_PE });
    expect(mmu.translate(0xdead_beef, User | Write)).toBe(0xdead_beef);
    expect(ram.writes).toEqual([]);
    expect(mmu.walk(0xdead_beef)).toMatchObject({ paging: false, physical: 0xdead_beef });
  });
});
