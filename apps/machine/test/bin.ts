/** Test helper: the pagurus bin bundled from source, so process tests need no prior build. */
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * Bundles src/cli.ts and the workspace packages' sources into `dir`/dist/cli.mjs with the
 * esbuild that tsup brings, beside a copy of package.json as in the package (--version reads it).
 */
export async function bundleBin(dir: string): Promise<string> {
  const fromTsup = createRequire(createRequire(import.meta.url).resolve("tsup"));
  const esbuild = (await import(pathToFileURL(fromTsup.resolve("esbuild")).href)) as {
    build(options: Record<string, unknown>): Promise<unknown>;
  };
  mkdirSync(join(dir, "dist"), { recursive: true });
  copyFileSync(join(import.meta.dirname, "../package.json"), join(dir, "package.json"));
  const bin = join(dir, "dist", "cli.mjs");
  await esbuild.build({
    entryPoints: [join(import.meta.dirname, "../src/cli.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    conditions: ["source"],
    outfile: bin,
    logLevel: "silent",
  });
  return bin;
}
