import {
  type AccessSize,
  DirectAccess,
  type MmioHandler,
  PAGE_SHIFT,
  PAGE_SIZE,
  type PhysicalMemory,
  type RamFastPath,
  type Snapshottable,
} from "@pagurus/spec";

/** What a physical page is. */
export const RegionKind = {
  Unmapped: 0,
  Ram: 1,
  Rom: 2,
  Mmio: 3,
} as const;
export type RegionKind = (typeof RegionKind)[keyof typeof RegionKind];

/** A region of the physical map, as {@link PhysicalMemoryMap.regions} lists it. */
export interface RegionInfo {
  readonly kind: RegionKind;
  readonly base: number;
  readonly size: number;
  readonly name: string;
}

interface Region extends RegionInfo {
  readonly rom: Uint8Array | null;
  readonly mmio: MmioHandler | null;
}

/** Options of {@link PhysicalMemoryMap}. */
export interface PhysicalMemoryMapOptions {
  /** Bytes of RAM backing store, a multiple of 4 KiB; RAM byte `p` sits at physical address `p`. */
  ramSize: number;
  /**
   * Which parts of `[0, ramSize)` are mapped as RAM, as `[base, size]` pairs. Default: all of
   * it. A board leaves holes here for the ROMs and MMIO it maps below `ramSize`.
   */
  ramRanges?: readonly (readonly [base: number, size: number])[];
}

/** The serialisable state of a {@link PhysicalMemoryMap}: RAM contents only (the map is the board's). */
export interface PhysicalMemoryState {
  ramSize: number;
  /** RAM as base64. */
  ram: string;
}

const PAGES = 1 << (32 - PAGE_SHIFT);
const OPEN_BUS = [0, 0xff, 0xffff, 0, 0xffffffff] as const;

function checkRange(what: string, base: number, size: number): void {
  if (!Number.isInteger(base) || !Number.isInteger(size) || base < 0 || size <= 0 || base + size > 2 ** 32) {
    throw new RangeError(`${what}: range ${hex(base)}+${hex(size)} is not inside the 4 GiB physical space`);
  }
  if (base % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) {
    throw new RangeError(
      `${what}: ${hex(base)}+${hex(size)} is not page aligned (regions are 4 KiB granular)`,
    );
  }
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * The physical address space of a machine: RAM, ROM and MMIO regions at 4 KiB granularity.
 * Unmapped addresses behave like an open ISA bus: reads return all ones, writes vanish.
 *
 * RAM is one `Uint8Array` indexed by physical address, exposed through {@link fastPath} so a
 * CPU can reach it without a call per byte (docs/architecture.md section 6).
 */
export class PhysicalMemoryMap implements PhysicalMemory, Snapshottable<PhysicalMemoryState> {
  /** RAM bytes; physical address `p` of a RAM page is `ram[p]`. */
  readonly ram: Uint8Array;
  readonly fastPath: RamFastPath;
  /** Region index + 1 for each page, 0 when unmapped. */
  private readonly pageRegion = new Uint16Array(PAGES);
  private readonly direct = new Uint8Array(PAGES);
  private readonly regionList: Region[] = [];

  constructor(options: PhysicalMemoryMapOptions) {
    const { ramSize } = options;
    if (
      !Number.isInteger(ramSize) ||
      ramSize < 0 ||
      ramSize % PAGE_SIZE !== 0 ||
      ramSize > 2 ** 32 - PAGE_SIZE
    ) {
      throw new RangeError(`ramSize ${ramSize} must be a multiple of 4 KiB below 4 GiB`);
    }
    this.ram = new Uint8Array(ramSize);
    this.fastPath = { ram: this.ram, direct: this.direct };
    const ranges = options.ramRanges ?? (ramSize > 0 ? [[0, ramSize] as const] : []);
    for (const [base, size] of ranges) this.addRam(base, size);
  }

  /** Maps `[base, base + size)` of the RAM backing store as RAM. */
  addRam(base: number, size: number, name = "ram"): void {
    checkRange(name, base, size);
    if (base + size > this.ram.length) {
      throw new RangeError(
        `${name}: ${hex(base)}+${hex(size)} lies beyond the ${hex(this.ram.length)} bytes of RAM`,
      );
    }
    this.add({ kind: RegionKind.Ram, base, size, name, rom: null, mmio: null });
  }

  /** Maps a read-only copy of `bytes` at `base` (size rounded up to whole pages; the tail reads 0xFF). */
  addRom(base: number, bytes: Uint8Array, name = "rom"): void {
    const size = Math.ceil(bytes.length / PAGE_SIZE) * PAGE_SIZE;
    checkRange(name, base, size);
    const rom = new Uint8Array(size).fill(0xff);
    rom.set(bytes);
    this.add({ kind: RegionKind.Rom, base, size, name, rom, mmio: null });
  }

  /** Routes `[base, base + size)` to a device; the handler sees offsets from `base`. */
  addMmio(base: number, size: number, handler: MmioHandler, name = "mmio"): void {
    checkRange(name, base, size);
    this.add({ kind: RegionKind.Mmio, base, size, name, rom: null, mmio: handler });
  }

  /** The regions in the order they were added. */
  get regions(): readonly RegionInfo[] {
    return this.regionList.map(({ kind, base, size, name }) => ({ kind, base, size, name }));
  }

  /** What is at physical address `address`. */
  kindAt(address: number): RegionKind {
    const index = this.pageRegion[address >>> PAGE_SHIFT];
    return index === 0 ? RegionKind.Unmapped : this.regionList[index - 1].kind;
  }

  private add(region: Region): void {
    const first = region.base >>> PAGE_SHIFT;
    const last = first + region.size / PAGE_SIZE;
    for (let page = first; page < last; page++) {
      const existing = this.pageRegion[page];
      if (existing !== 0) {
        const other = this.regionList[existing - 1];
        throw new Error(
          `${region.name} at ${hex(region.base)}+${hex(region.size)} overlaps ${other.name} at ${hex(other.base)}+${hex(other.size)}`,
        );
      }
    }
    this.regionList.push(region);
    const index = this.regionList.length;
    const direct = region.kind === RegionKind.Ram ? DirectAccess.Read | DirectAccess.Write : 0;
    for (let page = first; page < last; page++) {
      this.pageRegion[page] = index;
      this.direct[page] = direct;
    }
  }

  read8(address: number): number {
    if (this.direct[address >>> PAGE_SHIFT] & DirectAccess.Read) return this.ram[address];
    return this.slowRead(address, 1);
  }

  read16(address: number): number {
    if ((address & 0xfff) !== 0xfff && this.direct[address >>> PAGE_SHIFT] & DirectAccess.Read) {
      const ram = this.ram;
      return ram[address] | (ram[address + 1] << 8);
    }
    return this.slowRead(address, 2);
  }

  read32(address: number): number {
    if ((address & 0xfff) <= 0xffc && this.direct[address >>> PAGE_SHIFT] & DirectAccess.Read) {
      const ram = this.ram;
      return (
        (ram[address] | (ram[address + 1] << 8) | (ram[address + 2] << 16) | (ram[address + 3] << 24)) >>> 0
      );
    }
    return this.slowRead(address, 4);
  }

  write8(address: number, value: number): void {
    if (this.direct[address >>> PAGE_SHIFT] & DirectAccess.Write) this.ram[address] = value;
    else this.slowWrite(address, 1, value & 0xff);
  }

  write16(address: number, value: number): void {
    if ((address & 0xfff) !== 0xfff && this.direct[address >>> PAGE_SHIFT] & DirectAccess.Write) {
      this.ram[address] = value;
      this.ram[address + 1] = value >>> 8;
    } else this.slowWrite(address, 2, value & 0xffff);
  }

  write32(address: number, value: number): void {
    if ((address & 0xfff) <= 0xffc && this.direct[address >>> PAGE_SHIFT] & DirectAccess.Write) {
      const ram = this.ram;
      ram[address] = value;
      ram[address + 1] = value >>> 8;
      ram[address + 2] = value >>> 16;
      ram[address + 3] = value >>> 24;
    } else this.slowWrite(address, 4, value >>> 0);
  }

  /** Copies bytes into physical memory through the map (ROM and unmapped bytes are skipped, MMIO gets byte writes). */
  load(address: number, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) this.write8((address + i) >>> 0, bytes[i]);
  }

  private slowRead(address: number, size: AccessSize): number {
    const index = this.pageRegion[address >>> PAGE_SHIFT];
    const region = index === 0 ? null : this.regionList[index - 1];
    // An access that leaves its region is split into bytes, each routed on its own.
    if (region === null || address + size > region.base + region.size) {
      if (size === 1) return region === null ? OPEN_BUS[1] : this.regionRead(region, address, 1);
      // Lowest address first, as the bus cycles would go: MMIO reads can have side effects.
      let value = 0;
      for (let i = 0; i < size; i++) value |= this.read8((address + i) >>> 0) << (8 * i);
      return value >>> 0;
    }
    return this.regionRead(region, address, size);
  }

  private regionRead(region: Region, address: number, size: AccessSize): number {
    const offset = address - region.base;
    if (region.mmio !== null) {
      const mask = OPEN_BUS[size];
      return (region.mmio.read(offset, size) & mask) >>> 0;
    }
    if (region.rom !== null) {
      const rom = region.rom;
      let value = 0;
      for (let i = size - 1; i >= 0; i--) value = (value << 8) | rom[offset + i];
      return value >>> 0;
    }
    let value = 0;
    for (let i = size - 1; i >= 0; i--) value = (value << 8) | this.ram[address + i];
    return value >>> 0;
  }

  private slowWrite(address: number, size: AccessSize, value: number): void {
    const index = this.pageRegion[address >>> PAGE_SHIFT];
    const region = index === 0 ? null : this.regionList[index - 1];
    if (region === null || address + size > region.base + region.size) {
      if (size === 1) {
        if (region !== null) this.regionWrite(region, address, 1, value);
        return;
      }
      for (let i = 0; i < size; i++) this.write8((address + i) >>> 0, (value >>> (8 * i)) & 0xff);
      return;
    }
    this.regionWrite(region, address, size, value);
  }

  private regionWrite(region: Region, address: number, size: AccessSize, value: number): void {
    if (region.mmio !== null) region.mmio.write(address - region.base, size, value);
    else if (region.kind === RegionKind.Ram) {
      for (let i = 0; i < size; i++) this.ram[address + i] = value >>> (8 * i);
    }
    // ROM: writes are ignored, as on a real board.
  }

  save(): PhysicalMemoryState {
    return { ramSize: this.ram.length, ram: toBase64(this.ram) };
  }

  restore(state: PhysicalMemoryState): void {
    if (state.ramSize !== this.ram.length) {
      throw new Error(`snapshot has ${state.ramSize} bytes of RAM, this map has ${this.ram.length}`);
    }
    this.ram.set(fromBase64(state.ram));
  }
}

// Our own base64: the package runs anywhere (browsers, Node, workers) and ES itself has none.
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DECODE = new Uint8Array(128);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

function toBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let line = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    line +=
      ALPHABET[(n >>> 18) & 63] +
      ALPHABET[(n >>> 12) & 63] +
      (i + 1 < bytes.length ? ALPHABET[(n >>> 6) & 63] : "=") +
      (i + 2 < bytes.length ? ALPHABET[n & 63] : "=");
    if (line.length >= 0x10000) {
      parts.push(line);
      line = "";
    }
  }
  parts.push(line);
  return parts.join("");
}

function fromBase64(text: string): Uint8Array {
  const padding = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let at = 0;
  for (let i = 0; i < text.length; i += 4) {
    const n =
      (DECODE[text.charCodeAt(i)] << 18) |
      (DECODE[text.charCodeAt(i + 1)] << 12) |
      (DECODE[text.charCodeAt(i + 2)] << 6) |
      DECODE[text.charCodeAt(i + 3)];
    if (at < out.length) out[at++] = n >>> 16;
    if (at < out.length) out[at++] = (n >>> 8) & 0xff;
    if (at < out.length) out[at++] = n & 0xff;
  }
  return out;
}
