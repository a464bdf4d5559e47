import { defineConfig } from "tsup";

// tsup bundles the JavaScript; declarations come from tsc itself (tsconfig.build.json),
// because TypeScript 7's native compiler has no JavaScript API for tsup's dts bundler.
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  target: "es2023",
  platform: "neutral",
  sourcemap: true,
  clean: true,
  dts: false,
  splitting: false,
  treeshake: true,
});
