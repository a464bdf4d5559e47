// Runs every test kernel on v86 (npm `v86`, its BIOS-less Multiboot path) and compares serial
// output and exit status with QEMU's recorded results in expected/. Not part of `pnpm test`:
// v86 is a second opinion, and where v86, QEMU and pagurus disagree the SDM decides (V86.md).
//   node tooling/guests/v86-compare.mjs [name...]
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const here = import.meta.dirname;
const require = createRequire(join(here, "../../package.json"));
const v86Dir = dirname(dirname(require.resolve("v86")));
const { kernels } = JSON.parse(readFileSync(join(here, "kernels.json"), "utf8"));

if (process.argv[2] === "--one") {
  // Child mode: one kernel per process, since v86 ends a test by throwing out of its loop.
  const k = JSON.parse(process.argv[3]);
  const { V86 } = await import(join(v86Dir, "build/libv86.mjs"));
  const file = readFileSync(join(here, k.image));
  const ab = (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
  let out = "";
  let sent = !k.input;
  const finish = (status) => {
    process.stdout.write(JSON.stringify({ output: out, status }));
    process.exit(0);
  };
  // v86's BIOS-less Multiboot loader claims port 0xF4 itself and reports writes this way.
  console.log = (line) => {
    const m = /Test exited with code (\w+)/.exec(String(line));
    if (m) finish(((Number.parseInt(m[1], 16) << 1) | 1) & 0xff);
  };
  const first = k.modules?.[0];
  const emulator = new V86({
    wasm_path: join(v86Dir, "build/v86.wasm"),
    memory_size: 128 * 1024 * 1024,
    multiboot: { buffer: ab(file) },
    cmdline: `${k.image} ${k.append ?? ""}`,
    initrd: first ? { buffer: ab(readFileSync(join(here, first.split(" ")[0]))) } : undefined,
    autostart: true,
    disable_speaker: true,
  });
  emulator.add_listener("serial0-output-byte", (b) => {
    out += String.fromCharCode(b);
    if (!sent && out.includes(k.inputAfter)) {
      sent = true;
      emulator.serial0_send(k.input);
    }
  });
  setTimeout(() => finish("timeout"), 10_000);
} else {
  const only = process.argv.slice(2);
  for (const k of kernels.filter(
    (k) => (k.reference ?? "qemu") !== "none" && (only.length === 0 || only.includes(k.name)),
  )) {
    const child = spawnSync(process.execPath, [import.meta.filename, "--one", JSON.stringify(k)], {
      encoding: "latin1",
    });
    const expectedOut = readFileSync(join(here, "expected", `${k.name}.txt`), "latin1");
    const expectedStatus = Number(readFileSync(join(here, "expected", `${k.name}.exit`), "utf8"));
    let verdict;
    try {
      const r = JSON.parse(child.stdout);
      verdict =
        r.output === expectedOut && r.status === expectedStatus ? "same" : `differs (status ${r.status})`;
      if (r.output !== expectedOut) {
        const a = r.output.split("\n");
        const b = expectedOut.split("\n");
        const i = a.findIndex((line, n) => line !== b[n]);
        verdict += `\n    v86:      ${JSON.stringify(a[i])}\n    expected: ${JSON.stringify(b[i])}`;
      }
    } catch {
      const why = /Unimplemented: [^\n]*|RuntimeError: [^\n]*/.exec(child.stderr)?.[0] ?? "no result";
      verdict = `v86 stopped: ${why}`;
    }
    console.log(`${k.name}: ${verdict}`);
  }
}
