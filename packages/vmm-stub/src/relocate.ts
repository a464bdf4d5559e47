import type { TableRegister } from "@pagurus/spec";
import { stubImage } from "./image.js";
import {
  DataField,
  GDT_LIMIT,
  IDT_LIMIT,
  PAGE_SIZE,
  REBASED_SELECTORS,
  Selector,
  STUB_SIZE,
  StubOffset,
} from "./layout.js";

/** One little-endian write into the stub's bytes (stub-relative offset). */
export interface StubWrite {
  offset: number;
  size: 1 | 2 | 4;
  value: number;
}

/** Everything the core changes to move the stub to `base` (claims 1, 9, 10). */
export interface StubRelocation {
  base: number;
  /**
   * Data writes into the stub's own frames: the base of the three stub-based descriptors in
   * both GDTs (monitor code, monitor data, TSS; base bytes only, so a busy TSS stays busy),
   * the bases of the two LGDT operands, and the data page's `stubBase`. Twenty-one writes,
   * whatever the size of the stub's code: a move remaps, it never copies or patches code (IDT
   * gate offsets and TSS.ESP0 are stub-relative and stay).
   */
  writes: StubWrite[];
  /** The CPU's GDTR and IDTR for the new base (they point into the stub). */
  gdtr: TableRegister;
  idtr: TableRegister;
  /**
   * Segment registers whose descriptor cache holds the stub's base: for every segment
   * register (CS, SS, DS, ES, FS, GS, TR) whose selector is one of these, set the cached base to
   * `base` (the CPU keeps EIP and ESP, which are stub-relative). Needed when the move happens
   * while the CPU is inside the stub, i.e. during a host call.
   */
  segmentBases: { selector: number; base: number }[];
}

function checkBase(base: number): void {
  if (!Number.isInteger(base) || base < 0 || base % PAGE_SIZE !== 0 || base + STUB_SIZE > 0x1_0000_0000) {
    throw new RangeError(`stub base 0x${base.toString(16)} is not a page-aligned base that fits in 4 GiB`);
  }
}

/** The base a stub-based selector's descriptor must hold when the stub sits at `stubBase`. */
export function descriptorBaseFor(selector: number, stubBase: number): number {
  return (stubBase + (selector === Selector.monitorTss ? StubOffset.tss : 0)) >>> 0;
}

function baseWrites(gdt: number, selector: number, base: number): StubWrite[] {
  const d = gdt + selector;
  // Descriptor bytes 2-3 base 15..0, byte 4 base 23..16, byte 7 base 31..24 (SDM Vol. 3A, 3.4.5).
  return [
    { offset: d + 2, size: 2, value: base & 0xffff },
    { offset: d + 4, size: 1, value: (base >>> 16) & 0xff },
    { offset: d + 7, size: 1, value: base >>> 24 },
  ];
}

/**
 * Claims 1, 9, 10 (the "re-mapping" step), as data: what the core writes and loads to move
 * the stub to `base`. The core's whole move is: map the stub's frames at `base` in the guest's
 * shadow tables and the VMM page directory (claim 4), apply `writes` to the frames, load
 * `gdtr`/`idtr` and the `segmentBases`, unmap the old range.
 */
export function relocate(base: number): StubRelocation {
  checkBase(base);
  // Both GDTs hold the monitor's descriptors; the LGDT operands the stub uses point at them.
  const writes = [StubOffset.gdt, StubOffset.gdtUser].flatMap((gdt) =>
    REBASED_SELECTORS.flatMap((sel) => baseWrites(gdt, sel, descriptorBaseFor(sel, base))),
  );
  writes.push({ offset: DataField.gdtrKernel + 2, size: 4, value: (base + StubOffset.gdt) >>> 0 });
  writes.push({ offset: DataField.gdtrUser + 2, size: 4, value: (base + StubOffset.gdtUser) >>> 0 });
  writes.push({ offset: DataField.stubBase, size: 4, value: base >>> 0 });
  return {
    base,
    writes,
    gdtr: { base: (base + StubOffset.gdt) >>> 0, limit: GDT_LIMIT },
    idtr: { base: (base + StubOffset.idt) >>> 0, limit: IDT_LIMIT },
    segmentBases: REBASED_SELECTORS.map((selector) => ({
      selector,
      base: descriptorBaseFor(selector, base),
    })),
  };
}

/** Applies writes to a copy of the stub (or to anything indexed by stub-relative offset). */
export function applyWrites(bytes: Uint8Array, writes: readonly StubWrite[]): void {
  for (const w of writes) {
    for (let i = 0; i < w.size; i++) bytes[w.offset + i] = (w.value >>> (8 * i)) & 0xff;
  }
}

/** The stub's bytes ready to run at `base`: the image with {@link relocate}'s writes applied. */
export function createStubImage(base: number): Uint8Array {
  const bytes = stubImage();
  applyWrites(bytes, relocate(base).writes);
  return bytes;
}

/** Reads the base of the GDT descriptor for `selector` from stub bytes (for checks and tests). */
export function readDescriptorBase(bytes: Uint8Array, selector: number): number {
  const d = StubOffset.gdt + (selector & 0xfff8);
  return (bytes[d + 2] | (bytes[d + 3] << 8) | (bytes[d + 4] << 16) | (bytes[d + 7] << 24)) >>> 0;
}
