import { describe, expect, it } from "vitest";
import {
  accessConflict,
  chooseRegion,
  findConflict,
  GuestSpace,
  PAGE_COUNT,
  type PageRange,
  SeededRandom,
} from "../src/index.js";

const STUB = 5;

/** A random guest space: some runs mapped, of assorted sizes. */
function randomSpace(rng: SeededRandom, runs: number, maxRun: number): GuestSpace {
  const space = new GuestSpace();
  for (let i = 0; i < runs; i++) {
    const first = rng.below(PAGE_COUNT);
    space.map(first, Math.min(1 + rng.below(maxRun), PAGE_COUNT - first));
  }
  return space;
}

function overlaps(a: number, n: number, r: PageRange): boolean {
  return a < r.first + r.count && r.first < a + n;
}

describe("findConflict / accessConflict (claim 1)", () => {
  it("reports exactly the stub pages the guest maps", () => {
    const space = GuestSpace.fromRanges([{ first: 0xc0000, count: 2 }]);
    expect(findConflict(space, 0xbfffe000, STUB)).toEqual({
      stub: { base: 0xbfffe000, pages: STUB },
      pages: [0xc0000000, 0xc0001000],
    });
    expect(findConflict(space, 0xc0002000, STUB)).toBeNull();
    expect(() => findConflict(space, 0x1234, STUB)).toThrow(RangeError);
  });

  it("reports the stub pages an access touches, wrapping at 4 GiB", () => {
    expect(accessConflict(0x10000, 2, 0xfff0, 0x20)).toEqual([0x10000]);
    expect(accessConflict(0x10000, 2, 0x11ffe, 4)).toEqual([0x11000]);
    expect(accessConflict(0x10000, 2, 0x12000, 4)).toEqual([]);
    expect(accessConflict(0, 1, 0xfffffffe, 4)).toEqual([0]);
  });
});

describe("chooseRegion (claims 9 and 10)", () => {
  it("never overlaps a guest mapping when an unused region exists (many seeds)", () => {
    for (let seed = 0; seed < 60; seed++) {
      const rng = new SeededRandom(seed);
      const space = randomSpace(rng, 50 + rng.below(500), 1 + rng.below(50000));
      const reserved = [
        { first: 0, count: 1 },
        { first: rng.below(PAGE_COUNT - 100), count: 100 },
      ];
      const current = { base: 0x4000_0000, pages: STUB };
      const choice = chooseRegion(space, { pages: STUB, rng, reserved, avoid: [current] });
      expect(choice.unused).toBe(true);
      const first = choice.base / 4096;
      expect(space.countMapped(first, STUB)).toBe(0);
      for (const r of reserved) expect(overlaps(first, STUB, r)).toBe(false);
      expect(overlaps(first, STUB, { first: current.base / 4096, count: STUB })).toBe(false);
      expect(choice.displaced).toEqual([]);
    }
  });

  it("finds a single hole at any page offset, not only at 4 MiB slots", () => {
    const space = GuestSpace.fromRanges([{ first: 0, count: PAGE_COUNT }]);
    space.unmap(0x12345, STUB);
    for (let seed = 0; seed < 10; seed++) {
      const choice = chooseRegion(space, { pages: STUB, rng: new SeededRandom(seed) });
      expect(choice).toEqual({ base: 0x12345000, pages: STUB, unused: true, displaced: [] });
    }
    // One page short: no unused region, so a random one with its displaced pages.
    space.map(0x12349);
    const choice = chooseRegion(space, { pages: STUB, rng: new SeededRandom(1) });
    expect(choice.unused).toBe(false);
  });

  it("claim 10: with every page mapped, returns a random region and all its pages as displaced", () => {
    const space = GuestSpace.fromRanges([{ first: 0, count: PAGE_COUNT }]);
    for (let seed = 0; seed < 20; seed++) {
      const choice = chooseRegion(space, {
        pages: STUB,
        rng: new SeededRandom(seed),
        reserved: [{ first: 0, count: 16 }],
      });
      expect(choice.unused).toBe(false);
      expect(choice.base % 4096).toBe(0);
      expect(choice.base / 4096).toBeGreaterThanOrEqual(16);
      expect(choice.displaced).toEqual(Array.from({ length: STUB }, (_, i) => choice.base + i * 4096));
    }
  });

  it("is deterministic per seed", () => {
    const space = randomSpace(new SeededRandom(9), 300, 3000);
    const pickAll = (seed: number) => {
      const rng = new SeededRandom(seed);
      return Array.from({ length: 10 }, () => chooseRegion(space, { pages: STUB, rng }).base);
    };
    expect(pickAll(5)).toEqual(pickAll(5));
    expect(pickAll(5)).not.toEqual(pickAll(6));
  });

  it("random choices cover the 4 GiB roughly uniformly (unused and random cases)", () => {
    for (const full of [false, true]) {
      const space = full ? GuestSpace.fromRanges([{ first: 0, count: PAGE_COUNT }]) : new GuestSpace();
      const rng = new SeededRandom(full ? 11 : 12);
      const buckets = new Array<number>(16).fill(0);
      const N = 3200;
      for (let i = 0; i < N; i++) buckets[chooseRegion(space, { pages: STUB, rng }).base >>> 28]++;
      for (const n of buckets) expect(Math.abs(n - N / 16)).toBeLessThan(N / 16 / 3);
    }
  });

  it("'highest' placement takes the top-most unused base below the reserved top page", () => {
    const space = GuestSpace.fromRanges([{ first: PAGE_COUNT - 10, count: 6 }]);
    const choice = chooseRegion(space, {
      pages: STUB,
      rng: new SeededRandom(1),
      reserved: [{ first: PAGE_COUNT - 1, count: 1 }],
      placement: "highest",
    });
    expect(choice.base).toBe((PAGE_COUNT - 10 - STUB) * 4096);
  });

  it("drops soft avoidances before failing, never the reserved ranges", () => {
    const space = new GuestSpace();
    const reserved = [{ first: 0, count: PAGE_COUNT - 10 }];
    const avoid = [{ base: (PAGE_COUNT - 10) * 4096, pages: 5 }];
    const choice = chooseRegion(space, { pages: STUB, rng: new SeededRandom(3), reserved, avoid });
    expect(choice.base).toBe((PAGE_COUNT - 5) * 4096);
    expect(() =>
      chooseRegion(space, {
        pages: STUB,
        rng: new SeededRandom(3),
        reserved: [{ first: 0, count: PAGE_COUNT }],
      }),
    ).toThrow(RangeError);
  });
});
