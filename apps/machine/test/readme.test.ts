import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";
import { runReadmeExample } from "../../../test/readme-example.js";
import { DEMO_KERNEL_BASE64, DEMO_KERNEL_NAME } from "../src/demo-kernel.generated.js";

const root = join(import.meta.dirname, "../../..");

// The README's first example runs as written (its `import ... from "pagurus"` pointed at the
// source) and prints what its `// →` comments say.
it("runs the README example", async () => {
  const { claims, printed } = await runReadmeExample(import.meta.dirname, "pagurus");
  expect(claims).toEqual(["{ kind: 'debug-exit', code: 1 }", "hello from a multiboot kernel"]);
  expect(printed).toEqual(claims);
});

it("embeds the current demo kernel (node apps/machine/scripts/gen-demo-kernel.mjs regenerates it)", () => {
  const embedded = Buffer.from(DEMO_KERNEL_BASE64, "base64");
  expect(embedded.equals(readFileSync(join(root, "tooling/guests/build", DEMO_KERNEL_NAME)))).toBe(true);
});
