/**
 * Tests that need a tool from outside the repository (NASM, QEMU, gcc-multilib, gdb, a Debian
 * download) ask for it here, so that what happens when it is missing is decided in one place:
 *
 * - in strict mode (`.ci/run` sets `PAGURUS_STRICT=1`; `CI=true` counts too) a missing tool
 *   throws, which fails the test file with the reason: a CI run never passes by skipping;
 * - otherwise it warns once, with the reason, and the caller skips what needs the tool.
 */
import { spawnSync } from "node:child_process";

/** Whether a missing tool fails the run instead of skipping (CI, `.ci/run`). */
export const strict: boolean =
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: read by vitest, which runs outside turbo
  process.env.PAGURUS_STRICT === "1" || process.env.CI === "true";

const warned = new Set<string>();

/**
 * Reports that `what` is missing (`why` says what the tests lose and how to install it):
 * throws in strict mode, warns once otherwise. Returns false so it can end an availability check.
 */
export function toolMissing(what: string, why: string): false {
  const line = `${what} is missing: ${why}`;
  if (strict) throw new Error(`${line} (strict mode: PAGURUS_STRICT=1 or CI=true, so this fails)`);
  if (!warned.has(line)) {
    warned.add(line);
    console.warn(`${line}; skipped`);
  }
  return false;
}

/** Whether `command args` runs and exits 0; when it does not, {@link toolMissing} decides. */
export function requireCommand(command: string, args: readonly string[], why: string): boolean {
  const r = spawnSync(command, args, { stdio: "ignore" });
  return r.status === 0 || toolMissing(command, why);
}
