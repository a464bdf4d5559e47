import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";

/**
 * The dependency rule of docs/architecture.md section 2: which workspace packages each package may use at
 * run time. `spec` is contracts only; the machine parts know only the contracts, so anyone can
 * take one alone; only apps wire concrete parts together.
 */
export const ALLOWED_DEPENDENCIES: Readonly<Record<string, readonly string[]>> = {
  "@pagurus/spec": [],
  "@pagurus/bus": ["@pagurus/spec"],
  "@pagurus/cpu": ["@pagurus/spec"],
  "@pagurus/mmu": ["@pagurus/spec"],
  "@pagurus/pic": ["@pagurus/spec"],
  "@pagurus/devices": ["@pagurus/spec"],
  "@pagurus/relocator": ["@pagurus/spec"],
  "@pagurus/vmm-stub": ["@pagurus/spec"],
  "@pagurus/vmm-core": ["@pagurus/spec", "@pagurus/vmm-stub", "@pagurus/relocator"],
};

/** Directories whose packages may depend on any workspace package (they assemble boards). */
export const WIRING_DIRECTORIES = ["apps"] as const;

export interface Violation {
  /** The package that breaks the rule. */
  readonly pkg: string;
  /** Where: `package.json` or a source file relative to the workspace root. */
  readonly where: string;
  readonly message: string;
}

interface WorkspacePackage {
  name: string;
  dir: string;
  manifest: { dependencies?: Record<string, string>; peerDependencies?: Record<string, string> };
}

function listPackages(root: string): WorkspacePackage[] {
  const out: WorkspacePackage[] = [];
  for (const group of ["packages", "apps"]) {
    const groupDir = join(root, group);
    if (!existsSync(groupDir)) continue;
    for (const entry of readdirSync(groupDir)) {
      const dir = join(groupDir, entry);
      const manifestPath = join(dir, "package.json");
      if (!existsSync(manifestPath)) continue;
      const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
      out.push({ name: manifest.name, dir, manifest });
    }
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts|js|mjs)$/.test(entry) && !/\.test\.ts$/.test(entry)) out.push(path);
  }
  return out;
}

const IMPORT =
  /(?:^|[\s;}])(?:import|export)\s[^'"`;]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

/** Module specifiers imported by a source text (static, re-exports, side-effect and dynamic imports). */
export function importsOf(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(IMPORT)) found.push(match[1] ?? match[2] ?? match[3]);
  return found;
}

/**
 * Checks every workspace package under `root` against {@link ALLOWED_DEPENDENCIES}: its
 * `dependencies` and `peerDependencies`, and what its `src` files import (a package name,
 * or a relative path that leaves the package).
 */
export function checkArchitecture(root: string): Violation[] {
  const violations: Violation[] = [];
  const packages = listPackages(root);
  const workspaceNames = new Set(packages.map((p) => p.name));
  for (const pkg of packages) {
    const wiring = WIRING_DIRECTORIES.some((d) => relative(root, pkg.dir).split(sep)[0] === d);
    const allowed = ALLOWED_DEPENDENCIES[pkg.name];
    if (!wiring && allowed === undefined) {
      violations.push({
        pkg: pkg.name,
        where: "package.json",
        message: "is not in the dependency rule table",
      });
      continue;
    }
    const permits = (dep: string) => wiring || !workspaceNames.has(dep) || allowed.includes(dep);
    for (const field of ["dependencies", "peerDependencies"] as const) {
      for (const dep of Object.keys(pkg.manifest[field] ?? {})) {
        if (!permits(dep)) {
          violations.push({ pkg: pkg.name, where: "package.json", message: `${field} names ${dep}` });
        }
      }
    }
    for (const file of sourceFiles(join(pkg.dir, "src"))) {
      const where = relative(root, file);
      for (const specifier of importsOf(readFileSync(file, "utf8"))) {
        if (specifier.startsWith(".")) {
          const target = resolve(file, "..", specifier);
          if (!target.startsWith(pkg.dir + sep)) {
            violations.push({ pkg: pkg.name, where, message: `imports ${specifier}, outside its package` });
          }
          continue;
        }
        const name = specifier.startsWith("@")
          ? specifier.split("/").slice(0, 2).join("/")
          : specifier.split("/")[0];
        if (name === pkg.name || !workspaceNames.has(name)) continue;
        if (!permits(name)) violations.push({ pkg: pkg.name, where, message: `imports ${name}` });
        else if (
          !wiring &&
          !(name in (pkg.manifest.dependencies ?? {})) &&
          !(name in (pkg.manifest.peerDependencies ?? {}))
        ) {
          violations.push({
            pkg: pkg.name,
            where,
            message: `imports ${name} without declaring it in dependencies`,
          });
        }
      }
    }
  }
  return violations;
}
