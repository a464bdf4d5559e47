/**
 * A wire. Devices drive their interrupt request lines; controllers listen (QEMU's `qemu_irq`,
 * MAME's callback lines). The same shape is used for any one-bit signal between parts:
 * a controller's output to the CPU's INTR pin, the A20 gate, the reset line.
 *
 * `set` is idempotent: driving the level a line already has is not an edge.
 */
export interface IrqLine {
  set(level: boolean): void;
}

/**
 * What the CPU needs of an interrupt controller: the INTA cycle. The controller also drives
 * the CPU's INTR pin through an {@link IrqLine}; `pending` mirrors that pin's level for
 * callers that poll.
 */
export interface InterruptController {
  /** True while the controller asserts INTR. */
  readonly pending: boolean;
  /**
   * The CPU's interrupt-acknowledge cycle: returns the vector (0..255) and updates the
   * controller's in-service state. Called only when the CPU accepts the interrupt.
   */
  acknowledge(): number;
}
