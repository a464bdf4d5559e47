import { readFileSync } from "node:fs";

/**
 * This package's version (`pagurus --version`), from its package.json: src/ and dist/ both sit
 * one level below it, so the same relative URL serves the sources and the build.
 */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;
