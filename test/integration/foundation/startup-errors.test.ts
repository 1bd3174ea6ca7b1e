import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ibs, ibsBinary, tempDataDir } from "../../helpers/ibs.ts";

function configFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "ibs-cfg-"));
  const file = join(dir, "ironcore.toml");
  writeFileSync(file, text);
  return file;
}

describe("bad config is refused at start, naming key and file", () => {
  test("unknown key", () => {
    const file = configFile(`[api]\nlisten = "127.0.0.1:1"\nlisen = "x"\n`);
    const r = ibs(["run", "api", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain("unknown key 'api.lisen'");
  });

  test("wrong type", () => {
    const file = configFile(`[worker]\nslots = "four"\n`);
    const r = ibs(["run", "worker", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toContain("'worker.slots'");
  });

  test("TOML syntax error", () => {
    const file = configFile(`[api\nlisten = 1\n`);
    const r = ibs(["run", "api", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("TOML syntax error");
  });

  test("unreadable file (a directory where the file should be) and a missing file", () => {
    const dir = mkdtempSync(join(tmpdir(), "ibs-cfg-"));
    const r = ibs(["run", "api", "--config", dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`config ${dir}: cannot read: is a directory`);
    const missing = ibs(["status", "--services", "--config", join(dir, "nope.toml")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("file does not exist");
  });
});

describe("state database problems", () => {
  test("a state dir that cannot be created is named", () => {
    const { dir } = tempDataDir();
    writeFileSync(join(dir, "blocker"), "a file, not a folder");
    writeFileSync(join(dir, "ironcore.toml"), `[paths]\nstate_dir = "blocker/state"\n`);
    const r = ibs(["run", "worker", "--data-dir", dir, "--quiet"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(join(dir, "blocker", "state", "state.db"));
  });

  test("a schema newer than the binary is refused", () => {
    const { dir } = tempDataDir();
    mkdirSync(dir, { recursive: true });
    const db = new Database(join(dir, "state.db"), { create: true });
    db.exec("PRAGMA user_version = 999");
    db.close();
    const r = ibs(["status", "--services", "--data-dir", dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("schema version 999, newer than this binary knows");
  });
});

describe("the compiled binary", () => {
  test("runs from another directory and reports version, commit and build date", () => {
    const elsewhere = mkdtempSync(join(tmpdir(), "ibs-bin-"));
    const copy = join(elsewhere, "ironcore-backup");
    cpSync(ibsBinary(), copy);
    const r = Bun.spawnSync([copy, "--version"], { cwd: elsewhere });
    rmSync(elsewhere, { recursive: true, force: true }); // a 115 MB copy per run otherwise
    expect(r.exitCode).toBe(0);
    expect(r.stdout.toString()).toMatch(/^ironcore-backup \d+\.\d+\.\d+ \(commit [0-9a-f]{12}(-dirty)?|unknown, built \d{4}-\d\d-\d\dT/);
    expect(r.stdout.toString()).toContain("built 20");
  });
});
