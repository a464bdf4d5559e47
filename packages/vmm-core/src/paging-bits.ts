/**
 * Bits of IA-32 paging-structure entries without PAE (Intel SDM Vol. 3A, 4.3, tables 4-4 to
 * 4-6). The core reads the guest's entries and writes its own shadow entries with them.
 */
export const Pte = {
  P: 1 << 0,
  RW: 1 << 1,
  US: 1 << 2,
  PWT: 1 << 3,
  PCD: 1 << 4,
  A: 1 << 5,
  D: 1 << 6,
  /** In a PDE: this entry maps a 4 MiB page (CR4.PSE = 1). */
  PS: 1 << 7,
  G: 1 << 8,
} as const;

/** Frame address bits of a PTE, or of a PDE that references a page table. */
export const FRAME_MASK = 0xfffff000;
/** Frame address bits of a 4 MiB PDE. */
export const LARGE_FRAME_MASK = 0xffc00000;
/** Bits 21:13 of a 4 MiB PDE are reserved without PSE-36 (SDM 4.3, table 4-5). */
export const LARGE_RESERVED_MASK = 0x003fe000;

export const CR0_PE = 1 << 0;
export const CR0_WP = 1 << 16;
export const CR0_PG = 1 << 31;
export const CR4_PSE = 1 << 4;
export const CR4_PGE = 1 << 7;

/** The guest's paging controls, from its virtual CR0, CR3 and CR4. */
export interface GuestPaging {
  readonly cr0: number;
  readonly cr3: number;
  readonly cr4: number;
}

export function pagingEnabled(guest: GuestPaging): boolean {
  return (guest.cr0 & CR0_PG) !== 0;
}
