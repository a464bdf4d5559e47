import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkArchitecture, importsOf } from "../src/index.js";

const ROOT = resolve(import.meta.dirname, "../../..");

describe("the dependency rule of docs/architecture.md section 2", () => {
  it("holds for the workspace as it is", () => {
    expect(checkArchitecture(ROOT)).toEqual([]);
  });

  describe("is broken by a forbidden import, and the check says so", () => {
    const scratch = mkdtempSync(join(tmpdir(), "pagurus-arch-"));
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));

    /** A copy of the workspace's manifests and sources, to break on purpose. */
    function copyOfWorkspace(name: string): string {
      const root = join(scratch, name);
      for (const group of ["packages", "apps"]) {
        cpSync(join(ROOT, group), join(root, group), {
          recursive: true,
          filter: (src) => !src.includes("node_modules") && !src.includes(`${"/"}dist`),
        });
      }
      return root;
    }

    it("cpu importing vmm-core", () => {
      const root = copyOfWorkspace("cpu-imports-core");
      writeFileSync(join(root, "packages/cpu/src/bad.ts"), 'export { x } from "@pagurus/vmm-core";\n');
      expect(checkArchitecture(root)).toContainEqual({
        pkg: "@pagurus/cpu",
        where: "packages/cpu/src/bad.ts",
        message: "imports @pagurus/vmm-core",
      });
    });

    it("a part wiring two concrete parts (vmm-core importing cpu and mmu)", () => {
      const root = copyOfWorkspace("core-wires-parts");
      writeFileSync(
        join(root, "packages/vmm-core/src/bad.ts"),
        'import { Ia32Cpu } from "@pagurus/cpu";\nimport { Mmu } from "@pagurus/mmu";\nexport const parts = [Ia32Cpu, Mmu];\n',
      );
      const messages = checkArchitecture(root).map((v) => `${v.pkg}: ${v.message}`);
      expect(messages).toContain("@pagurus/vmm-core: imports @pagurus/cpu");
      expect(messages).toContain("@pagurus/vmm-core: imports @pagurus/mmu");
    });

    it("a dependency declared in package.json, even if unused", () => {
      const root = copyOfWorkspace("pic-depends-on-bus");
      const manifest = join(root, "packages/pic/package.json");
      writeFileSync(
        manifest,
        JSON.stringify({
          name: "@pagurus/pic",
          dependencies: { "@pagurus/spec": "workspace:^", "@pagurus/bus": "workspace:^" },
        }),
      );
      expect(checkArchitecture(root)).toContainEqual({
        pkg: "@pagurus/pic",
        where: "package.json",
        message: "dependencies names @pagurus/bus",
      });
    });

    it("a relative import reaching into another package", () => {
      const root = copyOfWorkspace("relative-escape");
      writeFileSync(join(root, "packages/mmu/src/bad.ts"), 'import "../../cpu/src/index.js";\n');
      expect(checkArchitecture(root).map((v) => v.message)).toContain(
        "imports ../../cpu/src/index.js, outside its package",
      );
    });

    it("spec depending on anything", () => {
      const root = copyOfWorkspace("spec-depends");
      mkdirSync(join(root, "packages/spec/src/extra"), { recursive: true });
      writeFileSync(
        join(root, "packages/spec/src/extra/x.ts"),
        'export type T = import("@pagurus/bus").IoPortMap;\nexport * from "@pagurus/bus";\n',
      );
      expect(checkArchitecture(root).map((v) => `${v.pkg}: ${v.message}`)).toContain(
        "@pagurus/spec: imports @pagurus/bus",
      );
    });

    it("an app may wire everything", () => {
      const root = copyOfWorkspace("app-wires");
      writeFileSync(
        join(root, "apps/machine/src/extra.ts"),
        'import "@pagurus/cpu";\nimport "@pagurus/mmu";\n',
      );
      expect(checkArchitecture(root)).toEqual([]);
    });
  });

  it("finds every kind of import form", () => {
    const text = [
      'import { a } from "@pagurus/a";',
      'import type { B } from "@pagurus/b/deep";',
      'export * from "./c.js";',
      'export { d } from "d";',
      'import "side-effect";',
      'const e = await import("@pagurus/e");',
      "import {\n  f,\n} from '@pagurus/f';",
    ].join("\n");
    expect(importsOf(text).sort()).toEqual(
      ["./c.js", "@pagurus/a", "@pagurus/b/deep", "@pagurus/e", "@pagurus/f", "d", "side-effect"].sort(),
    );
  });
});
