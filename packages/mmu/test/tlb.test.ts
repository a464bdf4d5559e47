import { PageAccess } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { Mmu } from "../src/index.js";
import {
  A,
  CR0_PE,
  CR0_PG,
  CR4_PGE,
  CR4_PSE,
  G,
  P,
  PD,
  PS,
  PT,
  paged,
  pteOf,
  Ram,
  RW,
  US,
} from "./helpers.js";

const LINEAR = 0x0000_7000;
const OLD = 0x0010_0000;
const NEW = 0x0020_0000;
const { Read, Write, User } = PageAccess;

// SDM Vol. 3A, 4.10: the processor may keep using a cached translation after software
// changed the paging structures, until it invalidates it. These tests pin down that this
// unit does keep it (so guests that forget INVLPG misbehave here as on hardware).
describe("TLB", () => {
  it("a modified PTE is not seen until INVLPG", () => {
    const { ram, mmu } = paged(LINEAR, OLD, P | RW, P | RW);
    expect(mmu.translate(LINEAR, Read)).toBe(OLD);
    ram.poke32(pteOf(LINEAR), NEW | P | RW | A);
    expect(mmu.translate(LINEAR, Read)).toBe(OLD);
    mmu.invalidatePage(LINEAR + 0xfff);
    expect(mmu.translate(LINEAR, Read)).toBe(NEW);
  });

  it("a PTE made not present still translates until INVLPG", () => {
    const { ram, mmu } = paged(LINEAR, OLD, P | RW, P | RW);
    mmu.translate(LINEAR, Read);
    ram.poke32(pteOf(LINEAR), 0);
    expect(mmu.translate(LINEAR, Read)).toBe(OLD);
    mmu.invalidatePage(LINEAR);
    expect(mmu.translate(LINEAR, Read)).toBe(-1);
    expect(mmu.faultErrorCode).toBe(0);
  });

  it("INVLPG drops only the page it names", () => {
    const ram = new Ram();
    ram.poke32(PD, PT | P | RW);
    ram.poke32(PT + 4, OLD | P | RW);
    ram.poke32(PT + 8, (OLD + 0x1000) | P | RW);
    const mmu = new Mmu(ram);
    mmu.setControl(CR0_PE | CR0_PG, PD, 0);
    mmu.translate(0x1000, Read);
    mmu.translate(0x2000, Read);
    ram.poke32(PT + 4, NEW | P | RW);
    ram.poke32(PT + 8, (NEW + 0x1000) | P | RW);
    mmu.invalidatePage(0x1000);
    expect(mmu.translate(0x1000, Read)).toBe(NEW);
    expect(mmu.translate(0x2000, Read)).toBe(OLD + 0x1000);
  });

  it("a CR3 reload, even of the same value, flushes non-global entries", () => {
    const { ram, mmu } = paged(LINEAR, OLD, P | RW, P | RW);
    mmu.translate(LINEAR, Read);
    ram.poke32(pteOf(LINEAR), NEW | P | RW);
    mmu.setControl(CR0_PE | CR0_PG, PD, 0);
    expect(mmu.translate(LINEAR, Read)).toBe(NEW);
  });

  it("a page fault invalidates the entry of the faulting page (SDM 4.10.4.1)", () => {
    const { ram, mmu } = paged(LINEAR, OLD, P | RW | US, P | US);
    mmu.translate(LINEAR, User); // cached read-only
    ram.poke32(pteOf(LINEAR), NEW | P | US); // moved, still read-only: stale until invalidated
    expect(mmu.translate(LINEAR, User)).toBe(OLD);
    expect(mmu.translate(LINEAR, User | Write)).toBe(-1);
    expect(mmu.translate(LINEAR, User)).toBe(NEW);
  });

  it("an access the cached rights do not allow re-walks and sees widened rights", () => {
    // Allowed by SDM 4.10.4.3: a processor may fault on the stale entry or re-walk; this one re-walks.
    const { ram, mmu } = paged(LINEAR, OLD, P | RW | US, P | US);
    mmu.translate(LINEAR, User);
    ram.poke32(pteOf(LINEAR), OLD | P | RW | US | A);
    expect(mmu.translate(LINEAR, User | Write)).toBe(OLD);
  });

  it("flushes stay correct past the list of remembered pages", () => {
    // 4 MiB global page plus 5 * 4096 small pages: more pages than the flush list holds.
    const ram = new Ram(64 << 20);
    for (let t = 0; t < 20; t++) {
      const table = 0x0100_0000 + t * 0x1000;
      ram.poke32(PD + (t + 1) * 4, table | P | RW);
      for (let i = 0; i < 1024; i++) ram.poke32(table + i * 4, ((t * 1024 + i) << 12) | P | RW);
    }
    ram.poke32(PD, 0x0200_0000 | P | RW | PS | G);
    const mmu = new Mmu(ram);
    mmu.setControl(CR0_PE | CR0_PG, PD, CR4_PSE | CR4_PGE);
    expect(mmu.translate(0x1234, Read)).toBe(0x0200_1234);
    for (let page = 1024; page < 21 * 1024; page++) mmu.translate(page << 12, Read);
    ram.poke32(PD, 0x0300_0000 | P | RW | PS | G);
    ram.poke32(0x0100_0000 + 4, 0x0abc_d000 | P | RW);
    mmu.setControl(CR0_PE | CR0_PG, PD, CR4_PSE | CR4_PGE);
    expect(mmu.translate(0x1234, Read)).toBe(0x0200_1234); // global survived
    expect(mmu.translate(0x0040_1000, Read)).toBe(0x0abc_d000); // non-global flushed
    mmu.flushAll();
    expect(mmu.translate(0x1234, Read)).toBe(0x0300_1234);
  });

  it("clearing CR0.PG drops everything, global entries too", () => {
    const { ram, mmu } = paged(LINEAR, OLD, P | RW, P | RW | G, { cr4: CR4_PGE });
    mmu.translate(LINEAR, Write);
    ram.poke32(pteOf(LINEAR), NEW | P | RW | G);
    mmu.setControl(CR0_PE, PD, CR4_PGE);
    mmu.setControl(CR0_PE | CR0_PG, PD, CR4_PGE);
    expect(mmu.translate(LINEAR, Read)).toBe(NEW);
  });
});
