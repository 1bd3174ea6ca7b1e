/**
 * A backup server (`run all` of the compiled binary on a temp data dir, datastore `local`) and
 * the client as separate `ironcore-backup` processes against it, authenticated as admin@ibs,
 * pinned to the node's certificate, with one registered keyfile.
 */
import * as fs from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { nativeSupport, seek } from "../../../src/archive/native.ts";
import { adminPassword, apiClient, apiFingerprint, ibs, ibsBinary, startRole, tempDataDir, waitForApi, type RunResult } from "../../helpers/ibs.ts";
import { S3RVER_KEY, type S3TestServer, startS3rver, uniqueBucket } from "../../helpers/s3.ts";

export interface BackupNode {
  dir: string;
  port: number;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Environment for client commands: repository, password, fingerprint, keyfile. */
  env: Record<string, string>;
  keyfile: string;
  fingerprint: string;
  /** The key's fingerprint (registered on the server). */
  keyFingerprint: string;
  client(args: string[], env?: Record<string, string>): RunResult;
  /** A client command with --output-format json, parsed; throws with stderr when it fails. */
  clientJson<T = any>(args: string[], env?: Record<string, string>): T;
  /** An admin command on the node's data dir. */
  admin(args: string[]): RunResult;
  stop(): Promise<void>;
}

export async function startBackupNode(): Promise<BackupNode> {
  ibsBinary(); // build before the clock starts on the api wait
  const { dir, port } = tempDataDir();
  const proc = startRole(dir, "all");
  await waitForApi(dir, port, 60_000);
  const fingerprint = apiFingerprint(dir);
  const keyfile = join(dir, "client.key");
  const created = ibs(["key", "create", keyfile, "--kdf", "none", "--output-format", "json"]);
  if (created.code !== 0) throw new Error(`key create failed: ${created.stderr}`);
  const keyFingerprint = JSON.parse(created.stdout).fingerprint as string;
  const api = await apiClient(dir, port);
  await api.post("/keys", { fingerprint: keyFingerprint, comment: "integration test key" });
  const env = {
    IBS_REPOSITORY: `admin@ibs@127.0.0.1:${port}:local`,
    IBS_PASSWORD: adminPassword(dir),
    IBS_FINGERPRINT: fingerprint,
    IBS_KEYFILE: keyfile,
    IBS_CLIENT_CONFIG_DIR: join(dir, "client-config"),
  };
  const node: BackupNode = {
    dir,
    port,
    proc,
    env,
    keyfile,
    fingerprint,
    keyFingerprint,
    client: (args, extra = {}) => ibs(args, { env: { ...env, ...extra } }),
    clientJson(args, extra = {}) {
      const r = node.client([...args, "--output-format", "json"], extra);
      if (r.code !== 0) throw new Error(`ironcore-backup ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
      return JSON.parse(r.stdout);
    },
    admin: (args) => ibs([...args, "--data-dir", dir]),
    async stop() {
      // node.proc, not the first process: a test may have restarted the server.
      node.proc.kill("SIGTERM");
      await node.proc.exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return node;
}

/**
 * Reads a child's output until `text` appears (null: to its end) and returns all read so far,
 * `seen` included; the reader stays usable for the rest.
 */
export async function readUntil(reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> }, text: string | null, seen = ""): Promise<string> {
  while (text === null || !seen.includes(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += new TextDecoder().decode(value);
  }
  return seen;
}

/**
 * Registers an S3 datastore `name` on the node: an endpoint of the same name for `s3` (s3rver)
 * and a bucket of its own. Returns the bucket (the store's objects are under the prefix `name`).
 */
async function addS3Datastore(node: BackupNode, s3: S3TestServer, name: string, cacheSize: string): Promise<string> {
  const bucket = uniqueBucket(name);
  await s3.createBucket(bucket);
  for (const args of [
    ["s3", "endpoint", "create", name, "--endpoint", s3.endpoint, "--access-key-id", S3RVER_KEY, "--secret-access-key", S3RVER_KEY, "--path-style"],
    ["datastore", "create", name, "--backend", "s3", "--s3-endpoint", name, "--bucket", bucket, "--cache-dir", join(node.dir, `${name}-cache`), "--cache-size", cacheSize],
  ]) {
    const r = node.admin(args);
    if (r.code !== 0) throw new Error(`ironcore-backup ${args.slice(0, 3).join(" ")}: ${r.stderr}`);
  }
  return bucket;
}

/** A backup node and an s3rver started side by side, with the S3 datastore `offsite` on it (addS3Datastore). */
export async function startBackupNodeWithS3(cacheSize: string): Promise<{ node: BackupNode; s3: S3TestServer; bucket: string }> {
  const [node, s3] = await Promise.all([startBackupNode(), startS3rver()]);
  return { node, s3, bucket: await addS3Datastore(node, s3, "offsite", cacheSize) };
}

export async function stopBackupNodeWithS3(node: BackupNode | undefined, s3: S3TestServer | undefined): Promise<void> {
  await node?.stop();
  await s3?.stop();
}

/** Snapshot names (`type/id/time`) currently listed by the server. */
export function listedSnapshots(node: BackupNode): string[] {
  return (node.clientJson<Array<{ snapshot: string }>>(["snapshot", "list"]) ?? []).map((s) => s.snapshot);
}

/**
 * True when two (sparse) files have the same size and bytes, comparing only the 4 MiB blocks
 * where either has data (SEEK_DATA), so a 5 GiB image of holes costs a few reads.
 */
export function sameSparseContent(a: string, b: string): { same: boolean; why?: string } {
  const sa = fs.statSync(a);
  const sb = fs.statSync(b);
  if (sa.size !== sb.size) return { same: false, why: `size ${sa.size} != ${sb.size}` };
  const block = 4 * 1024 * 1024;
  const fa = fs.openSync(a, "r");
  const fb = fs.openSync(b, "r");
  try {
    const blocks = new Set<number>();
    for (const fd of [fa, fb]) {
      if (!nativeSupport.seekData) {
        for (let i = 0; i * block < sa.size; i++) blocks.add(i);
        continue;
      }
      for (let pos = 0; pos < sa.size; ) {
        const d = seek(fd, pos, "data");
        if (d < 0 || d >= sa.size) break;
        let h = seek(fd, d, "hole");
        if (h < 0 || h > sa.size) h = sa.size;
        for (let i = Math.floor(d / block); i * block < h; i++) blocks.add(i);
        pos = h;
      }
    }
    const ba = Buffer.alloc(block);
    const bb = Buffer.alloc(block);
    for (const i of [...blocks].sort((x, y) => x - y)) {
      const len = Math.min(block, sa.size - i * block);
      fs.readSync(fa, ba, 0, len, i * block);
      fs.readSync(fb, bb, 0, len, i * block);
      if (Buffer.compare(ba.subarray(0, len), bb.subarray(0, len)) !== 0) return { same: false, why: `bytes differ in block ${i}` };
    }
    return { same: true };
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

/**
 * `diff -r` without following symlinks. Its lines about FIFOs, sockets and devices (which diff
 * cannot compare) are dropped: the lstat comparison checks their type, mode and device numbers.
 */
export function diffTrees(a: string, b: string): string[] {
  const r = Bun.spawnSync(["diff", "-r", "--no-dereference", a, b], { stdout: "pipe", stderr: "pipe" });
  const out = (r.stdout.toString() + r.stderr.toString()).split("\n").filter((l) => l.trim() !== "");
  return out.filter((l) => !/^File .* is a (fifo|socket|block special file|character special file) while file .* is a \1$/.test(l));
}
