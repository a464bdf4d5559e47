import { expect, it } from "vitest";
import { runReadmeExample } from "../../../test/readme-example.js";

// The README's first example must run as written and print what its `// →` comments say.
it("the README example runs and prints what it claims", async () => {
  const { claims, printed } = await runReadmeExample(import.meta.dirname, "@pagurus/vmm-core");
  expect(claims.length).toBe(4);
  expect(printed).toEqual(claims);
});
