/** sfc32: a small, fast, seedable PRNG; the same seed gives the same corpus on every machine. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = seed | 0;
    this.c = 0x243f6a88;
    this.d = 1;
    for (let i = 0; i < 16; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** An integer in `[0, n)`. */
  int(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }

  /** An integer in `[lo, hi]`. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** A 32-bit value biased towards the edges that break arithmetic (0, 1, -1, sign bits). */
  interesting(width: 8 | 16 | 32): number {
    const top = width === 32 ? 0x80000000 : 1 << (width - 1);
    const all = width === 32 ? 0xffffffff : (1 << width) - 1;
    switch (this.int(8)) {
      case 0:
        return this.pick([0, 1, all, top, top - 1, top + 1, 2, all - 1]) >>> 0;
      case 1:
        return this.int(16);
      default:
        return this.u32();
    }
  }
}

/** The scratch fill shared with the native harness (xorshift32, one value per dword). */
export function fillScratch(seed: number, out: Uint32Array): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x;
  }
}
