import { PageAccess } from "@pagurus/spec";
import { describe, expect, it } from "vitest";
import { Mmu } from "../src/index.js";
import { A, CR0_PE, CR0_PG, CR4_PSE, P, PD, PS, PT, pdeOf, Ram, RW, US } from "./helpers.js";

const { Read, Write, User } = PageAccess;

function large(pde: number, cr4 = CR4_PSE): { ram: Ram; mmu: Mmu } {
  const ram = new Ram();
  ram.poke32(pdeOf(0x0040_0000), pde);
  const mmu = new Mmu(ram);
  mmu.setControl(CR0_PE | CR0_PG, PD, cr4);
  return { ram, mmu };
}

// SDM Vol. 3A, 4.3: with CR4.PSE = 1, a PDE with PS = 1 maps a 4 MiB page; bits 31:22 of the
// PDE are the frame, bits 21:0 of the linear address the offset.
describe("4 MiB pages (CR4.PSE)", () => {
  it("maps 4 MiB at once", () => {
    const { mmu } = large(0x0c00_0000 | P | RW | US | PS);
    expect(mmu.translate(0x0040_0000, User)).toBe(0x0c00_0000);
    expect(mmu.translate(0x007f_fffc, User | Write)).toBe(0x0c3f_fffc);
    expect(mmu.translate(0x0051_2345, Read)).toBe(0x0c11_2345);
    expect(mmu.walk(0x0051_2345)).toMatchObject({ pageSize: 4 << 20, physical: 0x0c11_2345, pteAddress: -1 });
  });

  it("user and write checks use the PDE's bits", () => {
    const { mmu } = large(0x0c00_0000 | P | PS);
    expect(mmu.translate(0x0040_0000, User)).toBe(-1);
    expect(mmu.faultErrorCode).toBe(0b101);
  });

  it("without CR4.PSE the PS bit is ignored and the PDE points to a page table", () => {
    const { ram, mmu } = large(PT | P | RW | PS, 0);
    ram.poke32(PT + 5 * 4, 0x0090_0000 | P | RW);
    expect(mmu.translate(0x0040_5010, Read)).toBe(0x0090_0010);
    expect(mmu.walk(0x0040_5010)).toMatchObject({ pageSize: 4096, pteAddress: PT + 20 });
  });

  it("each of bits 21:13 is reserved", () => {
    for (let bit = 13; bit <= 21; bit++) {
      const { mmu } = large(0x0c00_0000 | (1 << bit) | P | RW | PS);
      expect(mmu.translate(0x0040_0000, Read)).toBe(-1);
      expect(mmu.faultErrorCode).toBe(0b1001);
    }
    // Bit 12 (PAT) is not reserved.
    const { mmu } = large(0x0c00_0000 | (1 << 12) | P | RW | PS);
    expect(mmu.translate(0x0040_0000, Read)).toBe(0x0c00_0000);
  });

  it("INVLPG of any address in the 4 MiB page drops every cached part of it", () => {
    const { ram, mmu } = large(0x0c00_0000 | P | RW | PS | A);
    expect(mmu.translate(0x0040_0000, Read)).toBe(0x0c00_0000);
    expect(mmu.translate(0x0070_0000, Read)).toBe(0x0c30_0000);
    ram.poke32(pdeOf(0x0040_0000), 0x1000_0000 | P | RW | PS | A);
    expect(mmu.translate(0x0040_0000, Read)).toBe(0x0c00_0000); // stale until INVLPG
    mmu.invalidatePage(0x0055_5555);
    expect(mmu.translate(0x0040_0000, Read)).toBe(0x1000_0000);
    expect(mmu.translate(0x0070_0000, Read)).toBe(0x1030_0000);
  });
});
