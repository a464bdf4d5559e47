/**
 * The PC board: the one place that wires concrete pagurus parts together (docs/architecture.md section 2).
 * RAM from address 0, the ISA devices of a PC at their usual ports and IRQs, the 8259A pair
 * feeding the CPU's INTR pin, and a run loop that alternates CPU slices with the virtual clock's
 * deadlines (one clock tick per instruction, so a run is reproducible).
 */
import { IoPortMap, PhysicalMemoryMap } from "@pagurus/bus";
import { Ia32Cpu } from "@pagurus/cpu";
import {
  I8042,
  IsaDebugExit,
  Pit8254,
  Port92,
  Rtc,
  SystemControlPortB,
  Uart16550,
  VirtualClock,
  WallClockPacer,
} from "@pagurus/devices";
import { Mmu } from "@pagurus/mmu";
import { DualPic } from "@pagurus/pic";
import type {
  AccessSize,
  Clock,
  InterruptKind,
  IoBus,
  IoPortHandler,
  IrqLine,
  SegmentState,
  Timer,
} from "@pagurus/spec";
import { Eflags, Reg, Seg } from "@pagurus/spec";
import type { MonitorRelocation } from "@pagurus/vmm-core";
import { MonitorMode } from "./monitored.js";
import {
  loadMultiboot,
  MAX_MEMORY,
  MIN_MEMORY,
  MULTIBOOT_BOOTLOADER_MAGIC,
  type MultibootBoot,
  type MultibootModule,
} from "./multiboot.js";

/** Default RAM: 64 MiB. */
export const DEFAULT_MEMORY = 64 * 1024 * 1024;
export { MAX_MEMORY } from "./multiboot.js";

export interface MachineOptions {
  /** RAM in bytes, a multiple of 4 KiB, at least 2 MiB (default {@link DEFAULT_MEMORY}). */
  memory?: number;
  /**
   * Each byte the guest sends on COM1. Return false when the host cannot take more for now:
   * COM1's THR then reads full to the guest until {@link Machine.serialReady}.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a callback that returns nothing must fit; only false counts
  onSerialOutput?: (byte: number) => boolean | void;
  /** Guest time at clock tick 0 for the RTC (default 2026-01-01T00:00:00Z, so runs repeat). */
  rtcStartTime?: Date | number | "host";
  /** Lines for `--trace exceptions` (every exception, INT n and external interrupt). */
  traceInterrupts?: (line: string) => void;
  /** Lines for `--trace io` (every port access, after the CPU's permission checks). */
  traceIo?: (line: string) => void;
  /** Instructions per CPU slice between looks at the clock and host events (default 1,000,000). */
  slice?: number;
  /**
   * Compile hot straight-line code into JavaScript blocks (`--blocks on`, the default), or
   * only interpret (`--blocks off`), on every CPU of the machine (@pagurus/cpu README, "Speed").
   */
  blocks?: boolean;
  /**
   * Run the guest under the pagurus monitor (`--vmm`): the guest's CPU becomes the monitor's
   * virtual CPU and a second CPU runs the guest deprivileged (docs/monitor.md).
   */
  vmm?: { seed?: number; onRelocation?: (event: MonitorRelocation) => void };
  /**
   * Guest time (`--clock`). "virtual" (the default): one clock tick per instruction, and a
   * halted CPU jumps to its next timer at once, so a run repeats exactly. "host": guest time is
   * paced to wall time: a halted CPU waits in real time for its next timer (see
   * {@link Machine.runUntilIdle}) and a guest running behind catches up.
   */
  clock?: ClockMode;
}

/** See {@link MachineOptions.clock}. */
export type ClockMode = "virtual" | "host";

/** The kernel and what goes with it, as `pagurus run` and QEMU's `-kernel` take them. */
export interface BootOptions {
  image: Uint8Array;
  /** The kernel's path as given; the Multiboot command line starts with it, as QEMU and GRUB do. */
  path: string;
  /** The rest of the command line (`--append`). */
  append?: string;
  modules?: readonly MultibootModule[];
}

/** Why {@link Machine.run} returned. */
export type MachineExit =
  /** The guest wrote to isa-debug-exit: `code` is `(value << 1) | 1`, as QEMU exits with. */
  | { readonly kind: "debug-exit"; readonly code: number }
  /** Triple fault: the CPU shut down. */
  | { readonly kind: "shutdown"; readonly report: string }
  /** The guest asked for a reset (port 0x92, the i8042); like QEMU with -no-reboot, the run ends. */
  | { readonly kind: "reset" }
  /**
   * HLT that nothing can end: interrupts disabled, or every interrupt line that a device could
   * raise masked at the PIC.
   */
  | { readonly kind: "halted" }
  /**
   * HLT with interrupts enabled and no armed timer whose interrupt could reach the CPU: only
   * host input (COM1's IRQ 4 is unmasked) could wake it. {@link Machine.sendSerial}, then run again.
   */
  | { readonly kind: "idle" }
  /**
   * The CPU is halted and its next timer lies ahead: it stayed halted
   * {@link RunLimits.maxHaltedTicks}, or (host clock) the timer is not due in wall time yet.
   * Run again, after {@link Machine.wallDelayMs} under the host clock; {@link Machine.runUntilIdle}
   * does both.
   */
  | { readonly kind: "waiting" }
  /** {@link Machine.requestStop} was called (from a hook, a device callback or the host). */
  | { readonly kind: "stopped" }
  /** The instruction limit given to {@link Machine.run} was reached. */
  | { readonly kind: "instruction-limit" }
  /** The CPU stopped on something it does not implement. */
  | { readonly kind: "unimplemented"; readonly report: string };

export interface RunLimits {
  /**
   * Stop after this many instructions in total since the machine was built. While the CPU is
   * halted, clock ticks count against what is left, so a run with this limit always returns
   * (with "instruction-limit", or "waiting" if the CPU is halted).
   */
  maxInstructions?: number;
  /**
   * Return "waiting" once the CPU has been halted this many clock ticks in this call (default:
   * the instructions left under {@link maxInstructions}, else never).
   */
  maxHaltedTicks?: number;
}

/** Counts for `--stats`. */
export interface MachineStats {
  instructions: number;
  /** Wall-clock milliseconds spent in {@link Machine.run}. */
  runMilliseconds: number;
  /**
   * Process CPU milliseconds (user + system) spent in {@link Machine.run}, as `pnpm bench`
   * measures: less disturbed by other load on the host than wall time. Wall time where the
   * host has no process CPU clock (a browser).
   */
  runCpuMilliseconds: number;
  exceptions: Map<number, number>;
  softwareInterrupts: Map<number, number>;
  externalInterrupts: Map<number, number>;
}

/**
 * A device's view of the board clock that counts the device's armed timers, so that a halted
 * CPU can tell whether anything could still raise that device's interrupt.
 */
class CountedClock implements Clock {
  armed = 0;
  constructor(private readonly clock: VirtualClock) {}
  get now(): number {
    return this.clock.now;
  }
  get frequency(): number {
    return this.clock.frequency;
  }
  schedule(at: number, fn: () => void): Timer {
    let live = true;
    this.armed++;
    const timer = this.clock.schedule(at, () => {
      live = false;
      this.armed--;
      fn();
    });
    return {
      cancel: () => {
        if (live) this.armed--;
        live = false;
        timer.cancel();
      },
    };
  }
}

/** Flat 4 GiB segments as QEMU's Multiboot option ROM leaves them (its GDT: 0x08 code, 0x10 data). */
const FLAT_CODE: SegmentState = { selector: 0x08, base: 0, limit: 0xffffffff, access: 0xc09b };
const FLAT_DATA: SegmentState = { selector: 0x10, base: 0, limit: 0xffffffff, access: 0xc093 };
/**
 * The loader's own GDT (null, code 0x08, data 0x10), in memory a Multiboot kernel must not
 * assume valid (Multiboot 3.2: "GDTR may be invalid"). It sits in the reserved BIOS area
 * below 1 MiB where QEMU's option ROM keeps its copy.
 */
const BOOT_GDT_ADDRESS = 0xeff00;
/** CR0 after QEMU's option ROM: PE, plus ET which a P6 keeps set. */
const BOOT_CR0 = 0x00000011;
/** Initial stack: undefined by Multiboot; below the 0x9000 information area. */
const BOOT_ESP = 0x7000;

/** Process CPU time (user + system) in milliseconds, or null where the host has none. */
function processCpuMilliseconds(): number | null {
  const p = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } }).process;
  if (p?.cpuUsage === undefined) return null;
  const u = p.cpuUsage();
  return (u.user + u.system) / 1000;
}

function hex(v: number, digits = 8): string {
  return (v >>> 0).toString(16).padStart(digits, "0");
}

/** An {@link IoBus} that reports each access before passing it on (`--trace io`). */
class TracingIoBus implements IoBus {
  constructor(
    private readonly bus: IoBus,
    private readonly trace: (line: string) => void,
  ) {}
  private log(dir: string, port: number, size: AccessSize, value: number): number {
    this.trace(`io ${dir}${size * 8} port ${hex(port, 4)} value ${hex(value, size * 2)}`);
    return value;
  }
  in8(port: number): number {
    return this.log("in", port, 1, this.bus.in8(port));
  }
  in16(port: number): number {
    return this.log("in", port, 2, this.bus.in16(port));
  }
  in32(port: number): number {
    return this.log("in", port, 4, this.bus.in32(port));
  }
  out8(port: number, value: number): void {
    this.log("out", port, 1, value);
    this.bus.out8(port, value);
  }
  out16(port: number, value: number): void {
    this.log("out", port, 2, value);
    this.bus.out16(port, value);
  }
  out32(port: number, value: number): void {
    this.log("out", port, 4, value);
    this.bus.out32(port, value);
  }
}

/** A device with the list of ports it decodes, as every @pagurus/devices part has. */
interface PortDevice extends IoPortHandler {
  readonly ports: readonly { readonly base: number; readonly count: number }[];
}

/** A bootable PC built from the pagurus packages; see {@link createMachine}. */
export class Machine {
  readonly memory: PhysicalMemoryMap;
  readonly io: IoPortMap;
  readonly clock: VirtualClock;
  readonly pic: DualPic;
  readonly mmu: Mmu;
  readonly cpu: Ia32Cpu;
  readonly pit: Pit8254;
  readonly uart: Uart16550;
  readonly rtc: Rtc;
  readonly port92: Port92;
  readonly i8042: I8042;
  readonly debugExit: IsaDebugExit;
  readonly memorySize: number;
  readonly stats: MachineStats = {
    instructions: 0,
    runMilliseconds: 0,
    runCpuMilliseconds: 0,
    exceptions: new Map(),
    softwareInterrupts: new Map(),
    externalInterrupts: new Map(),
  };
  private exit: MachineExit | null = null;
  private readonly slice: number;
  /** The host clock's pacing, or null under the virtual clock. */
  private readonly pacer: WallClockPacer | null;
  /**
   * Whether the pacer's wall-time origin is set: at the first run, not at construction or boot,
   * so the time the host spends building and loading the machine is not owed to the guest as
   * guest time it must jump over.
   */
  private pacing = false;
  /** Timers armed by the devices that drive IRQ 0 (PIT), 4 (COM1) and 8 (RTC). */
  private readonly timers: { pit: CountedClock; uart: CountedClock; rtc: CountedClock };
  /** Wakes {@link runUntilIdle} from a wall-clock wait when host input arrives. */
  private wake: (() => void) | null = null;
  /** Monitor mode's machine and monitor, or null on the bare machine. */
  readonly monitorMode: MonitorMode | null;

  constructor(options: MachineOptions = {}) {
    const memory = options.memory ?? DEFAULT_MEMORY;
    if (!Number.isInteger(memory) || memory % 4096 !== 0 || memory < MIN_MEMORY || memory > MAX_MEMORY) {
      throw new RangeError(`memory must be a multiple of 4 KiB from 2 MiB to 2 GiB, got ${memory}`);
    }
    this.memorySize = memory;
    this.slice = options.slice ?? 1_000_000;
    const cpuOptions = options.blocks === false ? { blockThreshold: 0 } : {};
    const vmm = options.vmm ? new MonitorMode({ memory, cpuOptions, ...options.vmm }) : null;
    this.monitorMode = vmm;
    // Under the monitor, RAM is the host's: the guest's at [0, memory), the monitor's above.
    this.memory = vmm ? vmm.host : new PhysicalMemoryMap({ ramSize: memory });
    this.io = new IoPortMap();
    this.clock = new VirtualClock();
    this.pacer = options.clock === "host" ? new WallClockPacer(this.clock, () => performance.now()) : null;
    this.timers = {
      pit: new CountedClock(this.clock),
      uart: new CountedClock(this.clock),
      rtc: new CountedClock(this.clock),
    };
    // The PIC drives the CPU's INTR pin, and the CPU acknowledges through the PIC: build the
    // PIC with a line that reaches the CPU once it exists. Under the monitor the PIC belongs to
    // the virtual CPU too: the monitor lets it take interrupts where the guest can.
    let intr: IrqLine | null = null;
    this.pic = new DualPic({ set: (level) => intr?.set(level) });
    this.mmu = vmm ? vmm.guestMmu : new Mmu(this.memory);
    const io: IoBus = options.traceIo ? new TracingIoBus(this.io, options.traceIo) : this.io;
    this.cpu = vmm
      ? new Ia32Cpu(
          { memory: vmm.guestMemory, io, translation: vmm.guestTranslation, interrupts: this.pic },
          cpuOptions,
        )
      : new Ia32Cpu({ memory: this.memory, io, translation: this.mmu, interrupts: this.pic }, cpuOptions);
    intr = this.cpu.intr;
    vmm?.attach(this.cpu, this.pic);
    // The A20 gate is the guest's: under the monitor it also reaches the shadow page tables.
    const a20: IrqLine = vmm
      ? {
          set: (level) => {
            this.cpu.a20.set(level);
            vmm.monitor.setGuestA20(level);
          },
        }
      : this.cpu.a20;

    const reset: IrqLine = {
      set: (level) => {
        if (level) this.stop({ kind: "reset" });
      },
    };
    this.pit = new Pit8254({ clock: this.timers.pit, irq: this.pic.irq(0) });
    // QEMU's serial.c ignores MCR.OUT2; so does this board, so that kernels behave the same.
    this.uart = new Uart16550({
      base: 0x3f8,
      irq: this.pic.irq(4),
      clock: this.timers.uart,
      onTransmit: options.onSerialOutput,
      out2GatesIrq: false,
    });
    this.rtc = new Rtc({ clock: this.timers.rtc, irq: this.pic.irq(8), startTime: options.rtcStartTime });
    this.rtc.setMemorySize(memory);
    this.port92 = new Port92({ a20, reset });
    this.i8042 = new I8042({ irq: this.pic.irq(1), irqAux: this.pic.irq(12), a20, reset });
    this.debugExit = new IsaDebugExit({ onExit: (code) => this.stop({ kind: "debug-exit", code }) });
    const add = (name: string, device: PortDevice) => {
      for (const r of device.ports) this.io.register(r.base, r.count, device, { name });
    };
    this.io.register(0x20, 2, this.pic, { name: "pic-master" });
    this.io.register(0xa0, 2, this.pic, { name: "pic-slave" });
    this.io.register(0x4d0, 2, this.pic, { name: "elcr" });
    add("pit", this.pit);
    add("port61", new SystemControlPortB(this.pit));
    add("uart-com1", this.uart);
    add("rtc", this.rtc);
    add("port92", this.port92);
    add("i8042", this.i8042);
    add("isa-debug-exit", this.debugExit);

    const trace = options.traceInterrupts;
    this.cpu.hooks.interrupt = (vector: number, errorCode: number, kind: InterruptKind) => {
      const counts =
        kind === "exception"
          ? this.stats.exceptions
          : kind === "software"
            ? this.stats.softwareInterrupts
            : this.stats.externalInterrupts;
      counts.set(vector, (counts.get(vector) ?? 0) + 1);
      if (trace) {
        const cs = this.cpu.getSegment(Seg.CS).selector;
        const extra =
          kind === "exception"
            ? ` error ${hex(errorCode)}${vector === 14 ? ` cr2 ${hex(this.cpu.getCr(2))}` : ""}`
            : "";
        trace(`${kind} vector ${hex(vector, 2)}${extra} at ${hex(cs, 4)}:${hex(this.cpu.eip)}`);
      }
      return undefined; // count only: the CPU delivers it through the IDT
    };
    this.cpu.a20.set(true);
  }

  /**
   * Ends the current (or next) {@link run} with "stopped" at the next instruction boundary:
   * for the host (Ctrl-A x, a closed output, a signal) and for callbacks that run inside it.
   */
  requestStop(): void {
    this.stop({ kind: "stopped" });
    this.wake?.();
  }

  private stop(exit: MachineExit): void {
    if (this.exit === null) this.exit = exit;
    this.cpu.requestStop();
    this.monitorMode?.machine.requestStop();
  }

  /** Instructions executed since the machine was built (the machine CPU's under the monitor). */
  get instructionCount(): number {
    return this.executing.instructionCount;
  }

  /** The CPU that executes: the machine's under the monitor, else the guest's own. */
  private get executing(): Ia32Cpu {
    return this.monitorMode?.machine ?? this.cpu;
  }

  /**
   * Loads a Multiboot kernel and sets the machine state a Multiboot loader promises (Multiboot
   * 3.2) the way QEMU leaves it: EAX magic, EBX info, flat CS/DS/ES/FS/GS/SS, CR0.PE with paging
   * off, IF clear, A20 enabled.
   */
  boot(options: BootOptions): MultibootBoot {
    const memory = this.memory;
    const boot = loadMultiboot(
      {
        image: options.image,
        cmdline: `${options.path} ${options.append ?? ""}`,
        modules: options.modules,
        memorySize: this.memorySize,
      },
      { writeBytes: (address, bytes) => memory.load(address, bytes) },
    );
    const gdt = new Uint8Array(24);
    const view = new DataView(gdt.buffer);
    view.setBigUint64(8, 0x00cf9a000000ffffn, true);
    view.setBigUint64(16, 0x00cf92000000ffffn, true);
    memory.load(BOOT_GDT_ADDRESS, gdt);
    const cpu = this.cpu;
    cpu.reset();
    cpu.setCr(0, BOOT_CR0);
    cpu.gdtr = { base: BOOT_GDT_ADDRESS, limit: gdt.length - 1 };
    cpu.idtr = { base: 0, limit: 0x3ff };
    cpu.setSegment(Seg.CS, FLAT_CODE);
    for (const seg of [Seg.DS, Seg.ES, Seg.FS, Seg.GS, Seg.SS]) cpu.setSegment(seg, FLAT_DATA);
    cpu.eflags = 0x2;
    cpu.setReg(Reg.EAX, MULTIBOOT_BOOTLOADER_MAGIC);
    cpu.setReg(Reg.EBX, boot.infoAddress);
    cpu.setReg(Reg.ESP, BOOT_ESP);
    cpu.eip = boot.entry;
    this.firmwareState();
    // The monitor takes over the guest exactly as the loader left it.
    this.monitorMode?.monitor.start();
    return boot;
  }

  /**
   * What the BIOS leaves behind on QEMU (SeaBIOS before its Multiboot option ROM runs), so a
   * kernel that enables interrupts before reprogramming the chips sees the same machine: the
   * 8259As at vectors 0x08 and 0x70 with IRQ 0, 1, 2, 6, 8, 12, 13, 14 unmasked, PIT counter 0
   * as an 18.2 Hz rate generator, the i8042 command byte 0x61, A20 enabled through port 0x92.
   * tooling/guests/kernels/bios_state.asm prints these on both machines.
   */
  private firmwareState(): void {
    const out = (port: number, value: number) => this.io.out8(port, value);
    out(0x20, 0x11); // ICW1: edge triggered, cascade, ICW4 follows
    out(0x21, 0x08); // ICW2: vector base
    out(0x21, 0x04); // ICW3: slave on IR2
    out(0x21, 0x01); // ICW4: 8086 mode
    out(0xa0, 0x11);
    out(0xa1, 0x70);
    out(0xa1, 0x02);
    out(0xa1, 0x01);
    out(0x21, 0xb8);
    out(0xa1, 0x8e);
    out(0x43, 0x34); // counter 0, lobyte/hibyte, mode 2
    out(0x40, 0x00); // count 0 = 65536: 18.2 Hz
    out(0x40, 0x00);
    out(0x64, 0x60); // write the command byte
    out(0x60, 0x61);
    out(0x92, 0x02); // A20 on (port 0x92 then reads back 0x02, as on QEMU)
  }

  /** Host side of COM1: bytes for the guest to receive. */
  sendSerial(bytes: Iterable<number> | string): void {
    this.uart.receive(bytes);
    this.wake?.();
  }

  /** Host side of COM1: the output line takes bytes again (after onSerialOutput returned false). */
  serialReady(): void {
    this.uart.transmitReady();
  }

  /**
   * Under the host clock, how long in wall time until the halted CPU's next timer is due (0
   * under the virtual clock or when it is due already): how long a "waiting" run should sleep.
   */
  get wallDelayMs(): number {
    if (this.pacer === null) return 0;
    const ticks = this.clock.nextDeadline - this.pacer.hostTick;
    if (ticks === Number.POSITIVE_INFINITY) return Number.POSITIVE_INFINITY;
    return Math.max(0, (ticks * 1000) / this.clock.frequency, this.pacer.aheadMs);
  }

  /**
   * Runs like {@link run}, in slices with a turn for the host's events between them, and never
   * spins: a halted CPU under the host clock sleeps until its next timer is due in wall time or
   * host input arrives ({@link sendSerial}). Resolves with the first exit other than "waiting":
   * "idle" means only host input could wake the guest now.
   */
  async runUntilIdle(limits: RunLimits = {}): Promise<MachineExit> {
    const maxInstructions = limits.maxInstructions ?? Number.POSITIVE_INFINITY;
    // Slices of about 20 ms of wall time, so the host's events (input, a closed output, a
    // signal) wait no longer than that whatever the guest's speed.
    let instructions = 1_000_000;
    for (;;) {
      const slice = Math.min(maxInstructions, this.instructionCount + instructions);
      const started = performance.now();
      const exit = this.run({
        maxInstructions: slice,
        maxHaltedTicks: Math.min(
          limits.maxHaltedTicks ?? Number.POSITIVE_INFINITY,
          this.clock.frequency / 10,
        ),
      });
      const ms = performance.now() - started;
      if (ms > 0)
        instructions = Math.round(Math.min(50_000_000, Math.max(100_000, (instructions * 20) / ms)));
      if (exit.kind === "waiting") {
        if (limits.maxHaltedTicks !== undefined) return exit;
        await this.sleep(Math.min(this.wallDelayMs, 100));
        continue;
      }
      if (exit.kind === "instruction-limit" && slice < maxInstructions) {
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      return exit;
    }
  }

  /** A wall-clock wait that {@link sendSerial} or {@link requestStop} cut short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  /**
   * Runs until the guest ends the run, a limit is reached, or the CPU idles waiting for host
   * input ("idle": call {@link sendSerial} and run again).
   */
  run(limits: RunLimits = {}): MachineExit {
    if (this.pacer !== null && !this.pacing) {
      this.pacer.resync();
      this.pacing = true;
    }
    const start = performance.now();
    const startCpu = processCpuMilliseconds();
    const startCount = this.executing.instructionCount;
    const maxInstructions = limits.maxInstructions ?? Number.POSITIVE_INFINITY;
    const maxHaltedTicks = limits.maxHaltedTicks ?? Math.max(0, maxInstructions - startCount);
    try {
      return this.monitorMode
        ? this.loopMonitored(this.monitorMode, maxInstructions, maxHaltedTicks)
        : this.loop(maxInstructions, maxHaltedTicks);
    } finally {
      this.stats.instructions += this.executing.instructionCount - startCount;
      const wall = performance.now() - start;
      this.stats.runMilliseconds += wall;
      this.stats.runCpuMilliseconds += startCpu === null ? wall : (processCpuMilliseconds() ?? 0) - startCpu;
    }
  }

  /**
   * The guest's CPU is halted: nothing runs, so jump to the next timer, which may raise an IRQ.
   * Returns the halted ticks so far, or how the run ends (HLT with IF clear, no timer at all,
   * or the halted-time limit reached).
   */
  private waitHalted(halted: number, maxHaltedTicks: number): MachineExit | number {
    if ((this.cpu.eflags & Eflags.IF) === 0) return { kind: "halted" };
    const wakers = this.wakers();
    if (wakers === "none") return { kind: "halted" };
    if (wakers === "host-input") return { kind: "idle" };
    const clock = this.clock;
    let next = clock.nextDeadline;
    // Under the host clock a halted CPU gets no further than wall time: the caller sleeps.
    if (this.pacer !== null) {
      const host = this.pacer.hostTick;
      if (next > host) {
        if (host > clock.now) clock.advance(host - clock.now);
        return { kind: "waiting" };
      }
      next = Math.max(next, clock.now);
    }
    const skip = Math.max(0, next - clock.now);
    if (halted + skip > maxHaltedTicks) return { kind: "waiting" };
    clock.advance(skip);
    return halted + skip;
  }

  /**
   * What could end a HLT with IF set (SDM Vol. 3A 9.x: only an interrupt, NMI, SMI, INIT or
   * reset; only the PIC's INTR exists here): "timer" when a device with an armed timer drives
   * an unmasked IRQ (PIT 0, COM1 4, RTC 8) or an interrupt is requested already, "host-input"
   * when only bytes from the host could (COM1's IRQ 4 or the i8042's 1 and 12 unmasked), else
   * "none". The ISR's priority is not looked at: an unacknowledged interrupt may still block
   * what is counted here, so this errs on the side of waiting.
   */
  private wakers(): "timer" | "host-input" | "none" {
    if (this.pic.pending) return "timer";
    const state = this.pic.save();
    const unmasked = (irq: number): boolean =>
      irq < 8
        ? ((state.master.imr >> irq) & 1) === 0
        : ((state.master.imr >> 2) & 1) === 0 && ((state.slave.imr >> (irq - 8)) & 1) === 0;
    const t = this.timers;
    if (
      (unmasked(0) && t.pit.armed > 0) ||
      (unmasked(4) && t.uart.armed > 0) ||
      (unmasked(8) && t.rtc.armed > 0)
    ) {
      return "timer";
    }
    return unmasked(4) || unmasked(1) || unmasked(12) ? "host-input" : "none";
  }

  private loop(maxInstructions: number, maxHaltedTicks: number): MachineExit {
    const cpu = this.cpu;
    const clock = this.clock;
    let halted = 0;
    for (;;) {
      if (this.exit !== null) return this.exit;
      const left = maxInstructions - cpu.instructionCount;
      if (left <= 0) return { kind: "instruction-limit" };
      const untilDeadline = Math.max(1, clock.nextDeadline - clock.now);
      const budget = Math.min(untilDeadline, this.slice, left);
      const before = cpu.instructionCount;
      const reason = cpu.run({ instructions: budget });
      const ran = cpu.instructionCount - before;
      if (ran > 0) clock.advance(ran);
      this.catchUp();
      if (this.exit !== null) return this.exit;
      switch (reason) {
        case "budget":
        case "stop":
        case "address":
          continue;
        case "halt": {
          const waited = this.waitHalted(halted, maxHaltedTicks);
          if (typeof waited !== "number") return waited;
          halted = waited;
          continue;
        }
        case "shutdown":
          return this.guestShutdown(null);
      }
    }
  }

  /**
   * The run loop under the monitor: the machine CPU runs the guest deprivileged; the monitor
   * services the stub's host calls between slices, takes the PIC's interrupts, and says when
   * the guest halted (it then waits on the clock as a bare CPU would). Instruction counts and
   * time are the machine's: the stub's instructions take time too.
   */
  private loopMonitored(mode: MonitorMode, maxInstructions: number, maxHaltedTicks: number): MachineExit {
    const machine = mode.machine;
    const monitor = mode.monitor;
    const clock = this.clock;
    let halted = 0;
    for (;;) {
      if (this.exit !== null) return this.exit;
      const left = maxInstructions - machine.instructionCount;
      if (left <= 0) return { kind: "instruction-limit" };
      if (monitor.status === "halted") {
        const waited = this.waitHalted(halted, maxHaltedTicks);
        if (typeof waited !== "number") return waited;
        halted = waited;
        monitor.poll(0);
        continue;
      }
      const budget = Math.min(Math.max(1, clock.nextDeadline - clock.now), this.slice, left);
      if (monitor.emulating) {
        // Real mode: the monitor interprets the guest on the virtual CPU.
        const ran = monitor.emulate(budget);
        if (ran > 0) clock.advance(ran);
        if (this.exit !== null) return this.exit;
        if (monitor.status === "shutdown") return this.guestShutdown(monitor.message);
        monitor.poll(ran);
        continue;
      }
      const before = machine.instructionCount;
      const reason = machine.run({ instructions: budget });
      const ran = machine.instructionCount - before;
      if (ran > 0) clock.advance(ran);
      this.catchUp();
      const status = monitor.service();
      if (this.exit !== null) return this.exit;
      if (status === "shutdown") return this.guestShutdown(monitor.message);
      if (status === "fault") return { kind: "unimplemented", report: monitor.message ?? "monitor fault" };
      if (reason === "shutdown" || reason === "halt") {
        return {
          kind: "unimplemented",
          report: `the machine CPU stopped under the monitor (${reason}): ${machine.shutdownReport ?? "no report"}`,
        };
      }
      monitor.poll(ran);
    }
  }

  /** Under the host clock, a guest that ran slower than wall time has its clock moved up to it. */
  private catchUp(): void {
    if (this.pacer === null) return;
    const host = this.pacer.hostTick;
    if (host > this.clock.now) this.clock.advance(host - this.clock.now);
  }

  /** How a run ends when the guest's CPU shut down: a triple fault, or something it lacks. */
  private guestShutdown(fallback: string | null): MachineExit {
    const report = this.cpu.shutdownReport ?? fallback ?? "triple fault";
    return this.cpu.inShutdown ? { kind: "shutdown", report } : { kind: "unimplemented", report };
  }

  /** The general, segment and control registers, for a triple fault's report. */
  registerDump(): string {
    const c = this.cpu;
    const r = (n: keyof typeof Reg) => `${n}=${hex(c.getReg(Reg[n]))}`;
    const seg = (n: keyof typeof Seg) => {
      const s = c.getSegment(Seg[n]);
      return `${n.padEnd(4)}=${hex(s.selector, 4)} base ${hex(s.base)} limit ${hex(s.limit)} access ${hex(s.access, 4)}`;
    };
    return [
      `${r("EAX")} ${r("EBX")} ${r("ECX")} ${r("EDX")}`,
      `${r("ESI")} ${r("EDI")} ${r("EBP")} ${r("ESP")}`,
      `EIP=${hex(c.eip)} EFLAGS=${hex(c.eflags)} CPL=${c.cpl}`,
      ...(["CS", "SS", "DS", "ES", "FS", "GS", "LDTR", "TR"] as const).map(seg),
      `GDTR=${hex(c.gdtr.base)}+${hex(c.gdtr.limit, 4)} IDTR=${hex(c.idtr.base)}+${hex(c.idtr.limit, 4)}`,
      `CR0=${hex(c.getCr(0))} CR2=${hex(c.getCr(2))} CR3=${hex(c.getCr(3))} CR4=${hex(c.getCr(4))}`,
      `instructions=${c.instructionCount}`,
    ].join("\n");
  }
}

/** Builds a PC: see {@link MachineOptions}; then {@link Machine.boot} a kernel and {@link Machine.run}. */
export function createMachine(options: MachineOptions = {}): Machine {
  return new Machine(options);
}
