/**
 * The committed kernel images must be what the sources build to (so a fresh clone needs no NASM
 * and nobody commits a stale image). Skipped, with a message, when nasm or ld is missing (a failure in strict mode,
 * tooling/test-support).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { requireCommand } from "../../test-support/src/tools.js";
import { guestsDir } from "../src/manifest.js";

const haveTools = ["nasm", "ld", "objcopy"].every((tool) =>
  requireCommand(
    tool,
    ["--version"],
    "the committed test kernels cannot be checked against their sources (apt-get install nasm binutils)",
  ),
);

describe.skipIf(!haveTools)("test kernel images", () => {
  const out = mkdtempSync(join(tmpdir(), "pagurus-guests-"));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("rebuild byte for byte from their sources", () => {
    const built = spawnSync("bash", [join(guestsDir, "build.sh")], { env: { ...process.env, OUT: out } });
    expect(built.stderr.toString()).toBe("");
    expect(built.status).toBe(0);
    const committed = readdirSync(join(guestsDir, "build")).filter((f) => /\.(elf|bin)$/.test(f));
    const rebuilt = readdirSync(out).filter((f) => /\.(elf|bin)$/.test(f));
    expect(rebuilt.sort()).toEqual(committed.sort());
    for (const file of committed) {
      const same = readFileSync(join(out, file)).equals(readFileSync(join(guestsDir, "build", file)));
      expect(same, `${file} differs from a rebuild: run tooling/guests/build.sh and commit`).toBe(true);
    }
  });
});
