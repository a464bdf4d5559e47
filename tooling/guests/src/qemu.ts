/**
 * Runs a test kernel on QEMU exactly as the reference command does, feeding COM1 input
 * when the kernel asks for it, and returns its serial output and exit status.
 */
import { spawn, spawnSync } from "node:child_process";
import type { GuestKernel, GuestResult } from "./manifest.js";

export const QEMU = "qemu-system-i386";

export function qemuAvailable(): boolean {
  return spawnSync(QEMU, ["--version"], { stdio: "ignore" }).status === 0;
}

export function qemuArgs(kernel: GuestKernel): string[] {
  const args = ["-M", "isapc", "-cpu", "pentium2", "-m", "128", "-display", "none", "-no-reboot"];
  args.push("-kernel", kernel.image, "-serial", "stdio", "-monitor", "none");
  args.push("-device", "isa-debug-exit,iobase=0xf4,iosize=4");
  if (kernel.append !== "") args.push("-append", kernel.append);
  // QEMU separates modules with commas; a module's arguments follow its path after a space.
  if (kernel.modules.length > 0) args.push("-initrd", kernel.modules.join(","));
  return args;
}

export function runOnQemu(kernel: GuestKernel, timeoutMs = 20_000): Promise<GuestResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(QEMU, qemuArgs(kernel), { stdio: ["pipe", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    let stderr = "";
    let sent = kernel.input === "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (d: Buffer) => {
      chunks.push(d);
      if (!sent && Buffer.concat(chunks).toString("latin1").includes(kernel.inputAfter)) {
        sent = true;
        child.stdin.write(kernel.input);
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal !== null) reject(new Error(`QEMU ${kernel.name}: killed by ${signal}; stderr: ${stderr}`));
      else resolveRun({ output: Buffer.concat(chunks).toString("latin1"), exitCode: code ?? -1 });
    });
  });
}
