// `pnpm bench:vmm`: what the monitor costs. Runs three guests bare and under the monitor in
// one process (CPU-bound, system-call-heavy, page-fault-heavy) and prints monitored/bare time,
// then what one relocation of the stub costs, from the demo guest's moves. Not a test: the
// numbers depend on the machine.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { STUB_PAGES, STUB_SIZE } from "@pagurus/vmm-stub";
import { runBare, runMonitored } from "../test/board.js";

const here = import.meta.dirname;
const workloads = new Uint8Array(readFileSync(join(here, "workloads.bin")));

function guest(which: number): Uint8Array {
  const image = workloads.slice();
  image[image.length - 1] = which;
  return image;
}

function time<T>(run: () => T): { result: T; ms: number } {
  const started = performance.now();
  const result = run();
  return { result, ms: performance.now() - started };
}

const rows: string[][] = [["guest", "bare ms", "monitored ms", "ratio", "traps (stub/core)", "output same"]];
for (const [name, which] of [
  ["cpu-bound", 0],
  ["syscall-heavy", 1],
  ["page-fault-heavy", 2],
] as const) {
  const image = guest(which);
  const bare = time(() => runBare(image, 1e9));
  const monitored = time(() => runMonitored(image, { limit: 2e9 }));
  const stub = monitored.result.stats!.stub;
  rows.push([
    name,
    bare.ms.toFixed(0),
    monitored.ms.toFixed(0),
    (monitored.ms / bare.ms).toFixed(2),
    `${stub.stubHandled}/${stub.coreHandled}`,
    String(bare.result.output === monitored.result.output && bare.result.end === monitored.result.end),
  ]);
}

const demo = new Uint8Array(readFileSync(join(here, "../../../tooling/guests/build/vmm_demo.elf")));
const demoRun = time(() => runMonitored(demo, { seed: 45 }));
const run = demoRun.result;
const moves = run.stats!.relocations;
// What a move costs in the guest's own currency: the instructions the monitored guest runs,
// on average, in the same wall time (this run's rate, moves included).
const instructionsPerMicro = run.instructions / (demoRun.ms * 1000);

const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join("  "));
console.log();
console.log(`relocations of the ${STUB_PAGES}-page stub (${STUB_SIZE} bytes) in the demo guest:`);
for (const m of moves) {
  console.log(
    `  ${m.reason.padEnd(16)} ${m.from.toString(16).padStart(8, "0")} -> ${m.to.toString(16).padStart(8, "0")}` +
      `  ${String(m.micros).padStart(6)} us  ~${Math.round(m.micros * instructionsPerMicro)
        .toString()
        .padStart(
          6,
        )} guest instructions  ${m.bytesWritten} stub bytes written, ${m.mappingsWritten} page-table entries`,
  );
}
console.log(
  "A move writes the same few descriptor-base bytes and one page-table entry per stub page in each\n" +
    "address space, whatever the stub's code holds: its code bytes are never copied or patched.",
);
