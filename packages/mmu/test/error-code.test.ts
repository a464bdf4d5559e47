import { PageAccess, PageFaultError } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { Mmu } from "../src/index.js";
import { A, CR0_PE, CR0_PG, CR0_WP, CR4_PSE, P, PD, PS, paged, pdeOf, Ram, RW, US } from "./helpers.js";

const LINEAR = 0x0040_3123;
const FRAME = 0x0050_0000;
const { Read, Write, User, Fetch } = PageAccess;

// SDM Vol. 3A, 4.7: bit 0 P (0 = not present, 1 = protection), bit 1 W/R, bit 2 U/S, bit 3 RSVD.
describe("#PF error code", () => {
  describe("not present (P = 0): W/R and U/S describe the access", () => {
    for (const access of [Read, Write, User, User | Write]) {
      it(`PDE not present, access ${access}`, () => {
        const { mmu } = paged(LINEAR, FRAME, 0, P | RW | US);
        expect(mmu.translate(LINEAR, access)).toBe(-1);
        expect(mmu.faultErrorCode).toBe(access);
      });
      it(`PTE not present, access ${access}`, () => {
        const { mmu } = paged(LINEAR, FRAME, P | RW | US, RW | US);
        expect(mmu.translate(LINEAR, access)).toBe(-1);
        expect(mmu.faultErrorCode).toBe(access);
      });
    }
  });

  describe("protection (P = 1)", () => {
    const cases: [string, number, number, number, number][] = [
      // name, PDE flags, PTE flags, access, error code
      ["user read of a supervisor PTE", P | RW | US, P | RW, User | Read, 0b101],
      ["user read through a supervisor PDE", P | RW, P | RW | US, User | Read, 0b101],
      ["user write to a supervisor page", P | RW | US, P | RW, User | Write, 0b111],
      ["user write to a read-only PTE", P | RW | US, P | US, User | Write, 0b111],
      ["user write through a read-only PDE", P | US, P | RW | US, User | Write, 0b111],
      ["supervisor write to a read-only PTE with WP", P | RW | US, P | US, Write, 0b011],
      ["supervisor write through a read-only PDE with WP", P | US, P | RW | US, Write, 0b011],
    ];
    for (const [name, pde, pte, access, code] of cases) {
      it(name, () => {
        const { mmu } = paged(LINEAR, FRAME, pde, pte, { cr0: CR0_PE | CR0_PG | CR0_WP });
        expect(mmu.translate(LINEAR, access)).toBe(-1);
        expect(mmu.faultErrorCode).toBe(code);
      });
    }

    it("supervisor reads never fault on a present page (no protection read fault without SMAP)", () => {
      const { mmu } = paged(LINEAR, FRAME, P, P, { cr0: CR0_PE | CR0_PG | CR0_WP });
      expect(mmu.translate(LINEAR, Read)).toBe(FRAME | 0x123);
    });

    it("user accesses succeed when both levels allow them", () => {
      const { mmu } = paged(LINEAR, FRAME, P | RW | US, P | RW | US);
      expect(mmu.translate(LINEAR, User | Write)).toBe(FRAME | 0x123);
      expect(mmu.translate(LINEAR, User | Read)).toBe(FRAME | 0x123);
    });
  });

  describe("reserved bit (RSVD, bit 3, always with P = 1)", () => {
    for (const access of [Read, Write, User, User | Write]) {
      it(`4 MiB PDE with bit 13 set, access ${access}`, () => {
        const ram = new Ram();
        ram.poke32(pdeOf(LINEAR), 0x0040_0000 | (1 << 13) | P | RW | US | PS);
        const mmu = new Mmu(ram);
        mmu.setControl(CR0_PE | CR0_PG, PD, CR4_PSE);
        expect(mmu.translate(LINEAR, access)).toBe(-1);
        expect(mmu.faultErrorCode).toBe(access | PageFaultError.ReservedBit | PageFaultError.Present);
      });
    }

    it("reserved bits of a not-present entry are not checked", () => {
      const ram = new Ram();
      ram.poke32(pdeOf(LINEAR), 0x0040_0000 | (1 << 13) | RW | PS);
      const mmu = new Mmu(ram);
      mmu.setControl(CR0_PE | CR0_PG, PD, CR4_PSE);
      expect(mmu.translate(LINEAR, Write)).toBe(-1);
      expect(mmu.faultErrorCode).toBe(PageFaultError.Write);
    });

    it("a reserved-bit fault wins over a protection fault in the same entry", () => {
      const ram = new Ram();
      ram.poke32(pdeOf(LINEAR), 0x0040_0000 | (1 << 21) | P | PS);
      const mmu = new Mmu(ram);
      mmu.setControl(CR0_PE | CR0_PG, PD, CR4_PSE);
      expect(mmu.translate(LINEAR, User | Write)).toBe(-1);
      expect(mmu.faultErrorCode).toBe(0b1111);
    });
  });

  it("an instruction fetch reports I/D = 0 (no NX in 32-bit paging)", () => {
    const { mmu } = paged(LINEAR, FRAME, P | RW | US, US);
    expect(mmu.translate(LINEAR, Fetch | User)).toBe(-1);
    expect(mmu.faultErrorCode).toBe(PageFaultError.User);
    const ro = paged(LINEAR, FRAME, P | RW | US, P);
    expect(ro.mmu.translate(LINEAR, Fetch | User)).toBe(-1);
    expect(ro.mmu.faultErrorCode).toBe(PageFaultError.User | PageFaultError.Present);
  });

  it("a fault from the TLB path reports the same code as from a walk", () => {
    const { mmu } = paged(LINEAR, FRAME, P | RW | US, P | US | A);
    expect(mmu.translate(LINEAR, User)).toBe(FRAME | 0x123); // cached, read-only, user
    expect(mmu.translate(LINEAR, User | Write)).toBe(-1);
    expect(mmu.faultErrorCode).toBe(0b111);
  });
});
