// Lets Node run this repository's TypeScript directly (type stripping) although its relative
// imports name the compiled `.js` files, as module "nodenext" requires: a `.js` specifier that
// does not exist resolves to the `.ts` beside it. Used by `pnpm fuzz:cpu` and `pnpm bench:cpu`:
//   node --conditions=source --import ./tooling/cpu-harness/register-ts.mjs script.ts
import { registerHooks } from "node:module";

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (err) {
      if (err?.code === "ERR_MODULE_NOT_FOUND" && specifier.startsWith(".") && specifier.endsWith(".js")) {
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      }
      throw err;
    }
  },
});
