import type { MemoryBus } from "@pagurus/spec";
import type { FrameAllocator } from "./frames.js";
import { FRAME_MASK, Pte } from "./paging-bits.js";

/**
 * The VMM's own address space (claim 4): a page directory of the monitor's, loaded by the
 * stub for a world switch. It maps the stub at the same linear address as every guest
 * shadow does (claim 4, "mapping the first portion into the first address space and the
 * second") and, for claim 10, windows onto the guest frames the stub displaced, so that the
 * core reaches that content from its own address space.
 */
export class VmmAddressSpace {
  /** The page directory's frame: what the stub loads into CR3 for the world switch. */
  readonly cr3: number;
  private readonly tables = new Map<number, number>();

  constructor(
    private readonly memory: MemoryBus,
    private readonly frames: FrameAllocator,
  ) {
    this.cr3 = frames.allocate();
  }

  /** Maps one page, supervisor-only: nothing in the VMM's space is for CPL 3. */
  map(linear: number, frame: number, writable: boolean): void {
    const pdi = linear >>> 22;
    let pt = this.tables.get(pdi);
    if (pt === undefined) {
      pt = this.frames.allocate();
      this.tables.set(pdi, pt);
      this.memory.write32(this.cr3 + pdi * 4, (pt | Pte.P | Pte.RW | Pte.A) >>> 0);
    }
    const value = (frame & FRAME_MASK) | Pte.P | Pte.A | Pte.D | (writable ? Pte.RW : 0);
    this.memory.write32(pt + ((linear >>> 12) & 0x3ff) * 4, value >>> 0);
  }

  unmap(linear: number): void {
    const pt = this.tables.get(linear >>> 22);
    if (pt !== undefined) this.memory.write32(pt + ((linear >>> 12) & 0x3ff) * 4, 0);
  }

  /** Linear to physical in the VMM's space, or -1: how the core reads through its windows. */
  translate(linear: number): number {
    const pt = this.tables.get(linear >>> 22);
    if (pt === undefined) return -1;
    const pte = this.memory.read32(pt + ((linear >>> 12) & 0x3ff) * 4);
    if ((pte & Pte.P) === 0) return -1;
    return ((pte & FRAME_MASK) | (linear & 0xfff)) >>> 0;
  }
}
