// What the core does before a guest first runs on the stub, for the stub's CPU tests: the
// guest's flat descriptors in both of the stub's GDTs, and the CPU entering the guest's user
// mode on the stub's tables.
import type { Ia32Cpu } from "@pagurus/cpu";
import { Reg, Seg } from "@pagurus/spec";
import {
  compressDescriptor,
  gdtSlotOffset,
  relocate,
  Selector,
  StubOffset,
  userDescriptor,
} from "../src/index.js";

/**
 * Guest kernel code 0x08, kernel data 0x10, user code 0x18, user data 0x20 (flat 4 GiB), into
 * the stub's GDTs at `at` (where the stub's bytes are): DPL raised to 3 in the guest kernel's,
 * the guest's own in the guest user's.
 */
export function writeGuestDescriptors(w32: (address: number, value: number) => void, at: number): void {
  for (const [index, access] of [
    [1, 0x9b],
    [2, 0x93],
    [3, 0xfb],
    [4, 0xf3],
  ] as const) {
    const high = 0x00cf0000 | (access << 8);
    const [lo, hi] = compressDescriptor(0x0000ffff, high, 3);
    w32(at + gdtSlotOffset(index), lo);
    w32(at + gdtSlotOffset(index) + 4, hi);
    const [ulo, uhi] = userDescriptor(0x0000ffff, high);
    w32(at + gdtSlotOffset(index, true), ulo);
    w32(at + gdtSlotOffset(index, true) + 4, uhi);
  }
}

/** The CPU on the stub at `base` (GDTR, IDTR, TR), running guest user code at `eip` with IF set. */
export function enterGuestUser(cpu: Ia32Cpu, base: number, eip: number, esp: number): void {
  const r = relocate(base);
  cpu.gdtr = r.gdtr;
  cpu.idtr = r.idtr;
  cpu.setSegment(Seg.TR, {
    selector: Selector.monitorTss,
    base: base + StubOffset.tss,
    limit: 103,
    access: 0x8b,
  });
  cpu.setSegment(Seg.CS, { selector: 0x1b, base: 0, limit: 0xffffffff, access: 0xc0fb });
  for (const s of [Seg.SS, Seg.DS, Seg.ES, Seg.FS, Seg.GS]) {
    cpu.setSegment(s, { selector: 0x23, base: 0, limit: 0xffffffff, access: 0xc0f3 });
  }
  cpu.setReg(Reg.ESP, esp);
  cpu.eip = eip;
  cpu.eflags = 0x202;
}
