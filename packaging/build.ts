/**
 * `bun run package`: builds dist/ironcore-backup_<version>-1_amd64.deb and
 * dist/ironcore-backup-<version>-1.x86_64.rpm from the compiled binary (built first when
 * dist/ironcore-backup is missing). docs/packaging.md describes what they install and why.
 *
 *   bun packaging/build.ts [--binary PATH] [--out DIR] [--format deb|rpm|all]
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { IbsError } from "../src/util/errors.ts";
import { buildPackages, ROOT } from "./lib/packages.ts";
import type { Format } from "./lib/layout.ts";

function main(): number {
  const { values } = parseArgs({
    options: {
      binary: { type: "string" },
      out: { type: "string" },
      format: { type: "string", default: "all" },
    },
  });
  const formats: Format[] = values.format === "all" ? ["deb", "rpm"] : [values.format as Format];
  if (!formats.every((f) => f === "deb" || f === "rpm")) {
    console.error(`error: --format '${values.format}': expected deb, rpm or all`);
    return 2;
  }
  const binary = values.binary ? resolve(values.binary) : join(ROOT, "dist", "ironcore-backup");
  if (!values.binary && !existsSync(binary)) {
    console.log(`${binary} is missing: building it with compile/build.ts`);
    const r = Bun.spawnSync([process.execPath, join(ROOT, "compile", "build.ts")], { cwd: ROOT, stdout: "inherit", stderr: "inherit" });
    if (!r.success) return r.exitCode || 1;
  }
  try {
    const built = buildPackages({ binary, outDir: values.out ? resolve(values.out) : join(ROOT, "dist"), formats });
    for (const p of [built.deb, built.rpm]) if (p) console.log(`built ${p}`);
    return 0;
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    if (err instanceof IbsError && err.hint) console.error(`hint: ${err.hint}`);
    return err instanceof IbsError ? err.exitCode : 1;
  }
}

process.exitCode = main();
