import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { DEMO_KERNEL_BASE64, DEMO_KERNEL_NAME } from "../src/demo-kernel.generated.js";
import { createMachine } from "../src/index.js";

const root = join(import.meta.dirname, "../../..");

it("runs the README example", () => {
  let serial = "";
  const machine = createMachine({
    memory: 64 * 1024 * 1024,
    onSerialOutput: (b) => {
      serial += String.fromCharCode(b);
    },
  });
  machine.boot({ image: readFileSync(join(root, "tooling/guests/build/hello.elf")), path: "hello.elf" });
  expect(machine.run()).toEqual({ kind: "debug-exit", code: 1 });
  expect(serial.split("\n")[0]).toBe("hello from a multiboot kernel");
  // and the README's code block says the same
  const readme = readFileSync(join(import.meta.dirname, "../README.md"), "utf8");
  expect(readme).toContain('console.log(machine.run()); // → { kind: "debug-exit", code: 1 }');
});

it("embeds the current demo kernel (node apps/machine/scripts/gen-demo-kernel.mjs regenerates it)", () => {
  const embedded = Buffer.from(DEMO_KERNEL_BASE64, "base64");
  expect(embedded.equals(readFileSync(join(root, "tooling/guests/build", DEMO_KERNEL_NAME)))).toBe(true);
});
