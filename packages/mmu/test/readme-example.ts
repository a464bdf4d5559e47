import assert from "node:assert/strict";
import { type MemoryBus, Mmu, PageAccess } from "@pagurus/mmu";

// 1 MiB of RAM behind the MemoryBus contract: all the MMU needs for its page walks.
const ram = new DataView(new ArrayBuffer(1 << 20));
const bus: MemoryBus = {
  read8: (a) => ram.getUint8(a),
  read16: (a) => ram.getUint16(a, true),
  read32: (a) => ram.getUint32(a, true),
  write8: (a, v) => ram.setUint8(a, v),
  write16: (a, v) => ram.setUint16(a, v, true),
  write32: (a, v) => ram.setUint32(a, v, true),
};

// Page directory at 0x1000, a page table at 0x2000; linear 0xC000_0000 maps physical
// 0x5000 as present, writable and user (P | R/W | U/S = 7).
ram.setUint32(0x1000 + (0xc000_0000 >>> 22) * 4, 0x2000 | 7, true);
ram.setUint32(0x2000, 0x5000 | 7, true);

const mmu = new Mmu(bus);
mmu.setControl(0x8000_0001 /* CR0: PG | PE */, 0x1000 /* CR3 */, 0 /* CR4 */);

assert.equal(mmu.translate(0xc000_0123, PageAccess.User | PageAccess.Write), 0x5123);
// The walk set Accessed (0x20) in the PDE and PTE, and Dirty (0x40) in the PTE.
assert.equal(ram.getUint32(0x2000, true), 0x5000 | 0x67);

// Nothing maps the next page: translate returns -1, and the #PF error code says
// "not present, read, user" (the CPU loads CR2 and raises #PF).
assert.equal(mmu.translate(0xc000_1000, PageAccess.User), -1);
assert.equal(mmu.faultErrorCode, 0b100);

// The PDE/PTE chain, without side effects: what a debugger shows.
assert.deepEqual(
  { pde: mmu.walk(0xc000_0123).pde, pte: mmu.walk(0xc000_0123).pte },
  { pde: 0x2000 | 0x27, pte: 0x5000 | 0x67 },
);
