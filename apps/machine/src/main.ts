/**
 * The `pagurus` command line, as a function over arguments and I/O so tests can run it in
 * process. Errors a user can cause end with one line on stderr and exit status 2.
 */
import { closeSync, existsSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import type { MonitorRelocation, MonitorStats } from "@pagurus/vmm-core";
import { type BootOptions, createMachine, MAX_MEMORY, type Machine, type MachineExit } from "./board.js";
import { DEMO_KERNEL_BASE64, DEMO_KERNEL_NAME } from "./demo-kernel.generated.js";
import { MIN_MEMORY, MultibootError, type MultibootModule } from "./multiboot.js";

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
  /** A bug in pagurus. */
  Internal: 70,
} as const;

export interface CliIo {
  /** Guest serial output (bytes) and command output (text). */
  stdout(data: Uint8Array | string): void;
  stderr(text: string): void;
  /** Host input for COM1 with `--serial stdio`; absent means none. */
  stdin?: NodeJS.ReadableStream;
}

export const USAGE = `usage: pagurus run KERNEL [options]     boot a Multiboot kernel (ELF32 or a.out kludge)
       pagurus demo                    boot the built-in demo guest under the monitor
options:
  --memory SIZE            RAM, e.g. 64M, 512M, 1G (plain numbers are MiB, as QEMU's -m); default 64M
  --append TEXT            kernel command line after the kernel's name
  --module "FILE [ARGS]"   a Multiboot module (repeatable)
  --max-instructions N     stop after N instructions (exit status 6)
  --serial stdio|file:PATH|none   where COM1 goes (default stdio; stdin feeds COM1 input)
  --stats text|json        print instructions, MIPS, exceptions and interrupts by vector on stderr
                           (MIPS: instructions / process CPU time of the run loop, start-up excluded)
  --blocks on|off          compile hot code into JavaScript blocks (default on) or only interpret
  --trace exceptions|io    log every exception/interrupt or every port access on stderr
  --bare                   run the guest directly on the machine (the default)
  --vmm                    run the guest under the pagurus monitor
  --seed N                 seed for the monitor's random choices
exit status: the guest's isa-debug-exit status ((value << 1) | 1), or 0 reset, 2 bad input,
  4 triple fault, 6 instruction limit, 8 halted for good, 10 unimplemented, 70 internal error`;

/** A user error: becomes "pagurus: <message>" and exit status 2. */
class UsageError extends Error {}

interface RunOptions {
  kernel: string;
  memory: number;
  append: string;
  modules: string[];
  maxInstructions: number;
  serial: { kind: "stdio" } | { kind: "file"; path: string } | { kind: "none" };
  stats: "text" | "json" | null;
  blocks: boolean;
  trace: Set<"exceptions" | "io">;
  vmm: boolean;
  seed: number;
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
        o.modules.push(takeValue());
        break;
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

function readUserFile(what: string, path: string): Uint8Array {
  if (!existsSync(path)) throw new UsageError(`${what} '${path}' does not exist`);
  if (statSync(path).isDirectory()) throw new UsageError(`${what} '${path}' is a directory`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${what} '${path}' cannot be read: ${(e as Error).message}`);
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

async function runKernel(
  o: RunOptions,
  io: CliIo,
  boot: Omit<BootOptions, "modules"> & { modules: MultibootModule[] },
): Promise<number> {
  let serialFd: number | null = null;
  if (o.serial.kind === "file") {
    try {
      serialFd = openSync(o.serial.path, "w");
    } catch (e) {
      throw new UsageError(`--serial file '${o.serial.path}' cannot be opened: ${(e as Error).message}`);
    }
  }
  const pending: number[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const bytes = Uint8Array.from(pending);
    pending.length = 0;
    if (serialFd !== null) writeSync(serialFd, bytes);
    else if (o.serial.kind === "stdio") io.stdout(bytes);
  };
  const machine = createMachine({
    memory: o.memory,
    blocks: o.blocks,
    vmm: o.vmm ? { seed: o.seed, onRelocation: o.onRelocation } : undefined,
    onSerialOutput: (byte) => {
      pending.push(byte);
      if (pending.length >= 4096 || byte === 10) flush();
    },
    traceInterrupts: o.trace.has("exceptions") ? (line) => io.stderr(`${line}\n`) : undefined,
    traceIo: o.trace.has("io") ? (line) => io.stderr(`${line}\n`) : undefined,
  });
  try {
    machine.boot(boot);
  } catch (e) {
    if (e instanceof MultibootError) throw new UsageError(`${o.kernel}: ${e.message}`);
    throw e;
  }

  // Host input: COM1 gets stdin's bytes when the serial console is stdio.
  const stdin = o.serial.kind === "stdio" ? io.stdin : undefined;
  let inputEnded = stdin === undefined;
  let wake: (() => void) | null = null;
  const onData = (chunk: Buffer | string) => {
    machine.sendSerial(typeof chunk === "string" ? chunk : chunk.values());
    wake?.();
  };
  const onEnd = () => {
    inputEnded = true;
    wake?.();
  };
  stdin?.on("data", onData);
  stdin?.on("end", onEnd);

  let exit: MachineExit;
  try {
    // Run in slices so stdin's events get through between them.
    for (;;) {
      const limit = Math.min(o.maxInstructions, machine.instructionCount + 20_000_000);
      // Give the host a turn every 20M instructions and every 100 ms of halted guest time.
      exit = machine.run({ maxInstructions: limit, maxHaltedTicks: machine.clock.frequency / 10 });
      flush();
      if ((exit.kind === "instruction-limit" && limit < o.maxInstructions) || exit.kind === "waiting") {
        await new Promise((r) => setImmediate(r));
        continue;
      }
      if (exit.kind === "idle" && !inputEnded) {
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = null;
        continue;
      }
      break;
    }
  } finally {
    stdin?.removeListener("data", onData);
    stdin?.removeListener("end", onEnd);
    stdin?.pause?.();
    flush();
    if (serialFd !== null) closeSync(serialFd);
  }

  if (o.stats !== null) io.stderr(statsReport(machine, exit, o.stats, o.blocks));
  switch (exit.kind) {
    case "debug-exit":
      return exit.code & 0xff;
    case "reset":
      return ExitStatus.Reset;
    case "shutdown":
      io.stderr(`pagurus: triple fault, the CPU shut down (${exit.report})\n${machine.registerDump()}\n`);
      return ExitStatus.TripleFault;
    case "instruction-limit":
      io.stderr(`pagurus: stopped after ${machine.instructionCount} instructions (--max-instructions)\n`);
      return ExitStatus.InstructionLimit;
    case "halted":
      io.stderr("pagurus: the guest halted with interrupts disabled\n");
      return ExitStatus.Halted;
    case "idle":
      io.stderr("pagurus: the guest halted waiting for an interrupt that nothing will raise\n");
      return ExitStatus.Halted;
    case "unimplemented":
      io.stderr(`pagurus: ${exit.report}\n${machine.registerDump()}\n`);
      return ExitStatus.Unimplemented;
  }
}

async function run(args: string[], io: CliIo): Promise<number> {
  const o = parseRun(args);
  const image = readUserFile("kernel", o.kernel);
  const modules = o.modules.map((spec) => {
    const path = spec.includes(" ") ? spec.slice(0, spec.indexOf(" ")) : spec;
    return { string: spec, data: readUserFile("module", path) };
  });
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
        io.stdout(`${USAGE}\n`);
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
    if (e instanceof UsageError) {
      io.stderr(`pagurus: ${e.message}\n`);
      return ExitStatus.Usage;
    }
    const err = e as Error;
    io.stderr(`pagurus: internal error: ${err?.message ?? String(e)}\n`);
    return ExitStatus.Internal;
  }
}
