import type { AccessSize, IoBus, IoPortHandler } from "@pagurus/spec";

/** Options of {@link IoPortMap.register}. */
export interface PortRegistration {
  /**
   * The access sizes the handler decodes itself. A wider access is split into narrower ones
   * (low port first), the way an 8-bit ISA device sees a 16-bit IN. Default: all of 1, 2, 4.
   */
  sizes?: readonly AccessSize[];
  name?: string;
}

interface Claim {
  readonly handler: IoPortHandler;
  readonly base: number;
  readonly count: number;
  readonly sizes: number; // bit mask of accepted sizes (1, 2, 4)
  readonly name: string;
}

/** A claimed range of ports, as {@link IoPortMap.claims} lists them. */
export interface PortClaimInfo {
  readonly base: number;
  readonly count: number;
  readonly name: string;
}

const PORTS = 0x10000;

/**
 * The 64 KiB x86 I/O port space. Devices claim port ranges; unclaimed ports read as all ones
 * (an undriven ISA data bus) and ignore writes.
 */
export class IoPortMap implements IoBus {
  private readonly owners: (Claim | null)[] = new Array<Claim | null>(PORTS).fill(null);
  private readonly claimList: Claim[] = [];

  /** Routes ports `[base, base + count)` to `handler`. Overlapping claims are an error. */
  register(base: number, count: number, handler: IoPortHandler, options: PortRegistration = {}): void {
    const name = options.name ?? "device";
    if (
      !Number.isInteger(base) ||
      !Number.isInteger(count) ||
      base < 0 ||
      count <= 0 ||
      base + count > PORTS
    ) {
      throw new RangeError(`${name}: ports 0x${base.toString(16)}+${count} are outside 0..0xffff`);
    }
    for (let port = base; port < base + count; port++) {
      const other = this.owners[port];
      if (other !== null) {
        throw new Error(
          `${name} at port 0x${port.toString(16)} overlaps ${other.name} at 0x${other.base.toString(16)}+${other.count}`,
        );
      }
    }
    let sizes = 0;
    for (const size of options.sizes ?? [1, 2, 4]) sizes |= size;
    const claim: Claim = { handler, base, count, sizes, name };
    this.claimList.push(claim);
    for (let port = base; port < base + count; port++) this.owners[port] = claim;
  }

  /** Releases a range claimed by {@link register}. */
  unregister(base: number): void {
    const claim = this.owners[base];
    if (claim === null || claim.base !== base)
      throw new Error(`no claim starts at port 0x${base.toString(16)}`);
    for (let port = claim.base; port < claim.base + claim.count; port++) this.owners[port] = null;
    this.claimList.splice(this.claimList.indexOf(claim), 1);
  }

  get claims(): readonly PortClaimInfo[] {
    return this.claimList.map(({ base, count, name }) => ({ base, count, name }));
  }

  in8(port: number): number {
    const claim = this.owners[port & 0xffff];
    return claim === null ? 0xff : claim.handler.read(port & 0xffff, 1) & 0xff;
  }

  in16(port: number): number {
    return this.read(port & 0xffff, 2);
  }

  in32(port: number): number {
    return this.read(port & 0xffff, 4);
  }

  out8(port: number, value: number): void {
    const claim = this.owners[port & 0xffff];
    if (claim !== null) claim.handler.write(port & 0xffff, 1, value & 0xff);
  }

  out16(port: number, value: number): void {
    this.write(port & 0xffff, 2, value & 0xffff);
  }

  out32(port: number, value: number): void {
    this.write(port & 0xffff, 4, value >>> 0);
  }

  private read(port: number, size: 2 | 4): number {
    const claim = this.owners[port];
    // One device must decode every byte of the access, at this width; otherwise split.
    if (claim !== null && claim.sizes & size && port + size <= claim.base + claim.count) {
      return (claim.handler.read(port, size) & (size === 2 ? 0xffff : 0xffffffff)) >>> 0;
    }
    const half = size >>> 1;
    const low = half === 1 ? this.in8(port) : this.read(port, 2);
    const high = half === 1 ? this.in8((port + 1) & 0xffff) : this.read((port + 2) & 0xffff, 2);
    return ((high << (8 * half)) | low) >>> 0;
  }

  private write(port: number, size: 2 | 4, value: number): void {
    const claim = this.owners[port];
    if (claim !== null && claim.sizes & size && port + size <= claim.base + claim.count) {
      claim.handler.write(port, size, value);
      return;
    }
    if (size === 2) {
      this.out8(port, value & 0xff);
      this.out8((port + 1) & 0xffff, value >>> 8);
    } else {
      this.write(port, 2, value & 0xffff);
      this.write((port + 2) & 0xffff, 2, value >>> 16);
    }
  }
}
