/**
 * `@pagurus/cpu`: an IA-32 (i686) integer and system CPU interpreter that depends only on
 * the `@pagurus/spec` contracts (memory, I/O, address translation, interrupt controller).
 */
export { disassemble, instructionLength } from "./disasm/index.js";
export type { CpuSnapshot, Ia32CpuOptions } from "./ia32-cpu.js";
export { Ia32Cpu } from "./ia32-cpu.js";
