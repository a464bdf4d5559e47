/**
 * A small deterministic PRNG (xoshiro128**, seeded through splitmix32), so that every
 * relocation choice is reproducible from `--seed N` (issue 6, item 6) and its state can be
 * snapshotted with the rest of the policy. Not cryptographic; uniformity is what matters here
 * (claims 10 and 12 choose "random regions").
 */

/** The generator's whole state: four unsigned 32-bit words. */
export type SeededRandomState = readonly [number, number, number, number];

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    const st = { s: seed | 0 };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    // xoshiro's state must not be all zero; splitmix32 makes that practically impossible,
    // but a restored state could be, so guard anyway.
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** The next unsigned 32-bit value. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A uniform integer in `[0, bound)`, without modulo bias; `bound` is 1 .. 2^32. */
  below(bound: number): number {
    if (!(bound >= 1 && bound <= 0x1_0000_0000) || !Number.isInteger(bound)) {
      throw new RangeError(`SeededRandom.below: bound ${bound} out of range`);
    }
    if (bound === 0x1_0000_0000) return this.nextUint32();
    // Rejection sampling: draw until the value falls in the largest multiple of bound.
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % bound);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % bound;
    }
  }

  save(): SeededRandomState {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }

  restore(state: SeededRandomState): void {
    this.a = state[0] | 0;
    this.b = state[1] | 0;
    this.c = state[2] | 0;
    this.d = state[3] | 0;
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
