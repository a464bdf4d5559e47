import { PageAccess } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { CR0_PE, CR0_PG, CR4_PGE, G, P, PD, paged, pteOf, RW } from "./helpers.js";

const LINEAR = 0xc000_0000;
const OLD = 0x0010_0000;
const NEW = 0x0020_0000;
const PG = CR0_PE | CR0_PG;

// SDM Vol. 3A, 4.10.2.4 and 4.10.4.1: with CR4.PGE = 1, translations of pages whose final
// entry has G = 1 survive a MOV to CR3; INVLPG, clearing CR4.PGE (any change of it) and a
// full flush drop them.
describe("global pages (CR4.PGE)", () => {
  function cachedGlobal(pteFlags = G, cr4 = CR4_PGE) {
    const setup = paged(LINEAR, OLD, P | RW, P | RW | pteFlags, { cr4 });
    expect(setup.mmu.translate(LINEAR, PageAccess.Write)).toBe(OLD);
    setup.ram.poke32(pteOf(LINEAR), NEW | P | RW | pteFlags);
    return setup;
  }

  it("survive a CR3 reload", () => {
    const { mmu } = cachedGlobal();
    mmu.setControl(PG, PD, CR4_PGE);
    expect(mmu.translate(LINEAR, PageAccess.Read)).toBe(OLD);
    mmu.setControl(PG, 0x0030_0000, CR4_PGE); // another address space entirely
    expect(mmu.translate(LINEAR, PageAccess.Read)).toBe(OLD);
    expect(mmu.walk(LINEAR).global).toBe(false); // the new directory maps nothing there
  });

  it("G without CR4.PGE is not global", () => {
    const { mmu } = cachedGlobal(G, 0);
    mmu.setControl(PG, PD, 0);
    expect(mmu.translate(LINEAR, PageAccess.Read)).toBe(NEW);
  });

  it("a G = 0 page is flushed by the same CR3 reload", () => {
    const { mmu } = cachedGlobal(0);
    mmu.setControl(PG, PD, CR4_PGE);
    expect(mmu.translate(LINEAR, PageAccess.Read)).toBe(NEW);
  });

  it("are dropped by flushAll", () => {
    const { mmu } = cachedGlobal();
    mmu.flushAll();
    expect(mmu.translate(LINEAR, PageAccess.Read)).toBe(NEW);
  });

  it("are dropped by clearing CR4.PGE, and stay dropped when it is set again", () => {
    const { mmu } = cachedGlobal();
    mmu.setControl(PG, PD, 0);
    mmu.setControl(PG, PD, CR4_PGE);
    expect(mmu.translate(LINEAR, PageAccess.Read)).toBe(NEW);
  });

  it("are dropped by setting CR4.PGE", () => {
    const { ram, mmu } = paged(LINEAR, OLD, P | RW, P | RW | G, { cr4: 0 });
    mmu.translate(LINEAR, PageAccess.Read);
    ram.poke32(pteOf(LINEAR), NEW | P | RW | G);
    mmu.setControl(PG, PD, CR4_PGE);
    expect(mmu.translate(LINEAR, PageAccess.Read)).toBe(NEW);
  });

  it("are dropped by INVLPG", () => {
    const { mmu } = cachedGlobal();
    mmu.invalidatePage(LINEAR);
    expect(mmu.translate(LINEAR, PageAccess.Read)).toBe(NEW);
  });
});
