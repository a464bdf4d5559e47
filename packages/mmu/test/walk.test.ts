import { PageAccess } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { Mmu, type MmuState } from "../src/index.js";
import {
  A,
  CR0_PE,
  CR0_PG,
  CR0_WP,
  CR4_PGE,
  CR4_PSE,
  G,
  P,
  PD,
  PS,
  PT,
  paged,
  pdeOf,
  pteOf,
  RW,
  US,
} from "./helpers.js";

const LINEAR = 0x0123_4567;
const FRAME = 0x0050_0000;

describe("walk", () => {
  it("returns the PDE/PTE chain and effective rights", () => {
    const { mmu } = paged(LINEAR, FRAME, P | RW | US, P | US | G, { cr4: CR4_PGE });
    expect(mmu.walk(LINEAR)).toEqual({
      linear: LINEAR,
      paging: true,
      pdeAddress: pdeOf(LINEAR),
      pde: PT | P | RW | US,
      pteAddress: pteOf(LINEAR),
      pte: FRAME | P | US | G,
      physical: FRAME | 0x567,
      pageSize: 4096,
      writable: false,
      user: true,
      global: true,
      reserved: false,
    });
  });

  it("has no side effects: no A/D writes and no TLB fill", () => {
    const { ram, mmu } = paged(LINEAR, FRAME, P | RW, P | RW);
    mmu.walk(LINEAR);
    expect(ram.writes).toEqual([]);
    ram.poke32(pteOf(LINEAR), 0x0060_0000 | P | RW);
    expect(mmu.translate(LINEAR, PageAccess.Read)).toBe(0x0060_0567);
  });

  it("stops at a not-present PDE or PTE", () => {
    const pdeMissing = paged(LINEAR, FRAME, RW, P);
    expect(pdeMissing.mmu.walk(LINEAR)).toMatchObject({ pteAddress: -1, physical: -1, pageSize: 0 });
    const pteMissing = paged(LINEAR, FRAME, P, RW);
    expect(pteMissing.mmu.walk(LINEAR)).toMatchObject({
      pteAddress: pteOf(LINEAR),
      pte: FRAME | RW,
      physical: -1,
    });
  });

  it("reports a reserved bit in a 4 MiB PDE", () => {
    const { ram, mmu } = paged(LINEAR, FRAME, P, P, { cr4: CR4_PSE });
    ram.poke32(pdeOf(LINEAR), 0x0400_0000 | (1 << 15) | P | PS);
    expect(mmu.walk(LINEAR)).toMatchObject({ reserved: true, physical: -1, pageSize: 4 << 20 });
  });
});

describe("snapshot", () => {
  it("saves the control registers as JSON and restores them with an empty TLB", () => {
    const { ram, mmu } = paged(LINEAR, FRAME, P | RW, P | RW, {
      cr0: CR0_PE | CR0_PG | CR0_WP,
      cr4: CR4_PGE,
    });
    mmu.translate(LINEAR, PageAccess.Read);
    const state: MmuState = JSON.parse(JSON.stringify(mmu.save()));
    expect(state).toEqual({
      cr0: (CR0_PE | CR0_PG | CR0_WP) >>> 0,
      cr3: PD,
      cr4: CR4_PGE,
      faultErrorCode: 0,
    });
    const copy = new Mmu(ram);
    copy.restore(state);
    expect(copy.translate(LINEAR, PageAccess.Read)).toBe(FRAME | 0x567);
    ram.poke32(pteOf(LINEAR), 0x0060_0000 | P | RW | A);
    mmu.restore(state); // restoring drops the stale entry
    expect(mmu.translate(LINEAR, PageAccess.Read)).toBe(0x0060_0567);
  });
});
