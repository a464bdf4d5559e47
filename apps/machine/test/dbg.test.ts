import { readFileSync } from "node:fs";
import { it } from "vitest";
import { loadKernels } from "../../../tooling/guests/src/manifest.js";
import { createMachine } from "../src/index.js";

const names = (process.env.K ?? "").split(",");
it("dbg", () => {
  for (const k of loadKernels().filter((k) => names.includes(k.name))) {
    const res = [false, true].map((vmm) => {
      let out = "";
      const m = createMachine({
        memory: 128 << 20,
        vmm: vmm ? { seed: 1 } : undefined,
        onSerialOutput: (b) => {
          out += String.fromCharCode(b);
        },
      });
      m.boot({ image: readFileSync(k.image), path: k.image, append: k.append, modules: [] });
      const exit = m.run({ maxInstructions: 30_000_000, maxHaltedTicks: 5 * m.clock.frequency });
      return {
        out,
        exit: JSON.stringify(exit).slice(0, 300),
        stats: vmm ? JSON.stringify(m.monitorMode!.monitor.stats().stub.coreByVector) : "",
      };
    });
    const a = res[0].out.split("\n"),
      b = res[1].out.split("\n");
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    console.log(
      `DBG ${k.name}: first diff line ${i}\n  bare: ${a[i]}\n  vmm:  ${b[i]}\n  bare exit ${res[0].exit}\n  vmm exit ${res[1].exit}\n  core ${res[1].stats}`,
    );
  }
});
