import type { GuestSpace } from "@pagurus/relocator";
import type { MemoryBus } from "@pagurus/spec";
import { CR4_PSE, FRAME_MASK, type GuestPaging, Pte, pagingEnabled } from "./paging-bits.js";

/** What a scan of the guest's paging structures found. */
export interface GuestSpaceScan {
  /** Guest-physical frames that hold the guest's page directory and page tables. */
  readonly tableFrames: Set<number>;
  /** Pages mapped (4 KiB pages, 4 MiB pages count 1024). */
  readonly mappedPages: number;
}

/**
 * Fills `space` with every linear page the guest can reach (claims 5 and 9: the relocator's
 * picture of what is used). With paging off, linear is physical, so the guest's RAM is
 * mapped and nothing else. With paging on, the guest's own tables say (SDM 4.3): a present
 * PDE with PS=1 (CR4.PSE) maps 1024 pages, otherwise its page table's present PTEs do.
 * Page tables outside guest RAM are treated as empty: the core never walks into its own
 * frames on the guest's behalf.
 */
export function scanGuestSpace(
  memory: MemoryBus,
  guest: GuestPaging,
  guestRamSize: number,
  space: GuestSpace,
): GuestSpaceScan {
  space.clear();
  const tableFrames = new Set<number>();
  if (!pagingEnabled(guest)) {
    space.map(0, guestRamSize >>> 12);
    return { tableFrames, mappedPages: space.mappedPages };
  }
  const pd = guest.cr3 & FRAME_MASK;
  if (pd >= guestRamSize) return { tableFrames, mappedPages: 0 };
  tableFrames.add(pd);
  const pse = (guest.cr4 & CR4_PSE) !== 0;
  for (let pdi = 0; pdi < 1024; pdi++) {
    const pt = scanSlot(memory, pd, pdi, pse, guestRamSize, space);
    if (pt >= 0) tableFrames.add(pt);
  }
  return { tableFrames, mappedPages: space.mappedPages };
}

/**
 * Re-reads the guest's mappings of some 4 MiB slots (directory indexes) into `space`, after
 * the guest changed entries there: cheaper than a whole scan when one table was written.
 */
export function rescanSlots(
  memory: MemoryBus,
  guest: GuestPaging,
  guestRamSize: number,
  space: GuestSpace,
  slots: Iterable<number>,
): void {
  if (!pagingEnabled(guest)) return;
  const pd = guest.cr3 & FRAME_MASK;
  if (pd >= guestRamSize) return;
  const pse = (guest.cr4 & CR4_PSE) !== 0;
  for (const pdi of slots) {
    space.unmap(pdi << 10, 1024);
    scanSlot(memory, pd, pdi, pse, guestRamSize, space);
  }
}

/** Maps one directory slot's pages into `space`; returns its page table's frame, or -1. */
function scanSlot(
  memory: MemoryBus,
  pd: number,
  pdi: number,
  pse: boolean,
  guestRamSize: number,
  space: GuestSpace,
): number {
  const pde = memory.read32(pd + pdi * 4);
  if ((pde & Pte.P) === 0) return -1;
  if (pse && (pde & Pte.PS) !== 0) {
    space.map(pdi << 10, 1024);
    return -1;
  }
  const pt = (pde & FRAME_MASK) >>> 0;
  if (pt >= guestRamSize) return -1;
  let run = -1;
  for (let pti = 0; pti < 1024; pti++) {
    const present = (memory.read32(pt + pti * 4) & Pte.P) !== 0;
    if (present && run < 0) run = pti;
    if (!present && run >= 0) {
      space.map((pdi << 10) + run, pti - run);
      run = -1;
    }
  }
  if (run >= 0) space.map((pdi << 10) + run, 1024 - run);
  return pt;
}
