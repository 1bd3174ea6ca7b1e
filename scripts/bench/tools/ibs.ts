/**
 * IBS, driven the way a user does: the compiled binary as server (`run all --data-dir D` on a
 * free loopback port, its default datastore `local`) and as client (`backup`, `restore`) over
 * HTTPS with the server's fingerprint pinned. Encrypted with a keyfile protected by scrypt, as
 * a user would create it; the server accepts it after `key register`.
 *
 * Peak RSS and CPU in the tables are the client's; the server's peak RSS and CPU per phase are
 * reported beside them (it runs on the same 2 cores during every IBS step).
 */
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { S3RVER_KEY, type S3TestServer, startS3rver, uniqueBucket } from "../../../test/helpers/s3.ts";
import type { Dataset } from "../dataset.ts";
import { measure, runChecked, ToolFailure, treeBytes, type Measured } from "../measure.ts";
import type { BackupPhase, ToolAdapter } from "./types.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");

function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** utime + stime of a process in seconds (/proc/<pid>/stat fields 14 and 15, in clock ticks). */
function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

function vmHwm(pid: number): number {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** `bun src/main.ts`: the working tree without compiling (slower start, transpiler memory in the RSS). */
export function ibsFromSource(): string[] {
  return [process.execPath, join(ROOT, "src", "main.ts")];
}

/** Builds the binary from the working tree into dir (compile/build.ts, what `bun run compile` runs). */
export function buildIbs(dir: string): string {
  const out = join(dir, "ironcore-backup");
  runChecked([process.execPath, join(ROOT, "compile", "build.ts"), out], { cwd: ROOT, what: "building ironcore-backup (compile/build.ts)" });
  return out;
}

export interface IbsAdapterOptions {
  /**
   * Back up into an S3 datastore instead of the local one (tool name "ibs-s3", issue #8): the
   * same server, with s3rver started on loopback (under Node, as the tests run it) and
   * `--cache-size 0`, so every restore read is a GET and the S3 path is what is measured.
   * s3rver's CPU competes with client and server for the same two cores (on a real deployment
   * the store is elsewhere); `s3rverRuntime: "bun"` runs it cheaper.
   */
  s3?: boolean;
  /** What runs s3rver (default node, as in the tests). */
  s3rverRuntime?: "node" | "bun";
}

/** getCommand: the compiled binary ([path]) or, with --ibs-from-source, [bun, src/main.ts]. */
export function ibsAdapter(getCommand: () => string[], opts: IbsAdapterOptions = {}): ToolAdapter {
  const name = opts.s3 ? "ibs-s3" : "ibs";
  const store = opts.s3 ? "offsite" : "local";
  let s3: S3TestServer | null = null;
  let s3Pid = 0;
  let bin: string[] = [];
  let dataDir = "";
  let server: Subprocess | null = null;
  let serverLog = "";
  let ds: Dataset | null = null;
  let env: Record<string, string> = {};
  let repository = "";
  let keyfile = "";
  let lastSnapshot = "";
  const notes: string[] = [];

  function client(args: string[]): string[] {
    return [...bin, ...args, "--repository", repository, "--keyfile", keyfile, "--output-format", "json"];
  }

  /** An admin command on the server's node state (`--data-dir`), not measured. */
  function admin(args: string[], what: string, stdin?: string): string {
    return runChecked([...bin, ...args, "--data-dir", dataDir], { env, what, stdin });
  }

  /** Runs a measured client step and notes the server's CPU during it. */
  async function step(what: string, cmd: string[]): Promise<Measured> {
    if (server?.exitCode !== null && server?.exitCode !== undefined) throw new ToolFailure(`ironcore-backup server exited (code ${server.exitCode}) before ${what}; see ${serverLog}`);
    const cpu0 = cpuSecondsOf(server!.pid);
    const s3cpu0 = s3Pid ? cpuSecondsOf(s3Pid) : 0;
    const m = await measure(cmd, { env, what });
    const cpu = cpuSecondsOf(server!.pid) - cpu0;
    const s3cpu = s3Pid ? `, s3rver ${(cpuSecondsOf(s3Pid) - s3cpu0).toFixed(1)} s` : "";
    notes.push(`${what}: server CPU ${cpu.toFixed(1)} s${s3cpu} (client ${m.cpuSeconds?.toFixed(1) ?? "?"} s)`);
    return m;
  }

  const s3LocalDir = () => join(dataDir, "s3-local");
  /** Bytes of the objects s3rver holds (its object files, not its metadata files). */
  const s3ObjectBytes = () => (s3 ? treeBytes(s3.dir, (f) => f.endsWith("._S3rver_object")) : 0);

  async function createS3Store(): Promise<void> {
    s3 = await startS3rver({ runtime: opts.s3rverRuntime ?? "node" });
    s3Pid = s3.pid;
    const bucket = uniqueBucket("bench");
    await s3.createBucket(bucket);
    admin(["s3", "endpoint", "create", "loop", "--endpoint", s3.endpoint, "--access-key-id", S3RVER_KEY, "--secret-access-key", S3RVER_KEY, "--path-style"], "ironcore-backup s3 endpoint create");
    admin(["datastore", "create", store, "--backend", "s3", "--s3-endpoint", "loop", "--bucket", bucket, "--cache-dir", s3LocalDir(), "--cache-size", "0"], "ironcore-backup datastore create --backend s3");
  }

  /**
   * The client authenticates as a compute host should, and as the example does
   * (`backup@ibs!host1`): an API token of a backup user, DatastoreBackup on the store for both.
   * The server checks a token's secret with one SHA-256; a password login would cost it an
   * argon2id hash (~50 ms of CPU) on every run, beside the client's scrypt on two cores
   * (docs/benchmarks.md, session 6: the unchanged re-backup 0.84 -> 0.77 s).
   */
  function createBackupToken(anyPassword: string): { tokenid: string; secret: string } {
    admin(["user", "create", "backup@ibs", "--password-stdin"], "ironcore-backup user create", `${anyPassword}-backup\n`);
    const token = JSON.parse(admin(["user", "token", "create", "backup@ibs", "host1", "--output-format", "json"], "ironcore-backup user token create"));
    for (const authId of ["backup@ibs", token.tokenid]) admin(["acl", "update", `/datastore/${store}`, "DatastoreBackup", "--auth-id", authId], "ironcore-backup acl update");
    return token;
  }

  /** Requests by kind, also per GiB stored (requests cost money on a real store), from `datastore stats`. */
  function s3Requests(): string {
    const stats = JSON.parse(admin(["datastore", "stats", store, "--output-format", "json"], "ironcore-backup datastore stats"));
    const requests: Record<string, { requests: number }> = stats.s3?.requests ?? {};
    const gib = s3ObjectBytes() / 2 ** 30;
    const kinds = Object.entries(requests).map(([kind, c]) => `${kind} ${c.requests} (${gib > 0 ? (c.requests / gib).toFixed(0) : "-"}/GiB)`);
    return `S3 requests of all steps: ${kinds.join(", ")}`;
  }

  return {
    name,
    async unavailable() {
      try {
        bin = getCommand();
      } catch (err) {
        return `could not build or find the ironcore-backup binary: ${(err as Error).message.split("\n")[0]}`;
      }
      const help = Bun.spawnSync([...bin, "--help"], { env: { ...process.env, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" })
        .stdout.toString()
        .replace(/\x1b\[[0-9;]*m/g, "");
      const missing = ["backup", "restore"].filter((c) => !new RegExp(`^\\s+${c}\\b`, "m").test(help));
      if (missing.length) return `this ironcore-backup has no ${missing.join(" or ")} command yet`;
      return null;
    },
    describe() {
      const v = runChecked([...bin, "--version"], { what: "ironcore-backup --version" }).trim();
      const where = opts.s3 ? `S3 datastore 'offsite' on s3rver (loopback, ${opts.s3rverRuntime === "bun" ? "Bun" : "Node"}, --cache-size 0)` : "datastore 'local'";
      return `${v}; server 'run all' on loopback, ${where}, API token backup@ibs!host1 (DatastoreBackup), keyfile with scrypt, encrypted (AES-256-GCM), zstd level 1`;
    },
    async init(workDir, dataset) {
      ds = dataset;
      dataDir = join(workDir, "server");
      mkdirSync(dataDir, { recursive: true });
      const port = freePort();
      writeFileSync(join(dataDir, "ironcore.toml"), `[api]\nlisten = "127.0.0.1:${port}"\n`);
      serverLog = join(workDir, "server.out");
      server = Bun.spawn([...bin, "run", "all", "--data-dir", dataDir, "--quiet"], {
        env: { ...process.env, NO_COLOR: "1" },
        stdin: "ignore",
        stdout: Bun.file(serverLog),
        stderr: Bun.file(join(workDir, "server.err")),
      });
      const pem = join(dataDir, "api.pem");
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (server.exitCode !== null) throw new ToolFailure(`ironcore-backup run all exited with ${server.exitCode}: ${readFileSync(join(workDir, "server.err"), "utf8").trim().split("\n").pop()}`);
        if (existsSync(pem) && existsSync(join(dataDir, "initial-admin-password"))) {
          const ok = await fetch(`https://127.0.0.1:${port}/api/v1/health`, { tls: { ca: readFileSync(pem, "utf8") } } as RequestInit).then((r) => r.ok, () => false);
          if (ok) break;
        }
        if (Date.now() > deadline) throw new ToolFailure(`ironcore-backup server did not answer on 127.0.0.1:${port} within 60 s; see ${join(workDir, "server.err")}`);
        await Bun.sleep(100);
      }
      const password = readFileSync(join(dataDir, "initial-admin-password"), "utf8").trim();
      const fingerprint = new X509Certificate(readFileSync(pem, "utf8")).fingerprint256;
      keyfile = join(workDir, "bench.key");
      env = {
        NO_COLOR: "1",
        IBS_PASSWORD: password,
        IBS_FINGERPRINT: fingerprint,
        IBS_KEY_PASSPHRASE: "ibs-bench-passphrase",
        IBS_CLIENT_CONFIG_DIR: join(workDir, "client-config"),
      };
      runChecked([...bin, "key", "create", keyfile], { env, what: "ironcore-backup key create" });
      const info = JSON.parse(runChecked([...bin, "key", "show", keyfile, "--output-format", "json"], { env, what: "ironcore-backup key show" }));
      admin(["key", "register", info.fingerprint], "ironcore-backup key register");
      if (opts.s3) await createS3Store();
      const token = createBackupToken(password);
      env.IBS_PASSWORD = token.secret;
      repository = `${token.tokenid}@127.0.0.1:${port}:${store}`;
    },
    async backup(phase: BackupPhase) {
      const m = await step(`${name} backup (${phase})`, client(["backup", `tree.ibsar:${ds!.tree}`, `disk.img:${ds!.image}`, "--backup-type", "host", "--backup-id", "bench"]));
      let summary: any;
      try {
        summary = JSON.parse(m.stdout.trim().split("\n").pop() ?? "");
      } catch {
        throw new ToolFailure(`ibs backup (${phase}) printed no JSON summary; stdout: ${m.stdout.slice(0, 500)}`);
      }
      if (!summary.snapshot) throw new ToolFailure(`ibs backup (${phase}): the JSON summary names no snapshot`);
      lastSnapshot = summary.snapshot;
      notes.push(
        `${phase}: files read/unchanged ${summary.filesRead}/${summary.filesUnchanged}, read ${(summary.bytesRead / 2 ** 20).toFixed(1)} MiB, ` +
          `new ${(summary.bytesNew / 2 ** 20).toFixed(1)} MiB, uploaded ${(summary.bytesUploaded / 2 ** 20).toFixed(1)} MiB, warnings ${summary.warnings}`,
      );
      return m;
    },
    async restore(target) {
      // The whole snapshot in one command, as restic and borg restore it: trees as
      // target/<name without .ibsar>, images as target/<name>.
      const paths = { tree: join(target, "tree"), image: join(target, "disk.img") };
      const m = await step(`${name} restore --all`, client(["restore", lastSnapshot, "--all", target]));
      return { measured: m, paths };
    },
    // S3: the local directory (catalog; no cached chunks with --cache-size 0) plus s3rver's object files (not its metadata files).
    storedBytes: () => (s3 ? treeBytes(s3LocalDir()) + s3ObjectBytes() : treeBytes(join(dataDir, "datastores", store))),
    // The server's node state (catalog, task log) is read on every request: it counts too.
    restoreReads: () => [...(s3 ? [s3.dir] : []), dataDir, bin[0]!],
    notes() {
      const hwm = server ? vmHwm(server.pid) : NaN;
      const extra = Number.isFinite(hwm) ? [`server (run all) peak RSS ${(hwm / 2 ** 20).toFixed(0)} MiB`] : [];
      if (opts.s3 && server?.exitCode === null) extra.push(s3Requests());
      return [...notes, ...extra];
    },
    async close() {
      await s3?.stop();
      s3 = null;
      const s = server;
      if (!s || s.exitCode !== null) return;
      s.kill("SIGTERM");
      // The runner gives roles 30 s to stop; past 40 s, kill it.
      const timer = setTimeout(() => s.kill("SIGKILL"), 40_000);
      await s.exited;
      clearTimeout(timer);
    },
  };
}
