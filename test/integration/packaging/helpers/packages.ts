/**
 * Builds the .deb and .rpm once per test process the way a user does (`bun packaging/build.ts`,
 * which `bun run package` runs) from the binary the integration tests compile.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { ibsBinary } from "../../../helpers/ibs.ts";
import { readMeta } from "../../../../packaging/lib/meta.ts";
import { debFileName } from "../../../../packaging/lib/deb.ts";
import { rpmFileName } from "../../../../packaging/lib/rpm.ts";
import { requireTool } from "../../../../packaging/lib/tools.ts";

export const ROOT = resolve(import.meta.dir, "..", "..", "..", "..");
export const WORK_DIR = join(ROOT, ".tmp", "packaging-test");

export interface TestPackages {
  version: string;
  debVersion: string;
  deb: string;
  rpm: string;
  binary: string;
}

let built: TestPackages | null = null;

export function testPackages(): TestPackages {
  if (built) return built;
  for (const tool of ["dpkg-deb", "rpmbuild", "objdump"]) requireTool(tool);
  const binary = ibsBinary();
  const out = join(WORK_DIR, "out");
  mkdirSync(out, { recursive: true });
  const r = Bun.spawnSync(
    [process.execPath, join(ROOT, "packaging", "build.ts"), "--binary", binary, "--out", out],
    { cwd: ROOT, stdout: "pipe", stderr: "pipe" },
  );
  if (!r.success) throw new Error(`bun packaging/build.ts failed (exit ${r.exitCode}):\n${r.stdout}${r.stderr}`);
  const meta = readMeta(ROOT);
  const deb = join(out, debFileName(meta));
  const rpm = join(out, rpmFileName(meta));
  for (const p of [deb, rpm]) if (!existsSync(p)) throw new Error(`packaging/build.ts did not write ${p}:\n${r.stdout}`);
  built = { version: meta.version, debVersion: meta.debVersion, deb, rpm, binary };
  return built;
}
