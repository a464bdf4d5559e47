import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runBare, runMonitored } from "./board.js";

const probe = new Uint8Array(readFileSync(join(import.meta.dirname, "guests", "probe.bin")));

/** The probe guest with another seed in its last dword. */
function withSeed(seed: number): Uint8Array {
  const image = probe.slice();
  new DataView(image.buffer).setUint32(image.length - 4, seed, true);
  return image;
}

// A guest that reads and writes all over the 4 GiB, where a monitor would hide, bare and
// under the monitor: it must see the same bytes (never a stub or core byte), the stub's code
// must be intact after it, and nothing it does may throw in the host.
describe("isolation: a guest probing for the monitor", () => {
  for (const seed of [0x12345678, 0x0badf00d, 0x9e3779b9, 0x00000001, 0xfffffff0, 0x31415926]) {
    it(`seed ${seed.toString(16)}: same view bare and monitored, stub code intact`, () => {
      const image = withSeed(seed);
      const bare = runBare(image);
      const monitored = runMonitored(image, { seed });
      expect(bare.end).toBe("exit");
      expect(bare.output).toMatch(/^[0-9a-f]{8}\n[0-9a-f]{8}\n$/);
      expect({ output: monitored.output, end: monitored.end, message: monitored.message }).toEqual({
        output: bare.output,
        end: "exit",
        message: null,
      });
      expect(monitored.stubCodeIntact).toBe(true);
    }, 60_000);
  }
});
