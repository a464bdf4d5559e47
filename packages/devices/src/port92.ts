import type { AccessSize, IrqLine, Snapshottable } from "@pagurus/spec";
import type { IoDevice, PortRange } from "./ports.js";
import { readBytes, writeBytes } from "./ports.js";

export interface Port92Options {
  /** The A20 gate: bit 1 of the port. */
  a20: IrqLine;
  /** Pulsed (raised then lowered) when software sets bit 0. */
  reset: IrqLine;
}

export interface Port92State {
  value: number;
}

/**
 * System Control Port A (0x92, the PS/2 "fast A20" port). Bit 1 drives the A20 gate, a 0->1
 * transition of bit 0 requests a fast CPU reset. Reads return the last value written, as
 * QEMU's port92 does. The line states are not driven at construction: the board decides the
 * power-up level of A20.
 */
export class Port92 implements IoDevice, Snapshottable<Port92State> {
  readonly ports: readonly PortRange[] = [{ base: 0x92, count: 1 }];
  private value = 0;

  constructor(private readonly options: Port92Options) {}

  read(port: number, size: AccessSize): number {
    return readBytes(this.ports, port, size, () => this.value);
  }

  write(port: number, size: AccessSize, value: number): void {
    writeBytes(this.ports, port, size, value, (_p, v) => {
      const old = this.value;
      this.value = v;
      this.options.a20.set((v & 2) !== 0);
      if (v & 1 && !(old & 1)) {
        this.options.reset.set(true);
        this.options.reset.set(false);
      }
    });
  }

  /** Whether bit 1 (A20) is set. */
  get a20(): boolean {
    return (this.value & 2) !== 0;
  }

  save(): Port92State {
    return { value: this.value };
  }

  restore(state: Port92State): void {
    this.value = state.value;
    this.options.a20.set((state.value & 2) !== 0);
  }
}
