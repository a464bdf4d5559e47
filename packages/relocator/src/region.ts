import { PAGE_SHIFT, PAGE_SIZE } from "@pagurus/spec";
import type { SeededRandom } from "./rng.js";
import { type GuestSpace, PAGE_COUNT, type PageRange } from "./space.js";

/** Where the stub sits or may sit: `pages` pages starting at linear address `base` (page aligned). */
export interface Region {
  base: number;
  pages: number;
}

/**
 * Claim 1: a conflict is a guest mapping (or a guest access) that overlaps any page of the
 * stub's region. `pages` lists the overlapping pages as linear addresses, ascending.
 */
export interface Conflict {
  stub: Region;
  pages: number[];
}

function checkRegion(base: number, pages: number): void {
  if (!Number.isInteger(base) || base < 0 || base % PAGE_SIZE !== 0) {
    throw new RangeError(`region base 0x${base.toString(16)} is not a page-aligned linear address`);
  }
  if (!Number.isInteger(pages) || pages < 1 || (base >>> PAGE_SHIFT) + pages > PAGE_COUNT) {
    throw new RangeError(`region of ${pages} pages at 0x${base.toString(16)} does not fit in 4 GiB`);
  }
}

/**
 * Which pages of the stub's region the guest has mapped (claims 1, 5, 13): `null` when none,
 * so the stub can stay. The core calls it after every event that may create a conflict:
 * guest page-table writes, CR3 loads, enabling paging (docs/architecture.md section 4).
 */
export function findConflict(space: GuestSpace, stubBase: number, stubPages: number): Conflict | null {
  checkRegion(stubBase, stubPages);
  const first = stubBase >>> PAGE_SHIFT;
  if (space.countMapped(first, stubPages) === 0) return null;
  return {
    stub: { base: stubBase, pages: stubPages },
    pages: space.mappedIn(first, stubPages).map(toLinear),
  };
}

/**
 * The stub pages that a guest access of `length` bytes at `linear` touches (claim 1: an access
 * conflicts too, e.g. a guest LGDT/LIDT whose table lies in the stub's range, or a guest
 * access that faulted on a stub page, claim 6). Wraps at 4 GiB like a linear address does.
 * Empty when the access stays clear of the stub.
 */
export function accessConflict(
  stubBase: number,
  stubPages: number,
  linear: number,
  length: number,
): number[] {
  checkRegion(stubBase, stubPages);
  if (length <= 0) return [];
  const out: number[] = [];
  const firstPage = linear >>> PAGE_SHIFT;
  const lastPage = (linear + length - 1) >>> PAGE_SHIFT;
  const span = Math.min(((lastPage - firstPage) & (PAGE_COUNT - 1)) + 1, PAGE_COUNT);
  const stubFirst = stubBase >>> PAGE_SHIFT;
  for (let i = 0; i < span; i++) {
    const p = (firstPage + i) & (PAGE_COUNT - 1);
    if (p >= stubFirst && p < stubFirst + stubPages) out.push(toLinear(p));
  }
  return out.sort((x, y) => x - y);
}

function toLinear(page: number): number {
  return (page << PAGE_SHIFT) >>> 0;
}

/** How {@link chooseRegion} picks among several unused regions. */
export type Placement =
  /** Uniformly among every page-aligned base whose region is unused (the default). */
  | "random"
  /** The highest unused base (what VirtualBox's HMA preferred, minus its 4 MiB slots). */
  | "highest";

export interface ChooseRegionOptions {
  /** The stub's size in pages. */
  pages: number;
  rng: SeededRandom;
  /** Pages the stub must never occupy (e.g. page 0, the top page, MMIO the core keeps). */
  reserved?: readonly PageRange[];
  /**
   * Regions to stay clear of if at all possible: the stub's current region (so the core maps
   * the new region before it unmaps the old one, with no overlap) and regions that were hot
   * recently (claim 12). Dropped, in that order of preference, only when nothing else is left.
   */
  avoid?: readonly Region[];
  placement?: Placement;
}

/** The answer of {@link chooseRegion}. */
export interface RegionChoice extends Region {
  /** True: a region the guest has not mapped (claim 9). False: a random region (claim 10). */
  unused: boolean;
  /**
   * Claim 10: the guest pages under the new region (linear addresses, ascending) whose content
   * the core must keep serving from the VMM address space (it aliases their guest frames).
   * Empty when `unused`.
   */
  displaced: number[];
}

/** Inclusive base intervals `[lo, hi]` of page numbers. */
type Interval = [number, number];

/** Bases `b` such that `[b, b + n)` overlaps `[first, first + count)`, as a base interval. */
function blockedBases(first: number, count: number, n: number): Interval {
  return [Math.max(0, first - n + 1), first + count - 1];
}

function mergeIntervals(list: Interval[]): Interval[] {
  list.sort((x, y) => x[0] - y[0]);
  const out: Interval[] = [];
  for (const iv of list) {
    const last = out[out.length - 1];
    if (last !== undefined && iv[0] <= last[1] + 1) last[1] = Math.max(last[1], iv[1]);
    else out.push([iv[0], iv[1]]);
  }
  return out;
}

/** Appends `[lo, hi]` minus the sorted, merged `blocked` intervals to `out`. */
function subtract(lo: number, hi: number, blocked: readonly Interval[], out: Interval[]): void {
  let cur = lo;
  for (const [blo, bhi] of blocked) {
    if (bhi < cur) continue;
    if (blo > hi) break;
    if (blo > cur) out.push([cur, blo - 1]);
    cur = bhi + 1;
    if (cur > hi) return;
  }
  if (cur <= hi) out.push([cur, hi]);
}

function pick(allowed: readonly Interval[], rng: SeededRandom, placement: Placement): number {
  if (placement === "highest") return allowed[allowed.length - 1][1];
  let total = 0;
  for (const [lo, hi] of allowed) total += hi - lo + 1;
  let index = rng.below(total);
  for (const [lo, hi] of allowed) {
    const size = hi - lo + 1;
    if (index < size) return lo + index;
    index -= size;
  }
  throw new Error("unreachable: index beyond the allowed bases");
}

/**
 * Chooses where the stub goes next (claims 9 and 10; 21, 22; 29, 30).
 *
 * Claim 9: among every page-aligned base in the 4 GiB (not only 4 MiB slots) whose `pages`
 * pages the guest has all left unmapped, and that overlap neither `reserved` nor `avoid`,
 * pick one per `placement` (uniformly at random by default). Claim 10: when there is none,
 * pick a uniformly random base among all that avoid `reserved` (and `avoid`, if possible) and
 * return it with `unused: false` and the guest pages it displaces.
 *
 * Cost: one pass over the free runs of the bitmap, so O(32K words + free runs).
 */
export function chooseRegion(space: GuestSpace, options: ChooseRegionOptions): RegionChoice {
  const n = options.pages;
  if (!Number.isInteger(n) || n < 1 || n > PAGE_COUNT) throw new RangeError(`stub size ${n} pages`);
  const placement = options.placement ?? "random";
  const maxBase = PAGE_COUNT - n;
  const hard = mergeIntervals((options.reserved ?? []).map((r) => blockedBases(r.first, r.count, n)));
  const avoid = options.avoid ?? [];
  // Avoided regions are dropped from the end (the oldest hot region first). An unused region
  // is always worth more than a random one (it displaces nothing), so every unused choice that
  // still avoids the current region (`avoid[0]`) is tried before any random one.
  const blockedKeeping = (keep: number): Interval[] =>
    mergeIntervals([
      ...hard.map((iv): Interval => [iv[0], iv[1]]),
      ...avoid.slice(0, keep).map((r) => blockedBases(r.base >>> PAGE_SHIFT, r.pages, n)),
    ]);
  for (let keep = avoid.length; keep >= Math.min(1, avoid.length); keep--) {
    const blocked = blockedKeeping(keep);
    const unused: Interval[] = [];
    space.forEachFreeRun((first, count) => {
      if (count >= n) subtract(first, Math.min(first + count - n, maxBase), blocked, unused);
    });
    if (unused.length > 0) {
      const page = pick(unused, options.rng, placement);
      return { base: toLinear(page), pages: n, unused: true, displaced: [] };
    }
  }
  for (let keep = avoid.length; keep >= 0; keep--) {
    const any: Interval[] = [];
    subtract(0, maxBase, blockedKeeping(keep), any);
    if (any.length > 0) {
      const page = pick(any, options.rng, "random");
      return {
        base: toLinear(page),
        pages: n,
        unused: false,
        displaced: space.mappedIn(page, n).map(toLinear),
      };
    }
  }
  throw new RangeError(`no ${n}-page region of the 4 GiB avoids the reserved ranges`);
}
