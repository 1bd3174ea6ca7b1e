import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { apiFetch, ibs, serviceStates, startRole, tempDataDir, waitFor } from "../../helpers/ibs.ts";

const ROLES = ["api", "scheduler", "worker", "verifier", "gc", "sync", "notify"];
const running: Subprocess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill("SIGKILL");
});

describe("run all", () => {
  test("every service is active, logs are JSON lines with the schema, SIGTERM stops cleanly", async () => {
    const { dir, port } = tempDataDir();
    const proc = startRole(dir, "all");
    running.push(proc);
    await waitFor("all seven active", () => {
      const s = serviceStates(dir);
      return ROLES.every((r) => s[r] === "active (running)") && s;
    });
    const version = (await (await apiFetch(dir, port, "/api/v1/version")).json()) as { version: string };
    expect(version.version).toMatch(/^\d+\.\d+\.\d+/);
    expect((await apiFetch(dir, port, "/api/v1/health")).status).toBe(200);

    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    const after = serviceStates(dir);
    for (const r of ROLES) expect(after[r]).toBe("inactive (dead)");

    for (const r of ROLES) {
      const file = join(dir, "log", `${r}.log`);
      expect(existsSync(file)).toBe(true);
      const lines = readFileSync(file, "utf8").trim().split("\n");
      expect(lines.length).toBeGreaterThan(1);
      for (const line of lines) {
        const entry = JSON.parse(line);
        expect(typeof entry.time).toBe("string");
        expect(Number.isNaN(Date.parse(entry.time))).toBe(false);
        expect(["debug", "info", "warn", "error"]).toContain(entry.level);
        expect(entry.service).toBe(r);
        expect(typeof entry.msg).toBe("string");
      }
    }
  });
});

test("a SIGTERM while the roles are still starting stops them cleanly once started, not by killing the process", async () => {
  const { dir } = tempDataDir();
  const proc = startRole(dir, "all");
  running.push(proc);
  // The first role's "service started" line: the others are still starting.
  const apiLog = join(dir, "log", "api.log");
  const deadline = Date.now() + 30_000;
  while (!(existsSync(apiLog) && readFileSync(apiLog, "utf8").includes("service started")) && Date.now() < deadline) await Bun.sleep(2);
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);
  const lines = readFileSync(apiLog, "utf8").trim().split("\n").map((l) => JSON.parse(l).msg);
  expect(lines).toContain("stopping");
  expect(lines.at(-1)).toBe("service stopped");
  for (const [role, state] of Object.entries(serviceStates(dir))) expect(`${role} ${state}`).not.toContain("active (running)");
});

describe("roles as separate processes", () => {
  test("api and worker active, the rest inactive; kill -9 shows failed, SIGTERM shows inactive", async () => {
    const { dir } = tempDataDir();
    const api = startRole(dir, "api");
    const worker = startRole(dir, "worker");
    running.push(api, worker);
    await waitFor("api and worker active", () => {
      const s = serviceStates(dir);
      return s.api === "active (running)" && s.worker === "active (running)" && s;
    });
    const s = serviceStates(dir);
    for (const r of ["scheduler", "verifier", "gc", "sync", "notify"]) expect(s[r]).toBe("inactive (dead)");

    worker.kill("SIGKILL");
    await worker.exited;
    const afterKill = serviceStates(dir);
    expect(afterKill.worker).toBe("failed");
    expect(afterKill.api).toBe("active (running)");
    const rows = JSON.parse(ibs(["status", "--services", "--data-dir", dir, "--output-format", "json"]).stdout);
    expect(rows.find((r: any) => r.role === "worker").reason).toContain("without a clean shutdown");

    api.kill("SIGTERM");
    expect(await api.exited).toBe(0);
    expect(serviceStates(dir).api).toBe("inactive (dead)");
  });

  test("a second api on a taken port fails fast, naming the address", async () => {
    const { dir, port } = tempDataDir();
    const first = startRole(dir, "api");
    running.push(first);
    await waitFor("api up", () => serviceStates(dir).api === "active (running)");
    const second = ibs(["run", "api", "--data-dir", dir, "--quiet"]);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toContain(`127.0.0.1:${port}`);
    expect(second.stderr).toContain("address already in use");
  });
});
