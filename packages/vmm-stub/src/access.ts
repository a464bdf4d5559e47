import { FrameField, GUEST_GDT_SLOTS, StubOffset } from "./layout.js";

/** The saved guest state of the current trap ({@link FrameField}), as the core reads it. */
export type GuestFrame = { [K in Exclude<keyof typeof FrameField, "espPushad">]: number };

/** Reads the frame at {@link StubOffset.frame}; `read32(offset)` reads a stub-relative dword. */
export function readFrame(read32: (offset: number) => number): GuestFrame {
  const f = (k: keyof typeof FrameField) => read32(StubOffset.frame + FrameField[k]) >>> 0;
  return {
    gs: f("gs"),
    fs: f("fs"),
    es: f("es"),
    ds: f("ds"),
    edi: f("edi"),
    esi: f("esi"),
    ebp: f("ebp"),
    ebx: f("ebx"),
    edx: f("edx"),
    ecx: f("ecx"),
    eax: f("eax"),
    vector: f("vector"),
    error: f("error"),
    eip: f("eip"),
    cs: f("cs"),
    eflags: f("eflags"),
    esp: f("esp"),
    ss: f("ss"),
  };
}

/** Writes the given fields of the frame (what the guest resumes with after the host call). */
export function writeFrame(
  write32: (offset: number, value: number) => void,
  frame: Partial<GuestFrame>,
): void {
  for (const [k, v] of Object.entries(frame) as [keyof GuestFrame, number][]) {
    write32(StubOffset.frame + FrameField[k], v >>> 0);
  }
}

/**
 * The descriptor the core puts in the stub's GDT slot for a guest descriptor (`low`, `high`:
 * its two dwords, SDM Vol. 3A, 3.4.5): code and data segments keep everything but their DPL,
 * raised to at least `guestRpl`, the ring the guest kernel really runs in ("compressed
 * privilege", docs/architecture.md section 4), so guest selectors work unchanged at CPL `guestRpl`.
 * System descriptors (LDT, TSS, gates) become null: the guest's LLDT, LTR and far
 * transfers through them are privileged or rare, and go to the core.
 *
 * The AVL bit (descriptor bit 52, {@link KERNEL_ONLY_BIT} in `high`) is the stub's own: set when
 * the guest's DPL was below 3, so that the stub's IRET to guest user mode can null the data
 * segment registers the hardware would null (SDM Vol. 2, IRET), which the compressed DPL
 * alone no longer tells. The machine's GDT is never visible to the guest.
 */
export function compressDescriptor(low: number, high: number, guestRpl: number): [number, number] {
  if (!(guestRpl >= 1 && guestRpl <= 3)) throw new RangeError(`guestRpl ${guestRpl} must be 1, 2 or 3`);
  const s = (high >>> 12) & 1;
  if (s === 0) return [0, 0];
  const dpl = (high >>> 13) & 3;
  const compressed = Math.max(dpl, guestRpl);
  const kernelOnly = dpl < 3 ? KERNEL_ONLY_BIT : 0;
  return [low >>> 0, ((high & ~(3 << 13) & ~KERNEL_ONLY_BIT) | (compressed << 13) | kernelOnly) >>> 0];
}

/** In a stub GDT slot's high dword: the guest's DPL was below 3 (see {@link compressDescriptor}). */
export const KERNEL_ONLY_BIT = 1 << 20;

/**
 * Stub-relative offset of GDT slot `index` (a guest selector's index, `selector >> 3`) in the
 * guest kernel's GDT, or with `user` in the guest user's.
 */
export function gdtSlotOffset(index: number, user = false): number {
  if (!Number.isInteger(index) || index < 0 || index >= GUEST_GDT_SLOTS) {
    throw new RangeError(`GDT slot ${index} is not one of the guest's 0..${GUEST_GDT_SLOTS - 1}`);
  }
  return (user ? StubOffset.gdtUser : StubOffset.gdt) + index * 8;
}

/**
 * The descriptor for the guest user's GDT: the guest's own, DPL unchanged, so that loads of
 * the guest kernel's segments from guest user mode fault as they do bare. System descriptors
 * are null, as in {@link compressDescriptor}.
 */
export function userDescriptor(low: number, high: number): [number, number] {
  return ((high >>> 12) & 1) === 0 ? [0, 0] : [low >>> 0, high >>> 0];
}
