/**
 * The test kernels' manifest (tooling/guests/kernels.json) and where their recorded QEMU
 * results live. Shared by the QEMU recording/check test here and the machine's comparison test.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** tooling/guests, absolute. */
export const guestsDir: string = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export interface GuestKernel {
  readonly name: string;
  /** Absolute path of the kernel image. */
  readonly image: string;
  /** Text after the kernel's name on the Multiboot command line. */
  readonly append: string;
  /** Modules as "absolute-path [args]", the way QEMU's -initrd and pagurus's --module take them. */
  readonly modules: readonly string[];
  /** Bytes sent to COM1 once the output contains {@link inputAfter}. */
  readonly input: string;
  readonly inputAfter: string;
  /**
   * Where expected/<name> comes from: "qemu" (recorded by record.sh), "sdm" (written by hand
   * from the SDM where QEMU is known to be wrong), "none" (not compared: the triple fault,
   * where QEMU -no-reboot and pagurus end differently by design).
   */
  readonly reference: "qemu" | "sdm" | "none";
  readonly covers: string;
}

interface ManifestEntry {
  name: string;
  image: string;
  append?: string;
  modules?: string[];
  input?: string;
  inputAfter?: string;
  reference?: "qemu" | "sdm" | "none";
  covers?: string;
}

export function loadKernels(): GuestKernel[] {
  const raw = JSON.parse(readFileSync(join(guestsDir, "kernels.json"), "utf8")) as {
    kernels: ManifestEntry[];
  };
  return raw.kernels.map((k) => ({
    name: k.name,
    image: join(guestsDir, k.image),
    append: k.append ?? "",
    modules: (k.modules ?? []).map((m) => join(guestsDir, m)),
    input: k.input ?? "",
    inputAfter: k.inputAfter ?? "",
    reference: k.reference ?? "qemu",
    covers: k.covers ?? "",
  }));
}

/** What a run of a kernel produced: the serial bytes and the process exit status. */
export interface GuestResult {
  readonly output: string;
  readonly exitCode: number;
}

export function expectedPath(name: string): { output: string; exit: string } {
  return {
    output: join(guestsDir, "expected", `${name}.txt`),
    exit: join(guestsDir, "expected", `${name}.exit`),
  };
}

/** QEMU's recorded result for a kernel, or null when none was recorded. */
export function readExpected(name: string): GuestResult | null {
  const p = expectedPath(name);
  if (!existsSync(p.output) || !existsSync(p.exit)) return null;
  return { output: readFileSync(p.output, "latin1"), exitCode: Number(readFileSync(p.exit, "utf8").trim()) };
}
