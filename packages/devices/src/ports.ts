import type { IoPortHandler } from "@pagurus/spec";

/** A run of consecutive I/O ports a device decodes: `base .. base + count - 1`. */
export interface PortRange {
  readonly base: number;
  readonly count: number;
}

/**
 * An ISA device as a board sees it: a port handler that takes absolute port numbers, and the
 * list of ports it decodes (the board maps each range to the handler; nothing else is needed).
 */
export interface IoDevice extends IoPortHandler {
  readonly ports: readonly PortRange[];
}

/** True if `port` falls in one of `ranges`. */
export function decodes(ranges: readonly PortRange[], port: number): boolean {
  for (const r of ranges) if (port >= r.base && port < r.base + r.count) return true;
  return false;
}

/**
 * A 16- or 32-bit access to byte-wide ISA registers is a run of byte cycles on consecutive
 * ports, low byte first (the ISA bus's dynamic bus sizing). Bytes that land outside the
 * device read as 0xFF (nobody drives the bus) and their writes are dropped.
 */
export function readBytes(
  ranges: readonly PortRange[],
  port: number,
  size: 1 | 2 | 4,
  read8: (port: number) => number,
): number {
  if (size === 1) return read8(port) & 0xff;
  let v = 0;
  for (let i = 0; i < size; i++) {
    const b = decodes(ranges, port + i) ? read8(port + i) & 0xff : 0xff;
    v |= b << (8 * i);
  }
  return v >>> 0;
}

/** The write side of {@link readBytes}. */
export function writeBytes(
  ranges: readonly PortRange[],
  port: number,
  size: 1 | 2 | 4,
  value: number,
  write8: (port: number, value: number) => void,
): void {
  if (size === 1) {
    write8(port, value & 0xff);
    return;
  }
  for (let i = 0; i < size; i++) if (decodes(ranges, port + i)) write8(port + i, (value >>> (8 * i)) & 0xff);
}
