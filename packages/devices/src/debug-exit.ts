import type { AccessSize, Snapshottable } from "@pagurus/spec";
import type { IoDevice, PortRange } from "./ports.js";

/** {@link IsaDebugExit} keeps no state. */
export type DebugExitState = Record<string, never>;

export interface DebugExitOptions {
  /** Called with `(value << 1) | 1` for every write (QEMU calls exit() with it). */
  onExit: (code: number) => void;
  /** Default 0xF4. */
  base?: number;
  /** Default 4, as `-device isa-debug-exit,iobase=0xf4,iosize=4`. */
  size?: number;
}

/**
 * QEMU's `isa-debug-exit` (hw/misc/debugexit.c): a write of `value` of any width to any of its
 * ports ends the run with status `(value << 1) | 1`, so guests can report a result but never
 * a plain 0. The process exit status a shell sees is the low 8 bits of the code. Reads return 0.
 * Unlike byte-wide ISA registers, QEMU hands the whole 16/32-bit value to the device, and so
 * do we. It has no state; `save`/`restore` exist so a board can snapshot every device alike.
 */
export class IsaDebugExit implements IoDevice, Snapshottable<DebugExitState> {
  readonly ports: readonly PortRange[];

  constructor(private readonly options: DebugExitOptions) {
    this.ports = [{ base: options.base ?? 0xf4, count: options.size ?? 4 }];
  }

  read(_port: number, _size: AccessSize): number {
    return 0;
  }

  write(_port: number, size: AccessSize, value: number): void {
    const mask = size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
    const v = (value & mask) >>> 0;
    // Computed in floating point so a 32-bit value keeps its top bit (QEMU works in uint64).
    this.options.onExit(v * 2 + 1);
  }

  save(): DebugExitState {
    return {};
  }

  restore(_state: DebugExitState): void {}
}
