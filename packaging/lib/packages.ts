/** Builds the .deb and/or the .rpm from one compiled binary. */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { IbsError } from "../../src/util/errors.ts";
import { buildDeb } from "./deb.ts";
import { buildLayout, type Format } from "./layout.ts";
import { readMeta, type PackageMeta } from "./meta.ts";
import { buildRpm } from "./rpm.ts";
import { run } from "./tools.ts";

export const PACKAGING_DIR = resolve(import.meta.dir, "..");
export const ROOT = resolve(PACKAGING_DIR, "..");

export interface BuildOptions {
  binary: string;
  outDir: string;
  /** Scratch space for the staged trees; defaults to .tmp/packaging. */
  workDir?: string;
  formats?: Format[];
}

export interface BuiltPackages {
  meta: PackageMeta;
  deb?: string;
  rpm?: string;
}

export function buildPackages(opts: BuildOptions): BuiltPackages {
  const meta = readMeta(ROOT);
  checkBinary(opts.binary, meta.version);
  const workDir = opts.workDir ?? join(ROOT, ".tmp", "packaging");
  mkdirSync(workDir, { recursive: true });
  mkdirSync(opts.outDir, { recursive: true });
  const out: BuiltPackages = { meta };
  try {
    for (const format of opts.formats ?? ["deb", "rpm"]) {
      const layout = buildLayout(format, { packagingDir: PACKAGING_DIR, binary: opts.binary, meta });
      const b = { layout, meta, packagingDir: PACKAGING_DIR, workDir, outDir: opts.outDir };
      if (format === "deb") out.deb = buildDeb(b);
      else out.rpm = buildRpm(b);
    }
  } finally {
    // The staged trees hold a copy of the 110 MB binary each.
    for (const d of ["deb-root", "rpm-root", "rpmbuild"]) rmSync(join(workDir, d), { recursive: true, force: true });
  }
  return out;
}

/** The binary must be a compiled ironcore-backup of the version being packaged. */
function checkBinary(binary: string, version: string): void {
  if (!existsSync(binary)) throw new IbsError(`${binary}: no such binary`, 1, "build it first with: bun run compile");
  let line: string;
  try {
    line = run([binary, "--version"]).stdout.trim();
  } catch (err) {
    throw new IbsError(`${binary}: does not run (${(err as Error).message.split("\n")[0]})`, 1, "build it again with: bun run compile");
  }
  const m = /^ironcore-backup (\S+) \(commit (\S+), built /.exec(line);
  if (!m) throw new IbsError(`${binary}: '--version' printed '${line}', not a compiled ironcore-backup`, 1, "build it with: bun run compile");
  if (m[1] !== version) {
    throw new IbsError(`${binary}: is version ${m[1]}, package.json says ${version}`, 1, "build it again with: bun run compile");
  }
}
