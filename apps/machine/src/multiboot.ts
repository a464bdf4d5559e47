/**
 * A Multiboot v1 loader (Multiboot Specification 0.6.96) that places a kernel, its modules and
 * the Multiboot information structure in physical memory the way QEMU's `-kernel` does
 * (hw/i386/multiboot.c plus its option ROM, which fills the memory fields from SeaBIOS's E820
 * map), so that a kernel that prints what it was handed prints the same on QEMU and on pagurus.
 *
 * It is a pure function over the image bytes and a memory writer: it knows no CPU or bus.
 * The machine state at entry (Multiboot 3.2) is the caller's job; {@link MULTIBOOT_BOOTLOADER_MAGIC}
 * and {@link MultibootBoot.infoAddress} say what goes into EAX and EBX.
 */

/** The magic value in the Multiboot header (Multiboot 3.1.1). */
export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
/** EAX at entry (Multiboot 3.2). */
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** The header must lie, 32-bit aligned, within the image's first 8192 bytes (Multiboot 3.1). */
export const MULTIBOOT_SEARCH = 8192;

/** Header flags (Multiboot 3.1.2). */
export const MultibootHeaderFlags = {
  PageAlign: 1 << 0,
  MemoryInfo: 1 << 1,
  VideoMode: 1 << 2,
  AoutKludge: 1 << 16,
} as const;

/** Flags of the information structure (Multiboot 3.3). */
export const MultibootInfoFlags = {
  Memory: 1 << 0,
  BootDevice: 1 << 1,
  Cmdline: 1 << 2,
  Mods: 1 << 3,
  Mmap: 1 << 6,
  BootLoaderName: 1 << 9,
} as const;

/**
 * Where QEMU puts the E820-derived memory map and, 0x500 bytes above it, the information
 * structure: low memory that stays addressable from real mode, below the EBDA.
 */
export const MMAP_ADDRESS = 0x9000;
export const INFO_ADDRESS = MMAP_ADDRESS + 0x500;
/** Size of the information structure QEMU writes (up to boot_loader_name and the APM field). */
const INFO_SIZE = 88;
/** Each module entry: mod_start, mod_end, string, reserved (Multiboot 3.3). */
const MOD_ENTRY_SIZE = 16;
/** BIOS drive 0x80 (first hard disk), no partitions: what QEMU reports. */
const BOOT_DEVICE = 0x8000ffff;

/** The PC memory layout SeaBIOS reports: conventional memory ends at the EBDA, 639 KiB. */
export const EBDA_ADDRESS = 0x9fc00;
const HIGH_MEMORY = 0x100000;
const BIOS_AREA = 0xf0000;
const BIOS_FLASH = 0xfffc0000;

/** Memory map entry types (Multiboot 3.3, the E820 types). */
export const MemoryType = { Available: 1, Reserved: 2 } as const;

export interface MemoryMapEntry {
  readonly base: number;
  readonly length: number;
  readonly type: number;
}

/** The smallest RAM a Multiboot kernel can be given: low memory and some above 1 MiB. */
export const MIN_MEMORY = 2 * 1024 * 1024;
/** The largest RAM a board takes: one typed array, and below the BIOS flash at 4 GiB - 256 KiB. */
export const MAX_MEMORY = 2048 * 1024 * 1024;

/** Why an image cannot be booted; `message` is one line for the user. */
export type MultibootErrorCode =
  | "no-header"
  | "not-elf"
  | "bad-elf"
  | "bad-header"
  | "unsupported-flags"
  | "outside-ram"
  | "overlap"
  | "memory-too-small";

export class MultibootError extends Error {
  readonly code: MultibootErrorCode;
  constructor(code: MultibootErrorCode, message: string) {
    super(message);
    this.name = "MultibootError";
    this.code = code;
  }
}

/** Where the loader writes: physical memory, already sized to `memorySize`. */
export interface MultibootMemory {
  /** Copies `bytes` to physical `address`. */
  writeBytes(address: number, bytes: Uint8Array): void;
}

export interface MultibootModule {
  /** The module's string, as the kernel will see it: QEMU and GRUB pass "path args". */
  readonly string: string;
  readonly data: Uint8Array;
}

export interface MultibootOptions {
  /** The kernel image: an ELF32 executable, or any file whose header has the a.out-kludge fields. */
  readonly image: Uint8Array;
  /** The kernel's command line. QEMU and GRUB pass "<kernel path> <arguments>". */
  readonly cmdline: string;
  readonly modules?: readonly MultibootModule[];
  /** RAM in bytes, from physical address 0. */
  readonly memorySize: number;
  /** Default "pagurus". */
  readonly bootLoaderName?: string;
}

/** A loaded segment, for reports and tests. */
export interface LoadedSegment {
  readonly address: number;
  readonly fileSize: number;
  readonly memorySize: number;
}

export interface MultibootBoot {
  /** Physical entry address (EIP at entry). */
  readonly entry: number;
  /** Physical address of the information structure (EBX at entry). */
  readonly infoAddress: number;
  readonly format: "elf" | "aout-kludge";
  /** Offset of the Multiboot header in the image, and its flags. */
  readonly headerOffset: number;
  readonly headerFlags: number;
  readonly segments: readonly LoadedSegment[];
  /** Lowest and highest (exclusive) physical address of the kernel, BSS included. */
  readonly kernelStart: number;
  readonly kernelEnd: number;
  readonly modules: readonly { readonly start: number; readonly end: number; readonly string: string }[];
  readonly memoryMap: readonly MemoryMapEntry[];
}

export interface MultibootHeader {
  readonly offset: number;
  readonly flags: number;
  /** The a.out-kludge fields, present when flags bit 16 is set. */
  readonly headerAddr: number;
  readonly loadAddr: number;
  readonly loadEndAddr: number;
  readonly bssEndAddr: number;
  readonly entryAddr: number;
}

const u32 = (v: number): number => v >>> 0;
const pageAlign = (v: number): number => u32(Math.ceil(v / 4096) * 4096);
const hex = (v: number): string => `0x${u32(v).toString(16)}`;

function readU32(image: Uint8Array, offset: number): number {
  return u32(
    image[offset] | (image[offset + 1] << 8) | (image[offset + 2] << 16) | (image[offset + 3] << 24),
  );
}
function readU16(image: Uint8Array, offset: number): number {
  return image[offset] | (image[offset + 1] << 8);
}

/** Finds the Multiboot header: magic, then flags and a checksum that sum to zero (Multiboot 3.1.1). */
export function findMultibootHeader(image: Uint8Array): MultibootHeader | null {
  const end = Math.min(image.length, MULTIBOOT_SEARCH) - 12;
  for (let i = 0; i <= end; i += 4) {
    if (readU32(image, i) !== MULTIBOOT_HEADER_MAGIC) continue;
    const flags = readU32(image, i + 4);
    if (u32(MULTIBOOT_HEADER_MAGIC + flags + readU32(image, i + 8)) !== 0) continue;
    const kludge = (flags & MultibootHeaderFlags.AoutKludge) !== 0 && i + 32 <= image.length;
    return {
      offset: i,
      flags,
      headerAddr: kludge ? readU32(image, i + 12) : 0,
      loadAddr: kludge ? readU32(image, i + 16) : 0,
      loadEndAddr: kludge ? readU32(image, i + 20) : 0,
      bssEndAddr: kludge ? readU32(image, i + 24) : 0,
      entryAddr: kludge ? readU32(image, i + 28) : 0,
    };
  }
  return null;
}

/** The memory map SeaBIOS gives QEMU's isapc/pc machines, which QEMU hands on unchanged. */
export function pcMemoryMap(memorySize: number): MemoryMapEntry[] {
  return [
    { base: 0, length: EBDA_ADDRESS, type: MemoryType.Available },
    { base: EBDA_ADDRESS, length: 0xa0000 - EBDA_ADDRESS, type: MemoryType.Reserved },
    { base: BIOS_AREA, length: HIGH_MEMORY - BIOS_AREA, type: MemoryType.Reserved },
    { base: HIGH_MEMORY, length: memorySize - HIGH_MEMORY, type: MemoryType.Available },
    { base: BIOS_FLASH, length: 0x1_0000_0000 - BIOS_FLASH, type: MemoryType.Reserved },
  ];
}

const ELF = { PT_LOAD: 1, PF_X: 1, EM_386: 3, EM_X86_64: 62, ET_EXEC: 2 } as const;

interface Placement {
  segments: { address: number; bytes: Uint8Array; memorySize: number }[];
  entry: number;
  low: number;
  high: number;
}

function placeElf(image: Uint8Array): Placement {
  if (image.length < 52 || readU32(image, 0) !== 0x464c457f) {
    throw new MultibootError(
      "not-elf",
      "not an ELF file, and its Multiboot header has no a.out-kludge address fields (flags bit 16)",
    );
  }
  const machine = readU16(image, 18);
  // e_ident[EI_CLASS]: 1 ELFCLASS32, 2 ELFCLASS64; anything else (0 is ELFCLASSNONE) is no class.
  if (image[4] === 2 || machine === ELF.EM_X86_64) {
    throw new MultibootError("bad-elf", "a 64-bit ELF kernel: Multiboot v1 boots 32-bit (ELF32) kernels");
  }
  if (image[4] !== 1) {
    throw new MultibootError(
      "bad-elf",
      `ELF class ${image[4]} is neither 32-bit nor 64-bit (e_ident[EI_CLASS] must be 1, ELFCLASS32)`,
    );
  }
  if (image[5] !== 1 || machine !== ELF.EM_386) {
    throw new MultibootError(
      "bad-elf",
      "not an ELF32 little-endian i386 executable (e_machine must be EM_386)",
    );
  }
  const entry = readU32(image, 24);
  const phoff = readU32(image, 28);
  const phentsize = readU16(image, 42);
  const phnum = readU16(image, 44);
  if (phnum === 0 || phentsize < 32 || phoff + phnum * phentsize > image.length) {
    throw new MultibootError("bad-elf", "the ELF program header table is missing or truncated");
  }
  const segments: Placement["segments"] = [];
  let low = Number.POSITIVE_INFINITY;
  let high = 0;
  let physicalEntry = entry;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (readU32(image, ph) !== ELF.PT_LOAD) continue;
    const offset = readU32(image, ph + 4);
    const vaddr = readU32(image, ph + 8);
    const paddr = readU32(image, ph + 12);
    const filesz = readU32(image, ph + 16);
    const memsz = readU32(image, ph + 20);
    const flags = readU32(image, ph + 24);
    if (memsz === 0) continue;
    if (filesz > memsz || offset + filesz > image.length) {
      throw new MultibootError("bad-elf", `ELF segment ${i} claims bytes beyond the end of the file`);
    }
    // Segments go to their physical address, as QEMU's load_elf does; e_entry is a virtual
    // address, so when it lies in an executable segment linked elsewhere it is moved with it.
    if (vaddr !== paddr && (flags & ELF.PF_X) !== 0 && entry >= vaddr && entry < vaddr + filesz) {
      physicalEntry = u32(entry - vaddr + paddr);
    }
    segments.push({ address: paddr, bytes: image.subarray(offset, offset + filesz), memorySize: memsz });
    low = Math.min(low, paddr);
    high = Math.max(high, paddr + memsz);
  }
  if (segments.length === 0)
    throw new MultibootError("bad-elf", "the ELF file has no loadable (PT_LOAD) segment");
  // Two segments over the same bytes leave memory depending on load order; QEMU's loader
  // (rom_check_and_register_reset) refuses such an image, and so does this one.
  const sorted = [...segments].sort((a, b) => a.address - b.address);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const next = sorted[i];
    if (next.address < prev.address + prev.memorySize) {
      throw new MultibootError(
        "overlap",
        `ELF segments ${span(prev.address, prev.address + prev.memorySize)} and ` +
          `${span(next.address, next.address + next.memorySize)} overlap`,
      );
    }
  }
  return { segments, entry: physicalEntry, low, high };
}

/** The a.out kludge (Multiboot 3.1.3): the header says where the file goes; QEMU's checks. */
function placeAout(image: Uint8Array, h: MultibootHeader): Placement {
  if (h.headerAddr < h.loadAddr) {
    throw new MultibootError("bad-header", `Multiboot header_addr ${hex(h.headerAddr)} is below load_addr`);
  }
  if (h.headerAddr - h.loadAddr > h.offset) {
    throw new MultibootError("bad-header", "Multiboot load_addr lies before the start of the file");
  }
  const textOffset = h.offset - (h.headerAddr - h.loadAddr);
  let loadSize: number;
  if (h.loadEndAddr !== 0) {
    if (h.loadEndAddr < h.loadAddr)
      throw new MultibootError("bad-header", "Multiboot load_end_addr is below load_addr");
    loadSize = h.loadEndAddr - h.loadAddr;
  } else {
    loadSize = image.length - textOffset;
  }
  if (textOffset + loadSize > image.length) {
    throw new MultibootError("bad-header", "Multiboot load_end_addr reaches beyond the end of the file");
  }
  let size = loadSize;
  if (h.bssEndAddr !== 0) {
    if (h.bssEndAddr < h.loadAddr + loadSize) {
      throw new MultibootError("bad-header", "Multiboot bss_end_addr is below load_end_addr");
    }
    size = h.bssEndAddr - h.loadAddr;
  }
  return {
    segments: [
      { address: h.loadAddr, bytes: image.subarray(textOffset, textOffset + loadSize), memorySize: size },
    ],
    entry: h.entryAddr,
    low: h.loadAddr,
    high: h.loadAddr + size,
  };
}

/**
 * "0x100000-0x100fff": first and last byte of [start, end). `end` may lie past 4 GiB (a segment
 * that wraps): it is printed as it is, never cut to 32 bits.
 */
function span(start: number, end: number): string {
  return `0x${start.toString(16)}-0x${(end - 1).toString(16)}`;
}

function checkInRam(what: string, start: number, end: number, memorySize: number): void {
  if (end > memorySize || start < 0) {
    const mib = memorySize / (1024 * 1024);
    // More RAM helps only when the range ends within the largest RAM a board can have.
    const hint =
      end <= MAX_MEMORY
        ? "; give more --memory"
        : end > 0x1_0000_0000
          ? ", and it runs past 4 GiB"
          : `, and above the largest RAM (${MAX_MEMORY / (1024 * 1024)} MiB)`;
    throw new MultibootError(
      "outside-ram",
      `${what} ${span(start, end)} lies outside RAM (${mib} MiB)${hint}`,
    );
  }
}

/** Command lines and module strings go to the kernel as UTF-8 bytes, as QEMU passes them. */
const utf8 = new TextEncoder();
const cString = (s: string): Uint8Array => {
  const bytes = utf8.encode(s);
  const b = new Uint8Array(bytes.length + 1);
  b.set(bytes);
  return b;
};

/**
 * Loads a Multiboot kernel: places its segments (BSS zeroed), the modules page-aligned after the
 * kernel, the module list, strings and boot loader name after the kernel as QEMU does, the
 * memory map at {@link MMAP_ADDRESS} and the information structure at {@link INFO_ADDRESS}.
 */
export function loadMultiboot(options: MultibootOptions, memory: MultibootMemory): MultibootBoot {
  const { image, memorySize } = options;
  if (memorySize < MIN_MEMORY) {
    throw new MultibootError(
      "memory-too-small",
      `memory size ${memorySize} bytes is below the minimum of 2 MiB`,
    );
  }
  const header = findMultibootHeader(image);
  if (header === null) {
    const isElf = image.length >= 4 && readU32(image, 0) === 0x464c457f;
    throw new MultibootError(
      isElf ? "no-header" : "not-elf",
      isElf
        ? "no Multiboot header (magic 0x1BADB002 with a valid checksum) in the first 8192 bytes"
        : "not an ELF file and no Multiboot header in the first 8192 bytes",
    );
  }
  // Bits 0-15 are requirements the loader must understand or refuse (Multiboot 3.1.2). Video
  // mode (bit 2) is accepted without a framebuffer, as QEMU does; other unknown bits are refused.
  const unknown = header.flags & 0xfff8;
  if (unknown !== 0) {
    throw new MultibootError(
      "unsupported-flags",
      `the Multiboot header requires unsupported features (flags ${hex(unknown)})`,
    );
  }
  const kludge = (header.flags & MultibootHeaderFlags.AoutKludge) !== 0;
  const placement = kludge ? placeAout(image, header) : placeElf(image);
  for (const s of placement.segments) {
    checkInRam("kernel segment", s.address, s.address + s.memorySize, memorySize);
  }

  // QEMU's buffer after the kernel: module entries, then the strings, then the boot loader name,
  // page-aligned; each module then starts on its own page.
  const modules = options.modules ?? [];
  const bootLoaderName = cString(options.bootLoaderName ?? "pagurus");
  const base = placement.low;
  const modsOffset = pageAlign(placement.high - base);
  const cmdline = cString(options.cmdline);
  const moduleStrings = modules.map((m) => cString(m.string));
  let stringsSize = cmdline.length;
  for (const m of moduleStrings) stringsSize += m.length;
  let bufferSize = pageAlign(
    modsOffset + stringsSize + MOD_ENTRY_SIZE * modules.length + bootLoaderName.length,
  );
  let stringOffset = modsOffset + MOD_ENTRY_SIZE * modules.length;
  const nameOffset = stringOffset + stringsSize;
  const strings: { offset: number; bytes: Uint8Array }[] = [];
  const addString = (bytes: Uint8Array): number => {
    const at = stringOffset;
    strings.push({ offset: at, bytes });
    stringOffset += bytes.length;
    return u32(base + at);
  };
  const loadedModules: { start: number; end: number; string: string; stringAddress: number }[] = [];
  const moduleData: { address: number; data: Uint8Array }[] = [];
  for (const [i, m] of modules.entries()) {
    const stringAddress = addString(moduleStrings[i]);
    const start = u32(base + bufferSize);
    const end = start + m.data.length;
    checkInRam(`module "${m.string}"`, start, end, memorySize);
    moduleData.push({ address: start, data: m.data });
    loadedModules.push({ start, end, string: m.string, stringAddress });
    bufferSize = pageAlign(bufferSize + m.data.length);
  }
  const cmdlineAddress = addString(cmdline);
  checkInRam(
    "Multiboot module list and strings",
    base + modsOffset,
    base + nameOffset + bootLoaderName.length,
    memorySize,
  );

  // Everything checked: write.
  for (const s of placement.segments) {
    memory.writeBytes(s.address, s.bytes);
    if (s.memorySize > s.bytes.length)
      memory.writeBytes(s.address + s.bytes.length, new Uint8Array(s.memorySize - s.bytes.length));
  }
  for (const d of moduleData) memory.writeBytes(d.address, d.data);
  const modList = new Uint8Array(MOD_ENTRY_SIZE * modules.length);
  const modView = new DataView(modList.buffer);
  loadedModules.forEach((m, i) => {
    modView.setUint32(i * MOD_ENTRY_SIZE, m.start, true);
    modView.setUint32(i * MOD_ENTRY_SIZE + 4, m.end, true);
    modView.setUint32(i * MOD_ENTRY_SIZE + 8, m.stringAddress, true);
  });
  memory.writeBytes(base + modsOffset, modList);
  for (const s of strings) memory.writeBytes(base + s.offset, s.bytes);
  memory.writeBytes(base + nameOffset, bootLoaderName);

  const memoryMap = pcMemoryMap(memorySize);
  const mmap = new Uint8Array(24 * memoryMap.length);
  const mmapView = new DataView(mmap.buffer);
  memoryMap.forEach((e, i) => {
    const at = i * 24;
    mmapView.setUint32(at, 20, true); // size of the entry, not counting this field
    mmapView.setUint32(at + 4, e.base, true);
    mmapView.setUint32(at + 8, 0, true);
    mmapView.setUint32(at + 12, e.length, true);
    mmapView.setUint32(at + 16, 0, true);
    mmapView.setUint32(at + 20, e.type, true);
  });
  memory.writeBytes(MMAP_ADDRESS, mmap);

  const info = new Uint8Array(INFO_SIZE);
  const iv = new DataView(info.buffer);
  iv.setUint32(
    0,
    MultibootInfoFlags.Memory |
      MultibootInfoFlags.BootDevice |
      MultibootInfoFlags.Cmdline |
      MultibootInfoFlags.Mods |
      MultibootInfoFlags.Mmap |
      MultibootInfoFlags.BootLoaderName,
    true,
  );
  iv.setUint32(4, EBDA_ADDRESS / 1024, true); // mem_lower: conventional memory below the EBDA
  iv.setUint32(8, (memorySize - HIGH_MEMORY) / 1024, true); // mem_upper: contiguous from 1 MiB
  iv.setUint32(12, BOOT_DEVICE, true);
  iv.setUint32(16, cmdlineAddress, true);
  iv.setUint32(20, modules.length, true);
  iv.setUint32(24, u32(base + modsOffset), true);
  iv.setUint32(44, mmap.length, true);
  iv.setUint32(48, MMAP_ADDRESS, true);
  iv.setUint32(64, u32(base + nameOffset), true);
  memory.writeBytes(INFO_ADDRESS, info);

  return {
    entry: placement.entry,
    infoAddress: INFO_ADDRESS,
    format: kludge ? "aout-kludge" : "elf",
    headerOffset: header.offset,
    headerFlags: header.flags,
    segments: placement.segments.map((s) => ({
      address: s.address,
      fileSize: s.bytes.length,
      memorySize: s.memorySize,
    })),
    kernelStart: placement.low,
    kernelEnd: placement.high,
    modules: loadedModules.map(({ start, end, string }) => ({ start, end, string })),
    memoryMap,
  };
}
