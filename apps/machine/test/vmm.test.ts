/**
 * The monitor's bar (issue 6): every test kernel and every scenario kernel, run bare and under
 * the monitor (`--vmm`), must give the same serial output and end the same way. The guest must
 * not be able to tell; the stub must end with its code bytes unchanged.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CODE_PAGES, stubImage } from "@pagurus/vmm-stub";
import { describe, expect, it } from "vitest";
import { type GuestKernel, guestsDir, loadKernels } from "../../../tooling/guests/src/manifest.js";
import { createMachine, type Machine, type MachineExit } from "../src/index.js";
import { DEMO_SEED, main } from "../src/main.js";

const MiB = 1024 * 1024;

function ending(exit: MachineExit): string {
  return exit.kind === "debug-exit" ? `debug-exit ${exit.code}` : exit.kind;
}

function boot(kernel: GuestKernel, vmm: boolean, seed = 1): { machine: Machine; output: () => string } {
  let output = "";
  let sent = kernel.input === "";
  const machine = createMachine({
    memory: 128 * MiB,
    vmm: vmm ? { seed } : undefined,
    onSerialOutput: (byte) => {
      output += String.fromCharCode(byte);
      if (!sent && output.includes(kernel.inputAfter)) {
        sent = true;
        machine.sendSerial(kernel.input);
      }
    },
  });
  machine.boot({
    image: readFileSync(kernel.image),
    path: kernel.image,
    append: kernel.append,
    modules: kernel.modules.map((spec) => ({ string: spec, data: readFileSync(spec.split(" ")[0]) })),
  });
  return { machine, output: () => output };
}

function run(kernel: GuestKernel, vmm: boolean, seed?: number) {
  const { machine, output } = boot(kernel, vmm, seed);
  const exit = machine.run({ maxInstructions: 400_000_000, maxHaltedTicks: 60 * machine.clock.frequency });
  return { output: output(), ending: ending(exit), machine };
}

const scenario = (name: string): GuestKernel => ({
  name,
  image: join(guestsDir, "build", `${name}.elf`),
  append: "",
  modules: [],
  input: "",
  inputAfter: "",
  reference: "none",
  covers: "the monitor's scenario kernels (issue 6)",
});

describe("bare versus --vmm: the same guest sees the same machine", () => {
  const kernels = [
    ...loadKernels(),
    ...["vmm_map_over", "vmm_tables_over", "vmm_fill_all", "vmm_processes", "vmm_demo"]
      .filter((name) => !loadKernels().some((k) => k.name === name))
      .map(scenario),
  ];
  for (const kernel of kernels) {
    it(kernel.name, () => {
      const bare = run(kernel, false);
      const monitored = run(kernel, true);
      expect({ output: monitored.output, ending: monitored.ending }).toEqual({
        output: bare.output,
        ending: bare.ending,
      });
      // The stub's code pages are exactly the image's after whatever the guest did.
      const bytes = monitored.machine.monitorMode!.monitor.stubBytes();
      const image = stubImage();
      for (const page of CODE_PAGES) {
        expect(
          Buffer.compare(
            bytes.subarray(page * 4096, (page + 1) * 4096),
            image.subarray(page * 4096, (page + 1) * 4096),
          ),
        ).toBe(0);
      }
    }, 120_000);
  }
});

describe("scenarios count what the monitor did", () => {
  it("(e) processes with system calls and timer interrupts: stub- and core-handled traps (claims 7, 8)", () => {
    const { machine } = run(scenario("vmm_processes"), true);
    const stats = machine.monitorMode!.monitor.stats();
    expect(stats.stub.stubByVector[0x80]).toBeGreaterThan(1000); // INT 0x80 reflected by the stub
    expect(stats.stub.virqDelivered).toBeGreaterThan(0); // timer interrupts, delivered by the stub
    expect(stats.stub.coreByVector[31]).toBeGreaterThan(0); // after the core took them from the PIC
    expect(stats.stub.coreHandled).toBeGreaterThan(0); // CR3 loads, I/O: the core's
    expect(stats.stub.worldSwitches).toBe(stats.stub.coreHandled);
  }, 120_000);

  it("pagurus demo shows a move of each kind and ends with status 0", async () => {
    let out = "";
    let err = "";
    const status = await main(["demo"], {
      stdout: (d) => {
        out += typeof d === "string" ? d : Buffer.from(d).toString("latin1");
      },
      stderr: (t) => {
        err += t;
      },
    });
    expect(status).toBe(0);
    expect(out).toContain(`seed ${DEMO_SEED}`);
    expect(out).toMatch(/>> stub 0xffffa000 -> 0x[0-9a-f]{8}: the guest wants its region.*claim 9/);
    expect(out).toMatch(/>> stub .*no unused region left.*claim 10\), 5 pages displaced/);
    expect(out).toMatch(/>> stub .*displaced content is hot.*claim 12/);
    expect(out).toContain("demo guest done");
    expect(err).toMatch(/relocations +3: conflict-unused 1, conflict-random 1, periodic-hot 1/);
  }, 120_000);
});
