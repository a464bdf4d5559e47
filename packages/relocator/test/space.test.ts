import { describe, expect, it } from "vitest";
import { GuestSpace, PAGE_COUNT, refreshPde, SeededRandom, spaceFromPageDirectory } from "../src/index.js";

describe("GuestSpace", () => {
  it("agrees with a naive model under random map/unmap operations", () => {
    for (let seed = 1; seed <= 5; seed++) {
      const rng = new SeededRandom(seed);
      const space = new GuestSpace();
      // The model covers a 64K-page window (random ops stay inside it) to keep the test fast.
      const WINDOW = 1 << 16;
      const base = rng.below(PAGE_COUNT - WINDOW);
      const model = new Uint8Array(WINDOW);
      for (let op = 0; op < 300; op++) {
        const first = rng.below(WINDOW);
        const count = rng.below(Math.min(2000, WINDOW - first) + 1);
        const mapped = rng.below(2) === 1;
        space.setRange(base + first, count, mapped);
        model.fill(mapped ? 1 : 0, first, first + count);
      }
      let total = 0;
      for (const b of model) total += b;
      expect(space.mappedPages).toBe(total);
      for (let probe = 0; probe < 200; probe++) {
        const first = rng.below(WINDOW);
        const count = rng.below(WINDOW - first + 1);
        let n = 0;
        for (let i = first; i < first + count; i++) n += model[i];
        expect(space.countMapped(base + first, count)).toBe(n);
        let nextM = first;
        while (nextM < WINDOW && model[nextM] === 0) nextM++;
        let nextF = first;
        while (nextF < WINDOW && model[nextF] === 1) nextF++;
        if (nextM < WINDOW) expect(space.nextMapped(base + first)).toBe(base + nextM);
        if (nextF < WINDOW) expect(space.nextFree(base + first)).toBe(base + nextF);
        expect(space.isMapped(base + first)).toBe(model[first] === 1);
      }
    }
  });

  it("handles the edges of the 4 GiB space and word boundaries", () => {
    const space = new GuestSpace();
    space.map(PAGE_COUNT - 33, 33);
    expect(space.mappedPages).toBe(33);
    expect(space.nextMapped(0)).toBe(PAGE_COUNT - 33);
    expect(space.nextFree(PAGE_COUNT - 33)).toBe(PAGE_COUNT);
    expect(space.isMappedLinear(0xffff_f000)).toBe(true);
    expect(() => space.map(PAGE_COUNT - 1, 2)).toThrow(RangeError);
    space.map(31, 2);
    expect(space.mappedIn(0, 64)).toEqual([31, 32]);
    space.unmap(32);
    expect(space.countMapped(0, 64)).toBe(1);
  });

  it("lists free runs and mapped runs, and round-trips through save/restore", () => {
    const space = GuestSpace.fromRanges([
      { first: 0, count: 10 },
      { first: 100, count: 1 },
      { first: 5000, count: 4096 },
    ]);
    const runs: [number, number][] = [];
    space.forEachFreeRun((f, c) => runs.push([f, c]));
    expect(runs).toEqual([
      [10, 90],
      [101, 4899],
      [9096, PAGE_COUNT - 9096],
    ]);
    const copy = new GuestSpace();
    copy.restore(JSON.parse(JSON.stringify(space.save())));
    expect(copy.mappedRanges()).toEqual(space.mappedRanges());
    expect(copy.mappedPages).toBe(10 + 1 + 4096);
  });
});

describe("SeededRandom", () => {
  it("is deterministic per seed, differs across seeds, and restores its state", () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const c = new SeededRandom(43);
    const xs = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(xs);
    const saved = a.save();
    const next = a.below(1000);
    a.restore(saved);
    expect(a.below(1000)).toBe(next);
  });

  it("below(n) stays in range and is roughly uniform", () => {
    const rng = new SeededRandom(7);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 20000; i++) buckets[rng.below(10)]++;
    for (const n of buckets) expect(Math.abs(n - 2000)).toBeLessThan(200);
    expect(() => rng.below(0)).toThrow(RangeError);
  });
});

describe("spaceFromPageDirectory / refreshPde (SDM 4.3)", () => {
  const mem = new Map<number, number>();
  const read32 = (a: number) => mem.get(a) ?? 0;
  const PD = 0x1000;
  const PT = 0x2000;
  mem.set(PD + 0 * 4, PT | 1); // PDE 0 -> page table
  mem.set(PT + 5 * 4, 0x5000 | 1); // page 5 present
  mem.set(PT + 6 * 4, 0x6000); // page 6 not present
  mem.set(PD + 0x300 * 4, 0xc0000000 | 0x80 | 1); // PDE 0x300: a 4 MiB page
  mem.set(PD + 0x301 * 4, 0x80); // not present, PS set: nothing

  it("maps present PTEs and 4 MiB pages (only with PSE)", () => {
    const space = spaceFromPageDirectory(read32, PD, true);
    expect(space.mappedRanges()).toEqual([
      { first: 5, count: 1 },
      { first: 0x300 << 10, count: 1024 },
    ]);
    // Without CR4.PSE the PS bit is ignored: PDE 0x300 points to a "page table" at 0xC0000000.
    expect(spaceFromPageDirectory(read32, PD, false).mappedPages).toBe(1);
  });

  it("refreshPde re-derives one 4 MiB slice after a guest write", () => {
    const space = spaceFromPageDirectory(read32, PD, true);
    mem.set(PD + 0x300 * 4, 0);
    mem.set(PT + 6 * 4, 0x6000 | 1);
    refreshPde(space, read32, PD, 0x300, true);
    refreshPde(space, read32, PD, 0, true);
    expect(space.mappedRanges()).toEqual([{ first: 5, count: 2 }]);
  });
});
