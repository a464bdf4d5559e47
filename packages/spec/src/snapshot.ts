/**
 * A part whose whole state can be saved as plain JSON-able data and restored, so that a
 * machine can be checkpointed, compared, or moved between processes.
 */
export interface Snapshottable<S> {
  save(): S;
  restore(state: S): void;
}
