/**
 * The board's monitor mode (`--vmm`): the same guest devices, but the guest's CPU becomes the
 * monitor's virtual CPU and a second CPU, the machine's, runs the guest deprivileged under the
 * pagurus monitor (docs/monitor.md). Only this app wires the concrete parts together.
 */
import { IoPortMap, PhysicalMemoryMap } from "@pagurus/bus";
import { Ia32Cpu, type Ia32CpuOptions } from "@pagurus/cpu";
import { Mmu } from "@pagurus/mmu";
import type { InterruptController } from "@pagurus/spec";
import { GuestMemoryView, GuestTranslation, Monitor, type MonitorRelocation } from "@pagurus/vmm-core";

/** Host-physical memory the monitor keeps above the guest's RAM: stub, VMM tables, shadows. */
export const MONITOR_MEMORY = 16 * 1024 * 1024;

export interface MonitorModeOptions {
  /** The guest's RAM in bytes. */
  memory: number;
  seed?: number;
  onRelocation?: (event: MonitorRelocation) => void;
  /** Options for the machine CPU besides virtualizationAssist (compiled blocks on or off). */
  cpuOptions?: Ia32CpuOptions;
}

/** The machine under the guest, and the monitor between them. */
export class MonitorMode {
  /** Host-physical memory: guest RAM, then the monitor's frames. */
  readonly host: PhysicalMemoryMap;
  /** Guest-physical memory as the virtual CPU sees it (guest RAM only). */
  readonly guestMemory: GuestMemoryView;
  /** The guest's own paging unit, walking the guest's tables for the virtual CPU. */
  readonly guestMmu: Mmu;
  readonly guestTranslation: GuestTranslation;
  /** The machine CPU: the hardware the guest really runs on, deprivileged. */
  readonly machine: Ia32Cpu;
  private readonly machineIo = new IoPortMap();
  private monitorValue: Monitor | null = null;

  constructor(private readonly options: MonitorModeOptions) {
    this.host = new PhysicalMemoryMap({ ramSize: options.memory + MONITOR_MEMORY });
    this.guestMemory = new GuestMemoryView(this.host, options.memory);
    this.guestMmu = new Mmu(this.guestMemory);
    this.guestTranslation = new GuestTranslation(this.guestMmu);
    // The machine's INTR pin comes from the monitor: its kick for a waiting virtual interrupt.
    const mode = this;
    const interrupts: InterruptController = {
      get pending() {
        return mode.monitorValue?.machineInterrupts.pending ?? false;
      },
      acknowledge: () => this.monitor.machineInterrupts.acknowledge(),
    };
    this.machine = new Ia32Cpu(
      { memory: this.host, io: this.machineIo, translation: new Mmu(this.host), interrupts },
      { ...options.cpuOptions, virtualizationAssist: true },
    );
    this.machine.a20.set(true);
  }

  get monitor(): Monitor {
    if (this.monitorValue === null) throw new Error("the monitor is not attached yet");
    return this.monitorValue;
  }

  /** Builds the monitor around the virtual CPU and the guest's PIC, and routes the host call. */
  attach(guest: Ia32Cpu, guestInterrupts: InterruptController): Monitor {
    const monitor = new Monitor({
      machine: this.machine,
      memory: this.host,
      guest,
      guestTranslation: this.guestTranslation,
      guestInterrupts,
      guestRamSize: this.options.memory,
      monitorBase: this.options.memory,
      monitorSize: MONITOR_MEMORY,
      seed: this.options.seed,
      onRelocation: this.options.onRelocation,
    });
    this.machineIo.register(monitor.hostCallPort, 4, monitor.hostCallHandler, { name: "vmm host call" });
    this.monitorValue = monitor;
    return monitor;
  }
}
