/**
 * `pagurus`: a bootable IA-32 PC assembled from the @pagurus packages, and its CLI.
 *
 * ```ts
 * import { readFileSync } from "node:fs";
 * import { createMachine } from "pagurus";
 * const machine = createMachine({ memory: 64 * 1024 * 1024, onSerialOutput: (b) => process.stdout.write(String.fromCharCode(b)) });
 * machine.boot({ image: readFileSync("kernel.elf"), path: "kernel.elf" });
 * const exit = machine.run(); // { kind: "debug-exit", code: 1 }, ...
 * ```
 */
export {
  type BootOptions,
  createMachine,
  DEFAULT_MEMORY,
  MAX_MEMORY,
  Machine,
  type MachineExit,
  type MachineOptions,
  type MachineStats,
  type RunLimits,
} from "./board.js";
export { type CliIo, ExitStatus, main, parseMemorySize, USAGE } from "./main.js";
export {
  findMultibootHeader,
  INFO_ADDRESS,
  type LoadedSegment,
  loadMultiboot,
  type MemoryMapEntry,
  MemoryType,
  MIN_MEMORY,
  MMAP_ADDRESS,
  MULTIBOOT_BOOTLOADER_MAGIC,
  MULTIBOOT_HEADER_MAGIC,
  type MultibootBoot,
  MultibootError,
  type MultibootErrorCode,
  type MultibootHeader,
  MultibootHeaderFlags,
  MultibootInfoFlags,
  type MultibootMemory,
  type MultibootModule,
  type MultibootOptions,
  pcMemoryMap,
} from "./multiboot.js";
