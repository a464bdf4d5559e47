import type { Snapshottable } from "@pagurus/spec";
import { PAGE_SHIFT } from "@pagurus/spec";

/** Pages of 4 KiB in the 4 GiB linear address space (IA-32 without PAE, SDM Vol. 3A, 4.3). */
export const PAGE_COUNT = 1 << 20;
const WORDS = PAGE_COUNT >>> 5;

/** A run of pages: page numbers (`linear >>> 12`) `first .. first + count - 1`. */
export interface PageRange {
  first: number;
  count: number;
}

/** {@link GuestSpace.save}: the mapped runs, as `[first, count]` pairs. */
export interface GuestSpaceState {
  mapped: [number, number][];
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Bits `lo .. hi` (inclusive, 0-31) of a word. */
function bitMask(lo: number, hi: number): number {
  const upper = hi === 31 ? 0xffffffff : (1 << (hi + 1)) - 1;
  return (upper & ~((1 << lo) - 1)) >>> 0;
}

function checkRange(first: number, count: number): void {
  if (
    !Number.isInteger(first) ||
    !Number.isInteger(count) ||
    first < 0 ||
    count < 0 ||
    first + count > PAGE_COUNT
  ) {
    throw new RangeError(`page range ${first}+${count} is outside the 4 GiB space`);
  }
}

/**
 * Which 4 KiB pages of a guest's linear address space the guest has mapped: the plain-data
 * input of the whole policy. One bit per page over the full 4 GiB (a `Uint32Array` of 32K
 * words, 128 KiB), so "is this page mapped", "count the mapped pages of a region" and "find
 * the next free run" cost a few word operations per 32 pages. The core fills it from the
 * guest's page directory and tables (a present PDE with PS=1 maps 1024 pages at once, SDM
 * Vol. 3A, 4.3) and updates it on every guest page-table write it intercepts (claim 5).
 */
export class GuestSpace implements Snapshottable<GuestSpaceState> {
  private readonly bits = new Uint32Array(WORDS);
  private count = 0;

  /** A space with exactly these runs mapped. */
  static fromRanges(ranges: Iterable<PageRange>): GuestSpace {
    const space = new GuestSpace();
    for (const r of ranges) space.map(r.first, r.count);
    return space;
  }

  /** How many pages are mapped. */
  get mappedPages(): number {
    return this.count;
  }

  isMapped(page: number): boolean {
    return ((this.bits[page >>> 5] >>> (page & 31)) & 1) === 1;
  }

  /** Is the page holding linear address `linear` mapped? */
  isMappedLinear(linear: number): boolean {
    return this.isMapped(linear >>> PAGE_SHIFT);
  }

  map(first: number, count = 1): void {
    this.setRange(first, count, true);
  }

  unmap(first: number, count = 1): void {
    this.setRange(first, count, false);
  }

  /** Unmaps everything (the guest switched to a fresh CR3; the core refills). */
  clear(): void {
    this.bits.fill(0);
    this.count = 0;
  }

  setRange(first: number, count: number, mapped: boolean): void {
    checkRange(first, count);
    if (count === 0) return;
    const last = first + count - 1;
    const w0 = first >>> 5;
    const w1 = last >>> 5;
    for (let w = w0; w <= w1; w++) {
      const lo = w === w0 ? first & 31 : 0;
      const hi = w === w1 ? last & 31 : 31;
      const mask = bitMask(lo, hi);
      const old = this.bits[w];
      const next = mapped ? (old | mask) >>> 0 : (old & ~mask) >>> 0;
      if (next !== old) {
        this.count += popcount(next) - popcount(old);
        this.bits[w] = next;
      }
    }
  }

  /** Mapped pages among `first .. first + count - 1`. */
  countMapped(first: number, count: number): number {
    checkRange(first, count);
    if (count === 0) return 0;
    const last = first + count - 1;
    const w0 = first >>> 5;
    const w1 = last >>> 5;
    let n = 0;
    for (let w = w0; w <= w1; w++) {
      const lo = w === w0 ? first & 31 : 0;
      const hi = w === w1 ? last & 31 : 31;
      n += popcount(this.bits[w] & bitMask(lo, hi));
    }
    return n;
  }

  /** The mapped page numbers among `first .. first + count - 1`, ascending. */
  mappedIn(first: number, count: number): number[] {
    const out: number[] = [];
    const end = first + count;
    for (let p = this.nextMapped(first); p < end; p = this.nextMapped(p + 1)) out.push(p);
    return out;
  }

  /** The first mapped page `>= from`, or {@link PAGE_COUNT} if none. */
  nextMapped(from: number): number {
    return this.scan(from, false);
  }

  /** The first unmapped page `>= from`, or {@link PAGE_COUNT} if none. */
  nextFree(from: number): number {
    return this.scan(from, true);
  }

  private scan(from: number, free: boolean): number {
    if (from >= PAGE_COUNT) return PAGE_COUNT;
    let w = from >>> 5;
    let word = (free ? ~this.bits[w] : this.bits[w]) & ~((1 << (from & 31)) - 1);
    for (;;) {
      if (word !== 0) return (w << 5) + (31 - Math.clz32(word & -word));
      if (++w >= WORDS) return PAGE_COUNT;
      word = free ? ~this.bits[w] : this.bits[w];
    }
  }

  /** Calls `fn` for every maximal run of unmapped pages, ascending. */
  forEachFreeRun(fn: (first: number, count: number) => void): void {
    for (let p = this.nextFree(0); p < PAGE_COUNT; ) {
      const end = this.nextMapped(p);
      fn(p, end - p);
      p = this.nextFree(end);
    }
  }

  /** The maximal mapped runs, ascending. */
  mappedRanges(): PageRange[] {
    const out: PageRange[] = [];
    for (let p = this.nextMapped(0); p < PAGE_COUNT; ) {
      const end = this.nextFree(p);
      out.push({ first: p, count: end - p });
      p = this.nextMapped(end);
    }
    return out;
  }

  save(): GuestSpaceState {
    return { mapped: this.mappedRanges().map((r) => [r.first, r.count]) };
  }

  restore(state: GuestSpaceState): void {
    this.clear();
    for (const [first, count] of state.mapped) this.map(first, count);
  }
}

/** Reads a dword of guest-physical memory (the guest's page directory and tables). */
export type ReadPhysical32 = (physical: number) => number;

/**
 * Re-derives the 1024 pages that page-directory entry `index` of the directory at `pdBase`
 * covers (SDM Vol. 3A, 4.3: a present PDE with PS = 1, when `pse`, maps a 4 MiB page; otherwise
 * it points to a page table whose present PTEs map 4 KiB pages). The core calls it after a
 * guest write to a PDE or to a page table it found write-protected (claim 5); for a single PTE
 * write, `space.setRange(page, 1, (pte & 1) === 1)` is enough.
 */
export function refreshPde(
  space: GuestSpace,
  read32: ReadPhysical32,
  pdBase: number,
  index: number,
  pse: boolean,
): void {
  const first = index << 10;
  const pde = read32(((pdBase & ~0xfff) + index * 4) >>> 0);
  if ((pde & 1) === 0) {
    space.setRange(first, 1024, false);
    return;
  }
  if (pse && pde & 0x80) {
    space.setRange(first, 1024, true);
    return;
  }
  const pt = (pde & ~0xfff) >>> 0;
  for (let i = 0; i < 1024; i++) space.setRange(first + i, 1, (read32(pt + i * 4) & 1) === 1);
}

/** The space a guest page directory maps (after a CR3 load or enabling paging, claim 5). */
export function spaceFromPageDirectory(read32: ReadPhysical32, pdBase: number, pse: boolean): GuestSpace {
  const space = new GuestSpace();
  for (let i = 0; i < 1024; i++) refreshPde(space, read32, pdBase, i, pse);
  return space;
}
