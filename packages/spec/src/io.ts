import type { AccessSize } from "./memory.js";

/**
 * The x86 I/O address space (ports `0 .. 0xFFFF`) as the CPU sees it: IN/OUT/INS/OUTS go here
 * after the CPU's own I/O-permission checks. Unclaimed ports read as all ones.
 */
export interface IoBus {
  in8(port: number): number;
  in16(port: number): number;
  in32(port: number): number;
  out8(port: number, value: number): void;
  out16(port: number, value: number): void;
  out32(port: number, value: number): void;
}

/**
 * A device's I/O ports. `port` is the absolute port number (ISA devices decode absolute
 * addresses, and a device often needs to know which of its ports was hit).
 * A 16- or 32-bit access to a handler that only decodes bytes is split by the bus.
 */
export interface IoPortHandler {
  read(port: number, size: AccessSize): number;
  write(port: number, size: AccessSize, value: number): void;
}
