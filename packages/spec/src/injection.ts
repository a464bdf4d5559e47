import type { InterruptKind } from "./cpu.js";

/**
 * A CPU that can be made to take an event at the current instruction boundary as if the
 * hardware had raised it: through the IDT, with the privilege checks, stack switch and frame
 * of a real delivery (SDM Vol. 3A, 6.12). What a monitor needs to hand a guest the exceptions
 * and interrupts it is owed, on a CPU that holds the guest's own state.
 */
export interface EventInjection {
  /**
   * Delivers `vector` now. `errorCode` is pushed when not null (for exceptions that have
   * one). A fault during delivery escalates as it would on hardware (#DF, shutdown).
   */
  injectEvent(vector: number, errorCode: number | null, kind: InterruptKind): void;
}
