import type { PhysicalMemory, RamFastPath } from "@pagurus/spec";

/**
 * Guest-physical memory as the virtual CPU sees it: the host's RAM below `guestRamSize`,
 * open bus above. The monitor's frames sit above the guest's RAM in the same host memory,
 * so whatever the guest does through the core (claim 11 emulation, I/O, descriptor loads),
 * it can never reach them.
 */
export class GuestMemoryView implements PhysicalMemory {
  readonly fastPath: RamFastPath | null;

  constructor(
    private readonly host: PhysicalMemory,
    private readonly guestRamSize: number,
  ) {
    const hostPath = host.fastPath;
    if (hostPath === null) {
      this.fastPath = null;
    } else {
      const direct = new Uint8Array(hostPath.direct.length);
      direct.set(hostPath.direct.subarray(0, guestRamSize >>> 12));
      this.fastPath = { ram: hostPath.ram, direct };
    }
  }

  private inside(address: number, size: number): boolean {
    return address + size <= this.guestRamSize;
  }

  read8(address: number): number {
    return this.inside(address, 1) ? this.host.read8(address) : 0xff;
  }
  read16(address: number): number {
    return this.inside(address, 2)
      ? this.host.read16(address)
      : this.read8(address) | (this.read8(address + 1) << 8);
  }
  read32(address: number): number {
    return this.inside(address, 4)
      ? this.host.read32(address)
      : (this.read16(address) | (this.read16(address + 2) << 16)) >>> 0;
  }
  write8(address: number, value: number): void {
    if (this.inside(address, 1)) this.host.write8(address, value);
  }
  write16(address: number, value: number): void {
    if (this.inside(address, 2)) this.host.write16(address, value);
    else {
      this.write8(address, value & 0xff);
      this.write8(address + 1, (value >>> 8) & 0xff);
    }
  }
  write32(address: number, value: number): void {
    if (this.inside(address, 4)) this.host.write32(address, value);
    else {
      this.write16(address, value & 0xffff);
      this.write16(address + 2, value >>> 16);
    }
  }
}
