/**
 * Test helpers that drive the product the way a user does: the compiled binary as real
 * processes, with a throw-away data dir each.
 */
import { mkdtempSync, writeFileSync, existsSync, readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

const root = resolve(import.meta.dir, "..", "..");
let built: string | null = null;

/** The compiled binary, built once per test process (IBS_TEST_BIN points at a prebuilt one). */
export function ibsBinary(): string {
  if (process.env.IBS_TEST_BIN) return process.env.IBS_TEST_BIN;
  if (built) return built;
  // Per test process, so that concurrent test runs never overwrite each other's binary.
  const out = join(root, ".tmp", `test-bin-${process.pid}`, "ironcore-backup");
  const r = Bun.spawnSync([process.execPath, join(root, "compile", "build.ts"), out], { cwd: root, stderr: "pipe", stdout: "pipe" });
  if (!r.success || !existsSync(out)) throw new Error(`compile failed: ${r.stderr.toString()}`);
  built = out;
  return out;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function ibs(args: string[], opts: { env?: Record<string, string>; cwd?: string; stdin?: string } = {}): RunResult {
  const r = Bun.spawnSync([ibsBinary(), ...args], {
    cwd: opts.cwd ?? root,
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    stdin: opts.stdin !== undefined ? Buffer.from(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** A fresh data dir with a config that listens on a free loopback port and beats fast. */
export function tempDataDir(extraToml = ""): { dir: string; port: number } {
  const dir = mkdtempSync(join(tmpdir(), "ibs-test-"));
  const port = freePort();
  writeFileSync(
    join(dir, "ironcore.toml"),
    `[api]\nlisten = "127.0.0.1:${port}"\n[roles]\nheartbeat_interval = 0.5\n${extraToml}`,
  );
  return { dir, port };
}

export function startRole(dataDir: string, role: string): Subprocess<"ignore", "pipe", "pipe"> {
  return Bun.spawn([ibsBinary(), "run", role, "--data-dir", dataDir, "--quiet"], {
    env: { ...process.env, NO_COLOR: "1" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

export interface ServiceRow {
  service: string;
  state: string;
  pid: number | null;
  reason: string | null;
}

export function serviceStates(dataDir: string): Record<string, string> {
  const r = ibs(["status", "--services", "--data-dir", dataDir, "--output-format", "json"]);
  if (r.code !== 0) throw new Error(`status failed: ${r.stderr}`);
  const rows = JSON.parse(r.stdout) as ServiceRow[];
  return Object.fromEntries(rows.map((s) => [s.service.replace("ironcore-backup-", ""), s.state]));
}

// ---------------------------------------------------------------------------------------------
// The API over HTTPS with the node's certificate pinned (added with the API server issue).

/** The node's API certificate (PEM) in a data dir; the api role creates it at first start. */
export function apiCertPem(dataDir: string): string {
  return readFileSync(join(dataDir, "api.pem"), "utf8");
}

/** SHA-256 fingerprint of the node's API certificate, AA:BB:… */
export function apiFingerprint(dataDir: string): string {
  return new X509Certificate(apiCertPem(dataDir)).fingerprint256;
}

/** The initial admin password the api role wrote at first start. */
export function adminPassword(dataDir: string): string {
  return readFileSync(join(dataDir, "initial-admin-password"), "utf8").trim();
}

/** A raw fetch to the node's API that trusts exactly the node's certificate. */
export function apiFetch(dataDir: string, port: number, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`https://127.0.0.1:${port}${path}`, { ...init, tls: { ca: apiCertPem(dataDir) } } as RequestInit);
}

/** Waits until the api role of a data dir answers over HTTPS. */
export async function waitForApi(dataDir: string, port: number, timeoutMs = 60_000): Promise<void> {
  await waitFor("api answering over https", async () => existsSync(join(dataDir, "api.pem")) && (await apiFetch(dataDir, port, "/api/v1/health")).ok, timeoutMs);
}

/** The client module connected to a node as admin@ibs (or other credentials), pinned to its certificate. */
export async function apiClient(
  dataDir: string,
  port: number,
  auth: { authId: string; password?: string; secret?: string } = { authId: "admin@ibs", password: adminPassword(dataDir) },
) {
  const { connect } = await import("../../src/client/http.ts");
  return connect({ host: "127.0.0.1", port, fingerprint: apiFingerprint(dataDir), knownHostsFile: join(dataDir, "client-known_hosts"), ...auth });
}

/** Runs `ironcore-backup <args> --data-dir D --output-format json` and parses stdout; throws with stderr on failure. */
export function ibsJson<T = any>(dataDir: string, args: string[]): T {
  const r = ibs([...args, "--data-dir", dataDir, "--output-format", "json"]);
  if (r.code !== 0) throw new Error(`ironcore-backup ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}
