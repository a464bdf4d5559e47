/**
 * Host instructions per guest instruction of the loop kernel, for `host-instructions.sh`: runs
 * the interpreter alone (`blockThreshold: 0`) for WARM guest instructions (V8 optimizes the
 * run loop meanwhile), then MEAS more, and exits. callgrind counts the host instructions of the
 * whole process; the script takes the difference between MEAS=0 and MEAS=N runs.
 *
 *   WARM=20000000 MEAS=30000000 node --conditions=source --import ../../tooling/cpu-harness/register-ts.mjs bench/host-instructions.ts
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ia32Cpu } from "@pagurus/cpu";
import type { IoBus, PhysicalMemory, RegIndex, SegIndex } from "@pagurus/spec";

const warm = Number(process.env.WARM ?? 20_000_000);
const meas = Number(process.env.MEAS ?? 0);
const RAM_SIZE = 32 << 20;
const LOAD = 0x100000;

const ram = new Uint8Array(RAM_SIZE);
const view = new DataView(ram.buffer);
const direct = new Uint8Array(1 << 20);
direct.fill(3, 0, RAM_SIZE >>> 12);
const memory: PhysicalMemory = {
  fastPath: { ram, direct },
  read8: (a) => ram[a],
  read16: (a) => view.getUint16(a, true),
  read32: (a) => view.getUint32(a, true),
  write8: (a, v) => {
    ram[a] = v;
  },
  write16: (a, v) => view.setUint16(a, v, true),
  write32: (a, v) => view.setUint32(a, v, true),
};
const io: IoBus = {
  in8: () => 0xff,
  in16: () => 0xffff,
  in32: () => -1,
  out8: () => {},
  out16: () => {},
  out32: () => {},
};
// loop.elf is one PT_LOAD of the whole file at LOAD (loop.asm).
const image = new Uint8Array(readFileSync(fileURLToPath(new URL("./loop.elf", import.meta.url))));
ram.set(image, LOAD);
const cpu = new Ia32Cpu({ memory, io }, { blockThreshold: 0 });
cpu.setCr(0, 0x11);
const flat = (selector: number, access: number) => ({ selector, base: 0, limit: 0xffffffff, access });
cpu.setSegment(1 as SegIndex, flat(0x08, 0xc09b));
for (const s of [0, 2, 3, 4, 5]) cpu.setSegment(s as SegIndex, flat(0x10, 0xc093));
cpu.setReg(0 as RegIndex, 0x2badb002);
cpu.eflags = 0x2;
cpu.eip = new DataView(image.buffer).getUint32(24, true);
cpu.run({ instructions: warm });
cpu.run({ instructions: meas });
if (cpu.instructionCount !== warm + meas) {
  console.error(`host-instructions: the kernel stopped after ${cpu.instructionCount} instructions`);
  process.exit(1);
}
