/**
 * The `pagurus` command line, as a function over arguments and I/O so tests can run it in
 * process. Errors a user can cause end with one line on stderr and a status of {@link ExitStatus}.
 */
import { closeSync, fstatSync, openSync, readSync, statSync, writeSync } from "node:fs";
import type { MonitorRelocation, MonitorStats } from "@pagurus/vmm-core";
import {
  type BootOptions,
  type ClockMode,
  createMachine,
  MAX_MEMORY,
  type Machine,
  type MachineExit,
} from "./board.js";
import { CONSOLE_KEYS, ConsoleInput } from "./console.js";
import { DEMO_KERNEL_BASE64, DEMO_KERNEL_NAME } from "./demo-kernel.generated.js";
import { MIN_MEMORY, MultibootError, type MultibootModule } from "./multiboot.js";
import { VERSION } from "./version.js";

/** Process exit statuses besides the guest's own `(value << 1) | 1` (always odd). */
export const ExitStatus = {
  /** The guest asked for a reset (QEMU with -no-reboot exits 0 too). */
  Reset: 0,
  /** Bad command line or kernel. */
  Usage: 2,
  /** Triple fault: the CPU shut down; a register dump went to stderr. */
  TripleFault: 4,
  /** --max-instructions reached. */
  InstructionLimit: 6,
  /** HLT with nothing left that could wake the CPU. */
  Halted: 8,
  /** The CPU met an instruction or feature it does not implement. */
  Unimplemented: 10,
  /** A kernel or module that is not a readable regular file (missing, a directory, a FIFO, a device, too large). */
  BadFile: 12,
  /** A kernel that cannot boot: not ELF32 or Multiboot, broken headers, overlapping segments, outside RAM. */
  BadKernel: 14,
  /** The --serial file cannot be opened or written (disk full, a file of /proc, ...). */
  SerialError: 16,
  /** Standard output was closed by its reader (EPIPE, as `| head -c 1`): the run ended there. */
  OutputClosed: 18,
  /** A signal (SIGINT, SIGTERM, SIGHUP) ended the run: 128 + its number, as a shell reports it. */
  Signal: 128,
  /** A bug in pagurus. */
  Internal: 70,
} as const;

/** The terminal on stdin, for the console's raw mode (Node's tty.ReadStream is one). */
export interface CliTerminal {
  setRawMode(raw: boolean): unknown;
}

export interface CliIo {
  /**
   * Guest serial output (bytes) and command output (text). Returns false when the reader is
   * behind (a Node stream's write); the run then waits for {@link drained} before writing more.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a callback that returns nothing must fit; only false counts
  stdout(data: Uint8Array | string): boolean | void;
  stderr(text: string): void;
  /** Host input for COM1 with `--serial stdio`; absent means none. */
  stdin?: NodeJS.ReadableStream;
  /** Set when stdin is a terminal: the run puts it in raw mode and restores it (the console). */
  terminal?: CliTerminal;
  /** Resolves once stdout takes data again after {@link stdout} returned false. */
  drained?(): Promise<void>;
  /**
   * Aborted by the host to end a run: its reason is "output-closed" when stdout's reader went
   * away (EPIPE), or a signal's name ("SIGINT", "SIGTERM", "SIGHUP").
   */
  signal?: AbortSignal;
}

/** The options of `pagurus run`, one line each (`pagurus run --help`). */
const RUN_OPTIONS = `options:
  --memory SIZE            RAM, e.g. 64M, 512M, 1G (plain numbers are MiB, as QEMU's -m); default 64M
  --append TEXT            kernel command line after the kernel's name (passed as UTF-8)
  --module PATH[,ARGS]     a Multiboot module (repeatable); its string is "PATH ARGS";
                           a comma in PATH is written twice (,,)
  --max-instructions N     stop after N instructions (exit status 6)
  --serial stdio|file:PATH|none   where COM1 goes (default stdio: stdout, and stdin feeds COM1;
                           with a terminal on stdin, a console: raw mode, C-a h lists its keys)
  --clock virtual|host     guest time: one tick per instruction, reproducible (default without
                           a terminal), or paced to wall time (default with a terminal)
  --stats text|json        print instructions, MIPS, exceptions and interrupts by vector on stderr
                           (MIPS: instructions / process CPU time of the run loop, start-up excluded)
  --blocks on|off          compile hot code into JavaScript blocks (default on) or only interpret
  --trace exceptions|io    log every exception/interrupt or every port access on stderr
  --bare                   run the guest directly on the machine (the default)
  --vmm                    run the guest under the pagurus monitor
  --seed N                 seed for the monitor's random choices
  --help                   this help`;

const EXIT_STATUSES = `exit status: the guest's isa-debug-exit status ((value << 1) | 1, odd), or
  0 reset or C-a x, 2 bad command line, 4 triple fault, 6 instruction limit,
  8 halted for good, 10 unimplemented, 12 kernel or module not a readable regular file,
  14 kernel not bootable, 16 serial file error, 18 stdout closed (EPIPE),
  128+N signal N, 70 internal error`;

export const USAGE = `usage: pagurus run KERNEL [options]     boot a Multiboot kernel (ELF32 or a.out kludge)
       pagurus demo                    boot the built-in demo guest under the monitor
       pagurus help [run]              this help, or run's
       pagurus --version
${RUN_OPTIONS}
${EXIT_STATUSES}`;

/** `pagurus run --help` and `pagurus help run`. */
export const RUN_USAGE = `usage: pagurus run KERNEL [options]
Boots KERNEL (a Multiboot v1 kernel: ELF32 or a.out kludge) as QEMU's -kernel does.
${RUN_OPTIONS}
${EXIT_STATUSES}`;

/** An error the user can cause: becomes "pagurus: <message>" and `status`. */
class UserError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A bad command line: exit status 2. */
class UsageError extends UserError {
  constructor(message: string) {
    super(ExitStatus.Usage, message);
  }
}

/** Asked for help inside an argument list (`run --help`): prints it and exits 0. */
class HelpRequest extends Error {
  constructor(readonly text: string) {
    super("help");
  }
}

interface RunOptions {
  kernel: string;
  memory: number;
  append: string;
  modules: ModuleSpec[];
  maxInstructions: number;
  serial: { kind: "stdio" } | { kind: "file"; path: string } | { kind: "none" };
  stats: "text" | "json" | null;
  blocks: boolean;
  trace: Set<"exceptions" | "io">;
  vmm: boolean;
  seed: number;
  /** --clock; null: host with a terminal on stdin, else virtual. */
  clock: ClockMode | null;
  /** Told about each move of the monitor's stub as it happens (the demo prints them). */
  onRelocation?: (event: MonitorRelocation) => void;
}

const MiB = 1024 * 1024;

/** "64M", "512MiB", "1G", "65536K", "128" (MiB). */
export function parseMemorySize(text: string): number {
  const m = /^(\d+)\s*(k|kib|m|mib|g|gib|)$/i.exec(text.trim());
  if (m === null) throw new UsageError(`--memory '${text}' is not a size (use e.g. 64M or 1G)`);
  const unit = m[2].toLowerCase()[0] ?? "m";
  const bytes = Number(m[1]) * (unit === "k" ? 1024 : unit === "g" ? 1024 * MiB : MiB);
  if (bytes < MIN_MEMORY)
    throw new UsageError(`--memory ${text} is too small: a Multiboot kernel needs at least 2M`);
  if (bytes > MAX_MEMORY) throw new UsageError(`--memory ${text} is too large: at most 2G`);
  if (bytes % 4096 !== 0) throw new UsageError(`--memory ${text} is not a multiple of 4K`);
  return bytes;
}

function parseCount(flag: string, text: string): number {
  if (!/^\d[\d_]*$/.test(text)) throw new UsageError(`${flag} '${text}' is not a whole number`);
  const n = Number(text.replaceAll("_", ""));
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag} '${text}' is too large`);
  return n;
}

/** A `--module`: its file and the string the kernel sees. */
interface ModuleSpec {
  path: string;
  string: string;
}

/**
 * `--module PATH[,ARGS]`: the first single comma ends the path (",," is a comma inside it, as in
 * QEMU's option values); the kernel sees "PATH ARGS", as QEMU and GRUB pass a module's line.
 */
export function parseModule(text: string): ModuleSpec {
  let path = "";
  let i = 0;
  for (; i < text.length; i++) {
    if (text[i] !== ",") path += text[i];
    else if (text[i + 1] === ",") path += text[i++];
    else break;
  }
  if (path === "") throw new UsageError(`--module '${text}': no path (use --module PATH[,ARGS])`);
  const args = i < text.length ? text.slice(i + 1) : "";
  return { path, string: args === "" ? path : `${path} ${args}` };
}

function parseRun(args: string[]): RunOptions {
  const o: RunOptions = {
    kernel: "",
    memory: 64 * MiB,
    append: "",
    modules: [],
    maxInstructions: Number.POSITIVE_INFINITY,
    serial: { kind: "stdio" },
    stats: null,
    blocks: true,
    trace: new Set(),
    vmm: false,
    seed: 0,
    clock: null,
  };
  const kernels: string[] = [];
  for (let i = 0; i < args.length; i++) {
    let arg = args[i];
    let value: string | undefined;
    if (arg.startsWith("--") && arg.includes("=")) {
      value = arg.slice(arg.indexOf("=") + 1);
      arg = arg.slice(0, arg.indexOf("="));
    }
    const takeValue = (): string => {
      if (value !== undefined) return value;
      const next = args[++i];
      if (next === undefined) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    switch (arg) {
      case "--memory":
      case "-m":
        o.memory = parseMemorySize(takeValue());
        break;
      case "--append":
        o.append = takeValue();
        break;
      case "--module":
        o.modules.push(parseModule(takeValue()));
        break;
      case "--clock": {
        const v = takeValue();
        if (v !== "virtual" && v !== "host") throw new UsageError(`--clock '${v}': use virtual or host`);
        o.clock = v;
        break;
      }
      case "--help":
      case "-h":
        throw new HelpRequest(RUN_USAGE);
      case "--max-instructions":
        o.maxInstructions = parseCount(arg, takeValue());
        break;
      case "--serial": {
        const v = takeValue();
        if (v === "stdio" || v === "none") o.serial = { kind: v };
        else if (v.startsWith("file:") && v.length > 5) o.serial = { kind: "file", path: v.slice(5) };
        else throw new UsageError(`--serial '${v}': use stdio, none or file:PATH`);
        break;
      }
      case "--stats": {
        const v = takeValue();
        if (v !== "text" && v !== "json") throw new UsageError(`--stats '${v}': use text or json`);
        o.stats = v;
        break;
      }
      case "--blocks": {
        const v = takeValue();
        if (v !== "on" && v !== "off") throw new UsageError(`--blocks '${v}': use on or off`);
        o.blocks = v === "on";
        break;
      }
      case "--trace":
        for (const what of takeValue().split(",")) {
          if (what !== "exceptions" && what !== "io")
            throw new UsageError(`--trace '${what}': use exceptions or io`);
          o.trace.add(what);
        }
        break;
      case "--vmm":
        o.vmm = true;
        break;
      case "--bare":
        o.vmm = false;
        break;
      case "--seed":
        o.seed = parseCount(arg, takeValue());
        break;
      default:
        if (arg.startsWith("-")) throw new UsageError(`unknown option '${arg}' (see pagurus --help)`);
        kernels.push(arg);
    }
  }
  if (kernels.length === 0) throw new UsageError("run: no kernel given (pagurus run KERNEL [options])");
  if (kernels.length > 1) throw new UsageError(`run: one kernel only, got '${kernels.join("', '")}'`);
  o.kernel = kernels[0];
  return o;
}

/** What a path is when it is not a regular file, for the message. */
function fileKind(st: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/** The message of a Node file-system error without its "ENOENT: ..., open 'path'" decoration. */
function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const text = err.code ? err.message.replace(/^[A-Z]+: /, "").replace(/, \w+( '.*')?$/, "") : err.message;
  return err.code ? `${text} (${err.code})` : text;
}

/**
 * Reads a kernel or module: only a regular file (a FIFO would block, /dev/zero never ends), and
 * only one that could fit in RAM, checked before a byte is read.
 */
function readUserFile(what: string, path: string, limit: number): Uint8Array {
  const bad = (message: string) => new UserError(ExitStatus.BadFile, `${what} '${path}' ${message}`);
  let fd: number;
  try {
    // stat first: opening a FIFO would wait for a writer.
    const st = statSync(path);
    if (!st.isFile()) throw bad(`is ${fileKind(st)}, not a regular file`);
    fd = openSync(path, "r");
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw bad(code === "ENOENT" ? "does not exist" : `cannot be read: ${errnoText(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw bad(`is ${fileKind(st)}, not a regular file`);
    if (st.size === 0) throw bad("is empty");
    if (st.size > limit) {
      throw bad(
        `is ${st.size} bytes, more than the ${limit / (1024 * 1024)} MiB of RAM it would be loaded into`,
      );
    }
    const data = new Uint8Array(st.size);
    let at = 0;
    while (at < data.length) {
      const n = readSync(fd, data, at, data.length - at, at);
      if (n === 0) break;
      at += n;
    }
    if (at !== data.length) throw bad(`shrank while it was read (${at} of ${data.length} bytes)`);
    return data;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw bad(`cannot be read: ${errnoText(e)}`);
  } finally {
    closeSync(fd);
  }
}

function hexVector(v: number): string {
  return `0x${v.toString(16).padStart(2, "0")}`;
}

const EXCEPTION_NAMES: Record<number, string> = {
  0: "#DE",
  1: "#DB",
  2: "NMI",
  3: "#BP",
  4: "#OF",
  5: "#BR",
  6: "#UD",
  7: "#NM",
  8: "#DF",
  10: "#TS",
  11: "#NP",
  12: "#SS",
  13: "#GP",
  14: "#PF",
  16: "#MF",
  17: "#AC",
  18: "#MC",
};

function statsReport(machine: Machine, exit: MachineExit, format: "text" | "json", blocks: boolean): string {
  const s = machine.stats;
  const seconds = s.runMilliseconds / 1000;
  const cpuSeconds = s.runCpuMilliseconds / 1000;
  // As `pnpm bench` measures: instructions over the process CPU time of the run loop (loading
  // the kernel and building the machine excluded).
  const mips = cpuSeconds > 0 ? s.instructions / cpuSeconds / 1e6 : 0;
  const wallMips = seconds > 0 ? s.instructions / seconds / 1e6 : 0;
  const obj = (m: Map<number, number>) =>
    Object.fromEntries([...m].sort((a, b) => a[0] - b[0]).map(([k, v]) => [String(k), v]));
  if (format === "json") {
    return `${JSON.stringify({
      instructions: s.instructions,
      seconds: Number(seconds.toFixed(6)),
      cpuSeconds: Number(cpuSeconds.toFixed(6)),
      mips: Number(mips.toFixed(3)),
      wallMips: Number(wallMips.toFixed(3)),
      blocks,
      exceptions: obj(s.exceptions),
      softwareInterrupts: obj(s.softwareInterrupts),
      externalInterrupts: obj(s.externalInterrupts),
      exit: exit.kind,
      mode: machine.monitorMode ? "vmm" : "bare",
      ...(machine.monitorMode ? { monitor: monitorStatsJson(machine.monitorMode.monitor.stats()) } : {}),
    })}\n`;
  }
  const list = (m: Map<number, number>, name: (v: number) => string) =>
    m.size === 0
      ? "none"
      : [...m]
          .sort((a, b) => a[0] - b[0])
          .map(([v, n]) => `${name(v)} ${n}`)
          .join(", ");
  return [
    `instructions        ${s.instructions}`,
    `wall time           ${seconds.toFixed(3)} s (the run loop: start-up and loading excluded)`,
    `CPU time            ${cpuSeconds.toFixed(3)} s (process user + system, same span)`,
    `MIPS                ${mips.toFixed(2)} (instructions / CPU time, as pnpm bench measures; ${wallMips.toFixed(2)} by wall time)`,
    `compiled blocks     ${blocks ? "on" : "off"}`,
    `exceptions          ${list(s.exceptions, (v) => `${EXCEPTION_NAMES[v] ?? "vector"}(${hexVector(v)})`)}`,
    `software INT n      ${list(s.softwareInterrupts, hexVector)}`,
    `external interrupts ${list(s.externalInterrupts, hexVector)}`,
    `ended by            ${exit.kind}`,
    ...(machine.monitorMode ? monitorStatsText(machine.monitorMode.monitor.stats()) : []),
    "",
  ].join("\n");
}

/** The monitor's counters as plain JSON (addresses as hex strings). */
function monitorStatsJson(m: MonitorStats) {
  return {
    stub: m.stub,
    hostCalls: m.hostCalls,
    emulated: m.emulated,
    hiddenFaults: m.hiddenFaults,
    guestFaults: m.guestFaults,
    conflictChecks: m.conflictChecks,
    conflicts: m.conflicts,
    relocationsByReason: m.relocator.byReason,
    relocations: m.relocations.map((r) => ({
      reason: r.reason,
      from: hex32(r.from),
      to: hex32(r.to),
      displaced: r.displaced.length,
      accesses: r.accesses,
      micros: r.micros,
      bytesWritten: r.bytesWritten,
      mappingsWritten: r.mappingsWritten,
    })),
    displacedAccessesServed: m.displacedAccessesServed,
    phase: m.relocator.phase,
    stubBase: hex32(m.stubBase),
  };
}

function monitorStatsText(m: MonitorStats): string[] {
  const reasons = Object.entries(m.relocator.byReason)
    .map(([reason, n]) => `${reason} ${n}`)
    .join(", ");
  return [
    `traps, stub        ${m.stub.stubHandled} (claim 7: reflected, CLI/STI, PUSHF/POPF, IRET, virtual interrupts)`,
    `traps, core        ${m.stub.coreHandled} (claim 8), world switches ${m.stub.worldSwitches}`,
    `emulated           ${m.emulated} instructions on the virtual CPU`,
    `page faults        ${m.hiddenFaults} hidden, ${m.guestFaults} given to the guest`,
    `conflicts          ${m.conflicts} of ${m.conflictChecks} checks (claims 1, 5)`,
    `relocations        ${m.relocations.length}: ${reasons}`,
    `displaced served   ${m.displacedAccessesServed} accesses (claim 11)`,
    `stub at            ${hex32(m.stubBase)} (${m.relocator.phase})`,
  ];
}

function hex32(v: number): string {
  return (v >>> 0).toString(16).padStart(8, "0");
}

/**
 * Where COM1's output goes: stdout (with the reader's backpressure reaching the guest's UART),
 * a file (a write error ends the run as a user error), or nowhere. Holds at most one chunk.
 */
class SerialSink {
  private readonly pending: number[] = [];
  private fd: number | null = null;
  /** stdout returned false: hold COM1's line busy until it drains. */
  private blocked = false;
  /** Set on a write error or a closed stdout: nothing more is written. */
  failed: UserError | null = null;

  constructor(
    private readonly serial: RunOptions["serial"],
    private readonly io: CliIo,
    private readonly onBlocked: () => void,
    private readonly onFailed: () => void,
  ) {
    if (serial.kind === "file") {
      try {
        this.fd = openSync(serial.path, "w");
      } catch (e) {
        throw new UserError(
          ExitStatus.SerialError,
          `--serial file '${serial.path}' cannot be opened: ${errnoText(e)}`,
        );
      }
    }
  }

  /** COM1's onSerialOutput: false tells the UART its line is busy. */
  put(byte: number): boolean {
    if (this.failed !== null || this.serial.kind === "none") return true;
    this.pending.push(byte);
    if (this.pending.length >= 4096 || byte === 10) this.flush();
    return !this.blocked;
  }

  flush(): void {
    if (this.pending.length === 0 || this.failed !== null) return;
    const bytes = Uint8Array.from(this.pending);
    this.pending.length = 0;
    if (this.fd !== null) {
      try {
        for (let at = 0; at < bytes.length; ) at += writeSync(this.fd, bytes, at);
      } catch (e) {
        const path = this.serial.kind === "file" ? this.serial.path : "";
        this.fail(
          new UserError(ExitStatus.SerialError, `--serial file '${path}' cannot be written: ${errnoText(e)}`),
        );
      }
    } else if (this.io.stdout(bytes) === false && this.io.drained) {
      this.blocked = true;
      this.onBlocked();
    }
  }

  /** stdout drained: the line takes bytes again. */
  unblock(): void {
    this.blocked = false;
  }

  fail(error: UserError): void {
    this.failed ??= error;
    this.pending.length = 0;
    this.onFailed();
  }

  close(): void {
    this.flush();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/** Signal numbers for the exit status 128 + N. */
const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

async function runKernel(
  o: RunOptions,
  io: CliIo,
  boot: Omit<BootOptions, "modules"> & { modules: MultibootModule[] },
): Promise<number> {
  // Why the host ended the run, if it did.
  let ended: { status: number; message: string | null } | null = null;
  let machine: Machine | null = null;
  const end = (status: number, message: string | null) => {
    ended ??= { status, message };
    machine?.requestStop();
  };
  const sink = new SerialSink(
    o.serial,
    io,
    () => {
      void io.drained?.().then(() => {
        sink.unblock();
        machine?.serialReady();
      });
    },
    () => end(sink.failed?.status ?? ExitStatus.Internal, null),
  );
  const console = o.serial.kind === "stdio" ? io.terminal : undefined;
  machine = createMachine({
    memory: o.memory,
    clock: o.clock ?? (console ? "host" : "virtual"),
    blocks: o.blocks,
    vmm: o.vmm ? { seed: o.seed, onRelocation: o.onRelocation } : undefined,
    onSerialOutput: (byte) => sink.put(byte),
    traceInterrupts: o.trace.has("exceptions") ? (line) => io.stderr(`${line}\n`) : undefined,
    traceIo: o.trace.has("io") ? (line) => io.stderr(`${line}\n`) : undefined,
  });
  const m = machine;
  try {
    m.boot(boot);
  } catch (e) {
    sink.close();
    if (e instanceof MultibootError) throw new UserError(ExitStatus.BadKernel, `${o.kernel}: ${e.message}`);
    throw e;
  }

  // Host input: COM1 gets stdin's bytes when the serial console is stdio; on a terminal, through
  // the console's escape keys.
  const stdin = o.serial.kind === "stdio" ? io.stdin : undefined;
  let inputEnded = stdin === undefined;
  let inputArrived: (() => void) | null = null;
  const keys = new ConsoleInput({
    send: (bytes) => m.sendSerial(bytes),
    quit: () => end(ExitStatus.Reset, null),
    help: () => io.stderr(`${CONSOLE_KEYS.join("\n")}\n`),
    stats: () => io.stderr(statsReport(m, { kind: "stopped" }, "text", o.blocks)),
  });
  const onData = (chunk: Buffer | string) => {
    const bytes = typeof chunk === "string" ? new TextEncoder().encode(chunk) : new Uint8Array(chunk);
    if (console) keys.feed(bytes);
    else m.sendSerial(bytes);
    inputArrived?.();
  };
  const onEnd = () => {
    inputEnded = true;
    inputArrived?.();
  };
  const onAbort = () => {
    const reason = String(io.signal?.reason ?? "");
    if (reason === "output-closed") {
      sink.fail(new UserError(ExitStatus.OutputClosed, "stdout was closed (EPIPE)"));
      end(ExitStatus.OutputClosed, null);
    } else {
      end(ExitStatus.Signal + (SIGNALS[reason] ?? 0), `pagurus: ended by ${reason}`);
    }
    inputArrived?.();
  };
  stdin?.on("data", onData);
  stdin?.on("end", onEnd);
  if (io.signal?.aborted) onAbort();
  io.signal?.addEventListener("abort", onAbort);
  console?.setRawMode(true);

  let exit: MachineExit;
  try {
    for (;;) {
      exit = await m.runUntilIdle({ maxInstructions: o.maxInstructions });
      sink.flush();
      if (exit.kind === "idle" && !inputEnded && ended === null) {
        // Only host input can wake the guest: wait for it without running anything.
        await new Promise<void>((resolve) => {
          inputArrived = resolve;
        });
        inputArrived = null;
        continue;
      }
      break;
    }
  } finally {
    // Every way out restores the terminal: a guest exit, a triple fault, an error, a signal.
    console?.setRawMode(false);
    io.signal?.removeEventListener("abort", onAbort);
    stdin?.removeListener("data", onData);
    stdin?.removeListener("end", onEnd);
    stdin?.pause?.();
    sink.close();
  }

  if (o.stats !== null) io.stderr(statsReport(m, exit, o.stats, o.blocks));
  const byHost = ended as { status: number; message: string | null } | null;
  if (byHost !== null) {
    if (sink.failed !== null && sink.failed.status !== ExitStatus.OutputClosed) throw sink.failed;
    if (byHost.message !== null) io.stderr(`${byHost.message}\n`);
    return byHost.status;
  }
  switch (exit.kind) {
    case "debug-exit":
      return exit.code & 0xff;
    case "reset":
      return ExitStatus.Reset;
    case "shutdown":
      io.stderr(`pagurus: triple fault, the CPU shut down (${exit.report})\n${m.registerDump()}\n`);
      return ExitStatus.TripleFault;
    case "instruction-limit":
      io.stderr(`pagurus: stopped after ${m.instructionCount} instructions (--max-instructions)\n`);
      return ExitStatus.InstructionLimit;
    case "halted":
      io.stderr(
        (m.cpu.eflags & 0x200) === 0
          ? "pagurus: the guest halted with interrupts disabled\n"
          : "pagurus: the guest halted with every interrupt that could wake it masked\n",
      );
      return ExitStatus.Halted;
    case "idle":
      io.stderr("pagurus: the guest halted waiting for input, and stdin has ended\n");
      return ExitStatus.Halted;
    case "waiting":
    case "stopped":
      throw new Error(`run ended with ${exit.kind} and no reason`);
    case "unimplemented":
      io.stderr(`pagurus: ${exit.report}\n${m.registerDump()}\n`);
      return ExitStatus.Unimplemented;
  }
}

async function run(args: string[], io: CliIo): Promise<number> {
  const o = parseRun(args);
  const image = readUserFile("kernel", o.kernel, o.memory);
  const modules = o.modules.map((m) => ({
    string: m.string,
    data: readUserFile("module", m.path, o.memory),
  }));
  return runKernel(o, io, { image, path: o.kernel, append: o.append, modules });
}

/**
 * The seed with which the demo's random region (step 3) lands in the part of the space the
 * guest then hammers (step 4), so that the demo shows a claim-12 move too. Any other seed
 * runs the same guest correctly; it just may find a quiet region at once.
 */
export const DEMO_SEED = 45;

const MOVE_REASONS: Record<MonitorRelocation["reason"], string> = {
  "conflict-unused": "the guest wants its region: moved to a region it does not use (claim 9)",
  "conflict-random": "no unused region left: moved to a random region, its guest pages displaced (claim 10)",
  "periodic-hot": "the displaced content is hot: moved to another random region (claim 12)",
  "unused-available": "an unused region appeared: moved there, nothing displaced any more (claim 9)",
};

async function demo(args: string[], io: CliIo): Promise<number> {
  if (args.length > 0) throw new UsageError(`demo takes no arguments, got '${args[0]}'`);
  io.stdout(
    `pagurus demo: ${DEMO_KERNEL_NAME} under the pagurus monitor (seed ${DEMO_SEED}). The guest's own output\n` +
      "is plain; the monitor's moves of its stub are marked with >>.\n\n",
  );
  const image = Uint8Array.from(atob(DEMO_KERNEL_BASE64), (c) => c.charCodeAt(0));
  const o = parseRun([
    DEMO_KERNEL_NAME,
    "--memory",
    "64M",
    "--stats",
    "text",
    "--vmm",
    "--seed",
    String(DEMO_SEED),
  ]);
  const status = await runKernel(
    {
      ...o,
      serial: { kind: "stdio" },
      onRelocation: (m) => {
        const at = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;
        io.stdout(
          `  >> stub ${at(m.from)} -> ${at(m.to)}: ${MOVE_REASONS[m.reason]}` +
            `${m.displaced.length > 0 ? `, ${m.displaced.length} pages displaced` : ""} (${m.micros} us)\n`,
        );
      },
    },
    { ...io, stdin: undefined },
    {
      image,
      path: DEMO_KERNEL_NAME,
      append: "",
      modules: [],
    },
  );
  // The kernel reports success through isa-debug-exit value 0, status 1: the demo succeeded.
  return status === 1 ? 0 : status;
}

/** Runs the CLI; resolves to the process exit status. Never throws for user errors. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case "run":
        return await run(rest, io);
      case "demo":
        return await demo(rest, io);
      case "--help":
      case "-h":
      case "help":
        if (rest[0] === "run") throw new HelpRequest(RUN_USAGE);
        if (rest.length > 0) throw new UsageError(`help: no help for '${rest[0]}' (use help or help run)`);
        io.stdout(`${USAGE}\n`);
        return 0;
      case "--version":
      case "-V":
        io.stdout(`pagurus ${VERSION}\n`);
        return 0;
      case undefined:
        io.stderr(`${USAGE}\n`);
        return ExitStatus.Usage;
      default:
        throw new UsageError(
          command.startsWith("-")
            ? `unknown option '${command}' (see pagurus --help)`
            : `unknown command '${command}' (use run or demo)`,
        );
    }
  } catch (e) {
    if (e instanceof HelpRequest) {
      io.stdout(`${e.text}\n`);
      return 0;
    }
    if (e instanceof UserError) {
      io.stderr(`pagurus: ${e.message}\n`);
      return e.status;
    }
    const err = e as Error;
    io.stderr(`pagurus: internal error: ${err?.message ?? String(e)}\n`);
    return ExitStatus.Internal;
  }
}
