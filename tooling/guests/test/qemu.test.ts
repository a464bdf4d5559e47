/**
 * Runs every test kernel on QEMU and checks that the recorded results in expected/ are current.
 * With RECORD=1 it writes them instead (tooling/guests/record.sh). The machine's own comparison
 * (apps/machine/test/guests.test.ts) reads the recorded files, so it works without QEMU too.
 */
import { writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { toolMissing } from "../../test-support/src/tools.js";
import { expectedPath, loadKernels, readExpected } from "../src/manifest.js";
import { qemuAvailable, runOnQemu } from "../src/qemu.js";

const kernels = loadKernels().filter((k) => k.reference === "qemu");
const haveQemu =
  qemuAvailable() ||
  toolMissing(
    "qemu-system-i386",
    "the recorded QEMU results in tooling/guests/expected are not checked against a live QEMU (apt-get install qemu-system-x86)",
  );
// biome-ignore lint/suspicious/noUndeclaredEnvVars: set only by record.sh, which runs vitest outside turbo
const record = process.env.RECORD === "1";

// At most two QEMUs at a time: the tests share a small machine with everything else.
let running = 0;
const waiting: (() => void)[] = [];
async function limited<T>(job: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await job();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

describe.skipIf(!haveQemu)("test kernels on QEMU", () => {
  it.concurrent.each(kernels.map((k) => [k.name, k] as const))("%s", async (_name, kernel) => {
    // One retry: on a loaded machine QEMU has once missed the serial input of serial_rx (its
    // stdin chardev and the vCPU thread race); a second run has always gone through.
    const result = await limited(() => runOnQemu(kernel).catch(() => runOnQemu(kernel)));
    const paths = expectedPath(kernel.name);
    if (record) {
      writeFileSync(paths.output, result.output, "latin1");
      writeFileSync(paths.exit, `${result.exitCode}\n`);
      return;
    }
    const recorded = readExpected(kernel.name);
    expect(recorded, `no recorded result for ${kernel.name}: run tooling/guests/record.sh`).not.toBeNull();
    expect(result.output).toBe(recorded?.output);
    expect(result.exitCode).toBe(recorded?.exitCode);
  });
});
