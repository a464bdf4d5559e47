/**
 * Physical memory as a CPU or a DMA-capable device sees it.
 *
 * Addresses are unsigned 32-bit physical addresses (`0 .. 0xFFFF_FFFF`); callers pass them
 * already reduced with `>>> 0`. Multi-byte accesses are little-endian and may straddle a
 * region boundary: an implementation must then split them into byte accesses.
 * Values are returned as unsigned numbers (`read32` never returns a negative number).
 */
export interface MemoryBus {
  read8(address: number): number;
  read16(address: number): number;
  read32(address: number): number;
  write8(address: number, value: number): void;
  write16(address: number, value: number): void;
  write32(address: number, value: number): void;
}

/** Size of a bus access in bytes. */
export type AccessSize = 1 | 2 | 4;

/**
 * A device's memory-mapped registers, the way QEMU's `MemoryRegionOps` are: the device knows
 * offsets inside its own window, never where the board placed it.
 */
export interface MmioHandler {
  read(offset: number, size: AccessSize): number;
  write(offset: number, size: AccessSize, value: number): void;
}

/** Size of a page in the RAM fast path, the IA-32 small page. */
export const PAGE_SIZE = 4096;
/** `address >>> PAGE_SHIFT` is the page number. */
export const PAGE_SHIFT = 12;

/** Bits of {@link RamFastPath.direct}. */
export const DirectAccess = {
  /** Reads of this page may go to `ram[address]` directly. */
  Read: 1,
  /** Writes to this page may go to `ram[address]` directly. */
  Write: 2,
} as const;

/**
 * Lets a CPU touch plain RAM without a call per byte (docs/architecture.md section 6). A page whose
 * `direct` entry has the bit for an access must be served from `ram`; any other page must
 * go through the {@link MemoryBus} methods.
 */
export interface RamFastPath {
  /** The bytes of RAM: physical address `p` of a direct page is `ram[p]`. */
  readonly ram: Uint8Array;
  /**
   * One entry per 4 KiB physical page of the 4 GiB space (`direct[p >>> 12]`), a mask of
   * {@link DirectAccess} bits. Whoever changes an entry after a CPU started must flush that
   * CPU's translation caches.
   */
  readonly direct: Uint8Array;
}

/** Physical memory with the optional fast path. */
export interface PhysicalMemory extends MemoryBus {
  readonly fastPath: RamFastPath | null;
}
