import { type MemoryBus, PAGE_SIZE } from "@pagurus/spec";

/**
 * The host-physical frames that belong to the monitor (claim 4: the VMM's own memory, above
 * the guest's RAM, never mapped for the guest except the stub's frames). Frames come back
 * zeroed, so a fresh page table has no present entry.
 */
export class FrameAllocator {
  private readonly free: number[] = [];
  private next: number;
  private inUse = 0;
  private peak = 0;

  constructor(
    private readonly memory: MemoryBus,
    readonly base: number,
    readonly size: number,
  ) {
    if (base % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || size <= 0) {
      throw new RangeError(`monitor memory ${base}+${size} must be whole 4 KiB frames`);
    }
    this.next = base;
  }

  /** A zeroed frame's physical address. */
  allocate(): number {
    let frame = this.free.pop();
    if (frame === undefined) {
      if (this.next >= this.base + this.size) {
        throw new Error(`the monitor ran out of its ${this.size >>> 10} KiB of frames`);
      }
      frame = this.next;
      this.next += PAGE_SIZE;
    }
    for (let offset = 0; offset < PAGE_SIZE; offset += 4) this.memory.write32(frame + offset, 0);
    this.inUse++;
    if (this.inUse > this.peak) this.peak = this.inUse;
    return frame;
  }

  release(frame: number): void {
    this.free.push(frame);
    this.inUse--;
  }

  /** Whether a host-physical address lies in the monitor's memory. */
  owns(address: number): boolean {
    return address >= this.base && address < this.base + this.size;
  }

  /** Frames that can still be allocated. */
  get available(): number {
    return (this.base + this.size - this.next) / PAGE_SIZE + this.free.length;
  }

  get framesInUse(): number {
    return this.inUse;
  }

  get peakFrames(): number {
    return this.peak;
  }
}
