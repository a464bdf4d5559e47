// Two minimal boards for the monitor's tests: the same guest image run bare on an Ia32Cpu,
// and under the monitor (machine CPU + virtual CPU + core). Guest I/O: port 0xE9 prints a
// byte, port 0xF4 ends the run with that value, as QEMU's debugcon and isa-debug-exit do.
import { IoPortMap, PhysicalMemoryMap } from "@pagurus/bus";
import { Ia32Cpu } from "@pagurus/cpu";
import { Mmu } from "@pagurus/mmu";
import { type InterruptController, Reg, Seg } from "@pagurus/spec";
import { CODE_PAGES, stubImage } from "@pagurus/vmm-stub";
import { GuestMemoryView, GuestTranslation, Monitor, type MonitorStats } from "../src/index.js";

function sameCodePages(bytes: Uint8Array): boolean {
  const image = stubImage();
  return CODE_PAGES.every((page) => {
    const from = page * 4096;
    return Buffer.compare(bytes.subarray(from, from + 4096), image.subarray(from, from + 4096)) === 0;
  });
}

export const GUEST_RAM = 0x4000000; // 64 MiB, as the scenario kernels need
const MONITOR_SIZE = 0x800000;
const LOAD = 0x10000;

export interface RunResult {
  output: string;
  exitCode: number | null;
  /** Why the run ended: "exit", "halted", "shutdown", "fault", "limit". */
  end: string;
  regs: number[];
  eflags: number;
  instructions: number;
  stats?: MonitorStats;
  message?: string | null;
  /** The stub's code pages (entry code and trap entries) are still the image's bytes. */
  stubCodeIntact?: boolean;
}

function guestIo(out: { text: string; exit: number | null }): IoPortMap {
  const io = new IoPortMap();
  // Just enough of COM1 for the test kernels: THR (not while LCR.DLAB selects the divisor
  // latch), LSR always ready; and QEMU's debugcon port 0xE9.
  let lcr = 0;
  const print = {
    read: (port: number) => (port === 0x3fd ? 0x60 : port === 0x3fb ? lcr : 0),
    write: (port: number, _s: number, v: number) => {
      if (port === 0x3fb) lcr = v & 0xff;
      else if (port === 0xe9 || (port === 0x3f8 && (lcr & 0x80) === 0))
        out.text += String.fromCharCode(v & 0xff);
    },
  };
  io.register(0xe9, 1, print);
  io.register(0x3f8, 8, print, { sizes: [1] });
  io.register(0xf4, 1, {
    read: () => 0xff,
    write: (_p, _s, v) => {
      out.exit = v & 0xff;
    },
  });
  return io;
}

/** A guest image: a flat binary loaded at 0x10000, or an ELF32 kernel loaded by its program headers. */
function load(ram: Uint8Array, image: Uint8Array): number {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (view.getUint32(0, false) !== 0x7f454c46) {
    ram.set(image, LOAD);
    return LOAD;
  }
  const phoff = view.getUint32(28, true);
  const phentsize = view.getUint16(42, true);
  for (let i = 0; i < view.getUint16(44, true); i++) {
    const at = phoff + i * phentsize;
    if (view.getUint32(at, true) !== 1) continue; // PT_LOAD
    const offset = view.getUint32(at + 4, true);
    const paddr = view.getUint32(at + 12, true);
    const filesz = view.getUint32(at + 16, true);
    const memsz = view.getUint32(at + 20, true);
    ram.set(image.subarray(offset, offset + filesz), paddr);
    ram.fill(0, paddr + filesz, paddr + memsz);
  }
  return view.getUint32(24, true);
}

/** The state a Multiboot loader leaves: flat 32-bit protected mode, CPL 0, paging off. */
function multibootState(cpu: Ia32Cpu, entry: number): void {
  cpu.setCr(0, 0x11);
  const code = { selector: 0x08, base: 0, limit: 0xffffffff, access: 0xc09b };
  const data = { selector: 0x10, base: 0, limit: 0xffffffff, access: 0xc093 };
  cpu.setSegment(Seg.CS, code);
  for (const seg of [Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS] as const) cpu.setSegment(seg, data);
  cpu.setReg(Reg.EAX, 0x2badb002);
  cpu.setReg(Reg.EBX, 0x9000);
  cpu.eflags = 0x2;
  cpu.eip = entry;
}

function regsOf(cpu: Ia32Cpu): number[] {
  return [0, 1, 2, 3, 4, 5, 6, 7].map((r) => cpu.getReg(r as 0));
}

/** What a test may change before the guest starts: RAM size, and the CPU and RAM it starts with. */
export interface GuestSetup {
  ramSize?: number;
  prepare?: (cpu: Ia32Cpu, ram: Uint8Array) => void;
}

export function runBare(image: Uint8Array, limit = 200_000_000, setup: GuestSetup = {}): RunResult {
  const memory = new PhysicalMemoryMap({ ramSize: setup.ramSize ?? GUEST_RAM });
  const entry = load(memory.ram, image);
  const out = { text: "", exit: null as number | null };
  const cpu = new Ia32Cpu({ memory, io: guestIo(out), translation: new Mmu(memory) });
  multibootState(cpu, entry);
  setup.prepare?.(cpu, memory.ram);
  let end = "limit";
  while (cpu.instructionCount < limit) {
    const reason = cpu.run({ instructions: 10_000 });
    if (out.exit !== null) {
      end = "exit";
      break;
    }
    if (reason === "shutdown" || reason === "halt") {
      end = reason === "halt" ? "halted" : reason; // the monitor's word for it
      break;
    }
  }
  return {
    output: out.text,
    exitCode: out.exit,
    end,
    regs: regsOf(cpu),
    eflags: cpu.eflags,
    instructions: cpu.instructionCount,
    message: cpu.shutdownReport,
  };
}

export function runMonitored(
  image: Uint8Array,
  options: { seed?: number; limit?: number; traceMachine?: (line: string) => void } & GuestSetup = {},
): RunResult {
  const limit = options.limit ?? 400_000_000;
  const ramSize = options.ramSize ?? GUEST_RAM;
  const host = new PhysicalMemoryMap({ ramSize: ramSize + MONITOR_SIZE });
  const entry = load(host.ram, image);
  const out = { text: "", exit: null as number | null };
  const guestMemory = new GuestMemoryView(host, ramSize);
  const guestTranslation = new GuestTranslation(new Mmu(guestMemory));
  const guest = new Ia32Cpu({ memory: guestMemory, io: guestIo(out), translation: guestTranslation });
  multibootState(guest, entry);
  options.prepare?.(guest, host.ram.subarray(0, ramSize));
  const noInterrupts: InterruptController = { pending: false, acknowledge: () => 0 };

  let monitor: Monitor | null = null;
  const machineIo = new IoPortMap();
  const machine = new Ia32Cpu(
    {
      memory: host,
      io: machineIo,
      translation: new Mmu(host),
      interrupts: {
        get pending() {
          return monitor?.machineInterrupts.pending ?? false;
        },
        acknowledge: () => monitor!.machineInterrupts.acknowledge(),
      },
    },
    { virtualizationAssist: true },
  );
  monitor = new Monitor({
    machine,
    memory: host,
    guest,
    guestTranslation,
    guestInterrupts: noInterrupts,
    guestRamSize: ramSize,
    monitorBase: ramSize,
    monitorSize: MONITOR_SIZE,
    seed: options.seed ?? 1,
  });
  machineIo.register(monitor.hostCallPort, 4, monitor.hostCallHandler, { name: "host call" });
  const trace = options.traceMachine;
  if (trace !== undefined) {
    machine.hooks.interrupt = (vector, error, kind) => {
      trace(
        `${kind} ${vector} error ${error.toString(16)} at ${machine.getSegment(Seg.CS).selector.toString(16)}:${machine.eip.toString(16)} cpl ${machine.cpl}`,
      );
      return undefined;
    };
  }
  monitor.start();

  let end = "limit";
  while (machine.instructionCount < limit) {
    const before = machine.instructionCount;
    const reason = machine.run({ instructions: 10_000 });
    const status = monitor.service();
    if (out.exit !== null) {
      end = "exit";
      break;
    }
    if (status === "fault" || status === "shutdown" || status === "halted") {
      end = status;
      break;
    }
    if (reason === "shutdown" || reason === "halt") {
      end = `machine ${reason}: ${machine.shutdownReport ?? ""}`;
      break;
    }
    monitor.poll(machine.instructionCount - before);
  }
  return {
    output: out.text,
    exitCode: out.exit,
    end,
    regs: regsOf(guest),
    eflags: guest.eflags,
    instructions: machine.instructionCount,
    stats: monitor.stats(),
    message: monitor.message,
    stubCodeIntact: sameCodePages(monitor.stubBytes()),
  };
}
