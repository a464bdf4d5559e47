import type { MemoryBus } from "@pagurus/spec";
import { Mmu } from "../src/index.js";

export const CR0_PE = 1;
export const CR0_WP = 1 << 16;
export const CR0_PG = 0x8000_0000;
export const CR4_PSE = 1 << 4;
export const CR4_PGE = 1 << 7;

// Entry bits, SDM Vol. 3A Tables 4-4 to 4-6.
export const P = 1;
export const RW = 2;
export const US = 4;
export const A = 0x20;
export const D = 0x40;
export const PS = 0x80;
export const G = 0x100;

/** Plain RAM on a Uint8Array that logs every write, so tests can assert what a walk wrote. */
export class Ram implements MemoryBus {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  readonly writes: { address: number; value: number }[] = [];
  constructor(size = 16 << 20) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }
  read8(a: number): number {
    return this.bytes[a];
  }
  read16(a: number): number {
    return this.view.getUint16(a, true);
  }
  read32(a: number): number {
    return this.view.getUint32(a, true);
  }
  write8(a: number, v: number): void {
    this.writes.push({ address: a, value: v });
    this.bytes[a] = v;
  }
  write16(a: number, v: number): void {
    this.writes.push({ address: a, value: v });
    this.view.setUint16(a, v, true);
  }
  write32(a: number, v: number): void {
    this.writes.push({ address: a, value: v });
    this.view.setUint32(a, v, true);
  }
  /** Test-side poke that is not logged (the "software" editing page tables). */
  poke32(a: number, v: number): void {
    this.view.setUint32(a, v >>> 0, true);
  }
  peek32(a: number): number {
    return this.view.getUint32(a, true);
  }
}

export const PD = 0x1000;
export const PT = 0x2000;

/** Address of the PDE and PTE for `linear` in the test's directory at {@link PD} and table at {@link PT}. */
export const pdeOf = (linear: number): number => PD + (linear >>> 22) * 4;
export const pteOf = (linear: number): number => PT + ((linear >>> 12) & 0x3ff) * 4;

/**
 * A machine with paging on: CR3 = PD, the PDE for `linear` pointing to PT with `pdeFlags`,
 * and the PTE for `linear` mapping `frame` with `pteFlags`.
 */
export function paged(
  linear: number,
  frame: number,
  pdeFlags: number,
  pteFlags: number,
  options: { cr0?: number; cr4?: number } = {},
): { ram: Ram; mmu: Mmu } {
  const ram = new Ram();
  ram.poke32(pdeOf(linear), PT | pdeFlags);
  ram.poke32(pteOf(linear), frame | pteFlags);
  const mmu = new Mmu(ram);
  mmu.setControl(options.cr0 ?? CR0_PE | CR0_PG, PD, options.cr4 ?? 0);
  return { ram, mmu };
}
