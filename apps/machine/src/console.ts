/**
 * The serial console's keys, as QEMU's -nographic multiplexer has them: with a terminal on
 * stdin every key goes to COM1 (Ctrl-C too, since the terminal is in raw mode), except after the
 * escape prefix Ctrl-A, which gives the keys of {@link CONSOLE_KEYS}.
 */

/** Ctrl-A: the escape prefix. */
export const ESCAPE = 0x01;

/** What the keys after Ctrl-A do. */
export interface ConsoleActions {
  /** Bytes for the guest's COM1. */
  send(bytes: Uint8Array): void;
  /** Ctrl-A x: end the run. */
  quit(): void;
  /** Ctrl-A h: list the keys. */
  help(): void;
  /** Ctrl-A s: print the statistics so far. */
  stats(): void;
}

/** The help for Ctrl-A h (lines end in CR LF: the terminal is raw). */
export const CONSOLE_KEYS = [
  "C-a h    print this help",
  "C-a x    exit pagurus",
  "C-a s    print the statistics so far (as --stats text)",
  "C-a C-a  send C-a to the guest",
];

/** Splits terminal input into guest bytes and escape commands; keeps its state across chunks. */
export class ConsoleInput {
  private escaped = false;

  constructor(private readonly actions: ConsoleActions) {}

  feed(chunk: Uint8Array): void {
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i];
      if (!this.escaped) {
        if (byte === ESCAPE) {
          if (i > from) this.actions.send(chunk.subarray(from, i));
          this.escaped = true;
        }
        continue;
      }
      this.escaped = false;
      from = i + 1;
      switch (byte) {
        case ESCAPE:
          this.actions.send(Uint8Array.of(ESCAPE));
          break;
        case 0x78: // x
        case 0x58:
          this.actions.quit();
          return;
        case 0x68: // h
        case 0x48:
          this.actions.help();
          break;
        case 0x73: // s
        case 0x53:
          this.actions.stats();
          break;
        default:
          // QEMU drops an unknown key after the prefix too.
          break;
      }
    }
    if (!this.escaped && chunk.length > from) this.actions.send(chunk.subarray(from));
  }
}
