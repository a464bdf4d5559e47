/** Strict mode must turn a missing tool into a failure, and only strict mode. */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

const module = new URL("../src/tools.ts", import.meta.url).href;
const probe = `import { requireCommand } from ${JSON.stringify(module)};
console.log(requireCommand("pagurus-no-such-tool", [], "nothing depends on it"));`;

function run(env: Record<string, string>) {
  const { CI: _ci, PAGURUS_STRICT: _strict, ...rest } = process.env;
  return spawnSync(process.execPath, ["--input-type=module", "-e", probe], {
    encoding: "utf8",
    env: { ...rest, ...env },
  });
}

describe("a missing tool", () => {
  it("is a warning and a skip outside strict mode", () => {
    const r = run({});
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("false");
    expect(r.stderr).toContain("pagurus-no-such-tool is missing: nothing depends on it; skipped");
  });

  it.for<Record<string, string>>([{ PAGURUS_STRICT: "1" }, { CI: "true" }])(
    "fails the run in strict mode (%o)",
    (env) => {
      const r = run(env);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain("pagurus-no-such-tool is missing: nothing depends on it (strict mode");
    },
  );
});
