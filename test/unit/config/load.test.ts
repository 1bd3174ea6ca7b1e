import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../../src/config/load.ts";

function withConfig(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "ibs-cfg-"));
  writeFileSync(join(dir, "ironcore.toml"), text);
  return dir;
}

describe("node config", () => {
  test("embedded mode puts every path under the data dir and listens on loopback", () => {
    const dir = mkdtempSync(join(tmpdir(), "ibs-cfg-"));
    const c = loadConfig({ dataDir: dir });
    expect(c.file).toBeNull();
    expect(c.stateDb).toBe(join(dir, "state.db"));
    expect(c.logDir).toBe(join(dir, "log"));
    expect(c.taskLogDir).toBe(join(dir, "log", "tasks"));
    expect(c.tls.cert.startsWith(dir)).toBe(true);
    expect(c.defaultDatastore).toEqual({ name: "local", path: join(dir, "datastores", "local") });
    expect(c.listen).toEqual({ host: "127.0.0.1", port: 8007 });
  });

  test("values from the file win; relative paths resolve against the data dir", () => {
    const dir = withConfig(`node = "backup1"\n[api]\nlisten = "[::]:9000"\n[paths]\nlog_dir = "logs"\n[worker]\nslots = 3\n`);
    const c = loadConfig({ dataDir: dir });
    expect(c.node).toBe("backup1");
    expect(c.listen).toEqual({ host: "::", port: 9000 });
    expect(c.logDir).toBe(join(dir, "logs"));
    expect(c.worker.slots).toBe(3);
  });

  test("unknown keys, wrong types and bad values name the key and the file", () => {
    const cases: [string, string][] = [
      [`colour = "red"\n`, "unknown key 'colour'"],
      [`[paths]\nstate_dir = 5\n`, "key 'paths.state_dir'"],
      [`[api]\nlisten = "nohost"\n`, "key 'api.listen': expected host:port"],
      [`[api]\nlisten = "1.2.3.4:70000"\n`, "port must be 0-65535"],
      [`[worker]\nslots = 0\n`, "key 'worker.slots'"],
      [`[tape]\nx = 1\n`, "unknown key 'tape'"],
    ];
    for (const [text, expected] of cases) {
      const dir = withConfig(text);
      expect(() => loadConfig({ dataDir: dir })).toThrow(expected);
      expect(() => loadConfig({ dataDir: dir })).toThrow(join(dir, "ironcore.toml"));
    }
  });
});
