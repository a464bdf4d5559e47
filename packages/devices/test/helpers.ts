import type { Clock, IrqLine } from "@pagurus/spec";

/** An IrqLine that records every level it is driven to, with the clock tick. */
export class RecordingLine implements IrqLine {
  level = false;
  private startLevel = false;
  readonly log: { level: boolean; at: number }[] = [];
  constructor(private readonly clock?: Clock) {}
  set(level: boolean): void {
    this.level = level;
    this.log.push({ level, at: this.clock?.now ?? 0 });
  }
  /** Ticks of rising edges (a set(true) after a low level). */
  get risingEdges(): number[] {
    const out: number[] = [];
    let prev = this.startLevel;
    for (const e of this.log) {
      if (e.level && !prev) out.push(e.at);
      prev = e.level;
    }
    return out;
  }
  /** [level, tick] of each change of level (repeated sets of the same level are not edges). */
  get transitions(): [boolean, number][] {
    const out: [boolean, number][] = [];
    let prev = this.startLevel;
    for (const e of this.log) {
      if (e.level !== prev) out.push([e.level, e.at]);
      prev = e.level;
    }
    return out;
  }

  clear(): void {
    this.log.length = 0;
    this.startLevel = this.level;
  }
}
