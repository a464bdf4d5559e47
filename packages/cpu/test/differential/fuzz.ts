/**
 * Open-ended differential fuzzing (`pnpm fuzz:cpu`): random seeds, batch after batch, until
 * interrupted or until --instructions is reached. Every mismatch is printed with its seed and
 * case id; `--seed S --case N` replays exactly one case.
 *
 *   node packages/cpu/test/differential/fuzz.ts [--seed N] [--instructions N] [--host-only] [--case N] [--record]
 *
 * --record appends every mismatching case to regressions.json, which the committed test replays.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import {
  compareCase,
  coverageSummary,
  formatMismatch,
  type RecordedCase,
  recordCase,
  runCorpus,
} from "./corpus.js";
import { EmulatedRunner, type EmuResult, loadIa32Cpu } from "./emulated.js";
import { Generator } from "./generator.js";
import { chooseLayout, ensureHarness, runHost } from "./host.js";

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

const harness = ensureHarness();
if ("missing" in harness) {
  console.error(harness.missing);
  process.exit(2);
}
const layout = chooseLayout(harness.path);
const hostOnly = args.includes("--host-only");
const loaded = hostOnly ? null : await loadIa32Cpu();
if (typeof loaded === "string") {
  console.error(loaded);
  process.exit(2);
}

const caseArg = arg("--case");
if (caseArg !== undefined) {
  const seed = Number(arg("--seed") ?? 1);
  const c = new Generator({ layout }).generate(seed, Number(caseArg));
  const [h] = runHost(harness.path, layout, [c]);
  console.log({ code: Buffer.from(c.code).toString("hex"), insns: c.insns, host: h });
  if (loaded) {
    const runner = new EmulatedRunner(loaded, layout);
    const e: EmuResult = runner.run(c);
    console.log({ cpu: e });
    const m = compareCase(seed, c, h, e, runner.scratch());
    console.log(m ? formatMismatch(m) : "match");
  }
  process.exit(0);
}

const limit = Number(arg("--instructions") ?? Number.POSITIVE_INFINITY);
let total = 0;
let bad = 0;
for (let round = 0; total < limit; round++) {
  const seed =
    arg("--seed") !== undefined && round === 0 ? Number(arg("--seed")) : (Math.random() * 2 ** 32) >>> 0;
  const report = runCorpus({
    seed,
    instructions: Math.min(limit - total, 200_000),
    layout,
    harness: harness.path,
    cpu: loaded,
  });
  total += report.instructions;
  bad += report.mismatches.length;
  console.log(
    `seed ${seed}: ${report.instructions} instructions, ${report.mismatches.length} mismatches (total ${total}, ${bad} mismatches)` +
      (report.hostFlakes.length ? `; disturbed host runs re-run: ${report.hostFlakes.join("; ")}` : ""),
  );
  for (const m of report.mismatches.slice(0, 20)) console.log(formatMismatch(m));
  if (args.includes("--record") && report.mismatches.length > 0) {
    const file = new URL("./regressions.json", import.meta.url);
    const records: RecordedCase[] = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : [];
    const known = new Set(records.map((r) => r.code));
    for (const m of report.mismatches) {
      if (!m.testCase || known.has(Buffer.from(m.testCase.code).toString("hex"))) continue;
      records.push(recordCase(m.testCase, layout, `fuzz seed ${seed} case ${m.id}: ${m.details[0]}`));
      known.add(records[records.length - 1].code);
    }
    writeFileSync(file, `${JSON.stringify(records, null, 1)}\n`);
    console.log(`recorded ${records.length} cases in regressions.json`);
  }
  if (round === 0) console.log(coverageSummary(report));
}
process.exit(bad > 0 ? 1 : 0);
