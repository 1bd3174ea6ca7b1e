/**
 * The embedded default as a newcomer meets it: `run all` on an empty data dir, then the backup
 * command the banner prints, run as printed (only the source folder swapped for a small one).
 */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { firstStartBanner } from "../../../src/cli/banner.ts";
import { loadConfig } from "../../../src/config/load.ts";
import { ibs, startRole, tempDataDir, waitForApi } from "../../helpers/ibs.ts";

let proc: Subprocess | undefined;
afterAll(() => proc?.kill("SIGKILL"));

test("the backup command in the first-start banner works as printed", async () => {
  const { dir, port } = tempDataDir();
  proc = startRole(dir, "all");
  await waitForApi(dir, port);

  // The command spans the "Back up:" line and the continuation lines ending in a backslash.
  const lines = firstStartBanner(loadConfig({ dataDir: dir })).split("\n");
  let i = lines.findIndex((l) => l.startsWith("Back up:"));
  expect(i).toBeGreaterThan(0);
  let command = lines[i].slice("Back up:".length);
  while (command.trimEnd().endsWith("\\")) command = command.trimEnd().slice(0, -1) + lines[++i];
  const args = command.trim().split(/\s+/).slice(1);
  expect(args[0]).toBe("backup");
  const option = (name: string) => [name, args[args.indexOf(name) + 1]];

  const src = mkdtempSync(join(tmpdir(), "ibs-first-"));
  mkdirSync(join(src, "sub"));
  writeFileSync(join(src, "sub", "hosts"), "127.0.0.1 localhost\n");
  const r = ibs(args.map((a) => (a === "etc.ibsar:/etc" ? `etc.ibsar:${src}` : a)).concat(["--quiet"]));
  expect(r.stderr).not.toContain("error:");
  expect(r.code).toBe(0);

  const list = ibs(["snapshot", "list", ...option("--repository"), ...option("--fingerprint"), ...option("--password-file"), "--output-format", "json"]);
  expect(list.code).toBe(0);
  expect(list.stdout).toContain("host/");
});
