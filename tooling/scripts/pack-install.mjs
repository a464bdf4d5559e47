#!/usr/bin/env node
// Proves that every package installs alone (issue 16 point 7): packs each workspace package with
// `pnpm pack`, then for each one
//   1. installs its tarball into an empty project with the tarballs of its declared dependencies
//      (dependencies and peerDependencies, followed transitively) and nothing else, offline, and
//      imports it there;
//   2. installs it again with the packages its README example imports (what the README tells a
//      user to install beside it) and runs that example, its types stripped by esbuild;
//   3. checks the tarball: LICENSE, README.md, `engines`, a `repository` with its `directory`.
// Run after a build (`pnpm test:pack` builds first). Exits 1 on the first package that fails.
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "../..");
// The esbuild that tsup brings (a devDependency of the workspace) turns the TypeScript examples
// into JavaScript; Node's own type stripping refuses parameter properties.
const esbuild = createRequire(createRequire(join(root, "package.json")).resolve("tsup"))("esbuild");
const work = mkdtempSync(join(tmpdir(), "pagurus-pack-"));
const tarballs = join(work, "tarballs");
mkdirSync(tarballs);
const run = (cmd, args, cwd) =>
  execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** The workspace's publishable packages: name -> { dir, manifest }. */
const packages = new Map();
for (const parent of ["packages", "apps"]) {
  for (const entry of readdirSync(join(root, parent))) {
    const dir = join(root, parent, entry);
    if (!existsSync(join(dir, "package.json"))) continue;
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    if (!manifest.private) packages.set(manifest.name, { dir, manifest });
  }
}

/** A package and everything it declares, transitively (names of workspace packages only). */
function closure(names) {
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name)) return;
    const p = packages.get(name);
    if (!p) throw new Error(`'${name}' is not a package of this workspace`);
    seen.add(name);
    for (const dep of Object.keys({ ...p.manifest.dependencies, ...p.manifest.peerDependencies })) visit(dep);
  };
  for (const n of names) visit(n);
  return seen;
}

const tarballOf = new Map();
for (const [name, { dir }] of packages) {
  const out = run("npx", ["-y", "pnpm@12", "pack", "--pack-destination", tarballs], dir).trim().split("\n");
  const file = out.findLast((line) => line.endsWith(".tgz"));
  tarballOf.set(name, file.startsWith("/") ? file : join(tarballs, file));
}

/** An empty project with exactly `names` installed from their tarballs, offline. */
function project(label, names) {
  const dir = join(work, label);
  mkdirSync(dir);
  const dependencies = Object.fromEntries([...names].map((n) => [n, `file:${tarballOf.get(n)}`]));
  writeFileSync(
    join(dir, "package.json"),
    JSON.stringify({ name: label, private: true, type: "module", dependencies }),
  );
  run(
    "npm",
    ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
    dir,
  );
  return dir;
}

let failed = 0;
for (const [name, { dir, manifest }] of packages) {
  const slug = name.replace(/^@pagurus\//, "");
  const report = [];
  try {
    // 3. what the tarball carries
    const listing = run("tar", ["-tzf", tarballOf.get(name)], work);
    for (const f of ["package/LICENSE", "package/README.md", "package/package.json"]) {
      if (!listing.split("\n").includes(f)) throw new Error(`the tarball has no ${f.slice(8)}`);
    }
    if (!manifest.engines?.node) throw new Error("package.json has no engines.node");
    const repo = manifest.repository;
    if (
      !repo?.url?.startsWith("git+https://") ||
      repo.url.includes("invalid") ||
      repo.directory !== relative(root, dir)
    ) {
      throw new Error(`package.json's repository is not a real one with directory '${relative(root, dir)}'`);
    }
    // 1. alone, with its declared dependencies
    const alone = closure([name]);
    const p1 = project(`${slug}-alone`, alone);
    run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const m = await import(${JSON.stringify(name)}); if (Object.keys(m).length === 0) process.exit(3);`,
      ],
      p1,
    );
    report.push(`imports with ${[...alone].join(", ")}`);
    // 2. its README example, with what the example imports
    const readme = readFileSync(join(dir, "README.md"), "utf8");
    const example = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    if (example === undefined) throw new Error("its README has no ```ts example");
    const imports = [...example.matchAll(/from "((?:@pagurus\/[a-z-]+)|pagurus)"/g)].map((m) => m[1]);
    if (!imports.includes(name)) throw new Error(`its README example does not import ${name}`);
    const withExample = closure(imports);
    const p2 = project(`${slug}-example`, withExample);
    // Examples may read the repository's test kernels by their path in the clone.
    symlinkSync(join(root, "tooling"), join(p2, "tooling"));
    writeFileSync(
      join(p2, "example.mjs"),
      esbuild.transformSync(example, { loader: "ts", format: "esm" }).code,
    );
    run(process.execPath, ["example.mjs"], p2);
    report.push(`README example runs with ${[...withExample].join(", ")}`);
    console.log(`ok   ${name}: ${report.join("; ")}`);
  } catch (e) {
    failed++;
    const detail = e.stderr ? `${e.message.split("\n")[0]}\n${String(e.stderr).trim()}` : e.message;
    console.log(`FAIL ${name}: ${detail}`);
  }
}
rmSync(work, { recursive: true, force: true });
console.log(`${packages.size - failed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
