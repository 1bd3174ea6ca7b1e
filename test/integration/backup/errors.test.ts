/**
 * What goes wrong says so in one line, and never leaves a snapshot behind: a wrong keyfile
 * (for backup: not registered; for restore: not the snapshot's key), a wrong key passphrase, a
 * wrong password, a wrong server fingerprint, no keyfile, and a client killed mid-backup.
 * A restore that meets a tampered chunk fails, naming the file it would have corrupted.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { LocalBackend } from "../../../src/datastore/backends/local.ts";
import { decodeBlob, encodeBlob, inspectBlob } from "../../../src/datastore/blob.ts";
import { loadKeyfile } from "../../../src/keys/keyfile.ts";
import { ibs, ibsBinary } from "../../helpers/ibs.ts";
import { type BackupNode, listedSnapshots, readUntil, startBackupNode } from "./backup-fixture.ts";

let node: BackupNode;
let src: string;
let good: string;
let otherKey: string;

beforeAll(async () => {
  node = await startBackupNode();
  src = fs.mkdtempSync(join(node.dir, "src-"));
  fs.writeFileSync(join(src, "a.txt"), "some data\n");
  good = node.clientJson(["backup", `data.ibsar:${src}`, "--backup-id", "err"]).snapshot;
  otherKey = join(node.dir, "other.key");
  expect(ibs(["key", "create", otherKey, "--kdf", "none"]).code).toBe(0);
}, 120_000);

afterAll(() => node?.stop());

function refusedWithoutSnapshot(args: string[], env: Record<string, string>, code: number, ...messages: RegExp[]): string {
  const before = listedSnapshots(node);
  const r = node.client(args, env);
  expect(r.code).toBe(code);
  for (const m of messages) expect(r.stderr).toMatch(m);
  expect(r.stderr.split("\n").filter((l) => l.startsWith("error:"))).toHaveLength(1);
  expect(listedSnapshots(node)).toEqual(before);
  return r.stderr;
}

test("a keyfile the server does not know is refused, naming its fingerprint", () => {
  const fp = JSON.parse(ibs(["key", "show", otherKey, "--output-format", "json"]).stdout).fingerprint;
  refusedWithoutSnapshot(["backup", `data.ibsar:${src}`, "--backup-id", "err"], { IBS_KEYFILE: otherKey }, 1, new RegExp(fp));
});

test("restoring with another key names the key the snapshot needs", () => {
  const out = join(node.dir, "wrong-key-restore");
  const err = refusedWithoutSnapshot(["restore", good, "data.ibsar", out], { IBS_KEYFILE: otherKey }, 1, /needs the key with fingerprint/);
  expect(err).toContain(node.keyFingerprint);
  expect(fs.existsSync(join(out, "a.txt"))).toBe(false);
  // Without any keyfile the message is the same kind: which key to bring.
  const none = node.client(["restore", good, "data.ibsar", out], { IBS_KEYFILE: "" });
  expect(none.code).toBe(2);
  expect(none.stderr).toContain(`is encrypted with key ${node.keyFingerprint}`);
});

test("a wrong key passphrase is refused with its own error and leaves no snapshot", () => {
  const locked = join(node.dir, "locked.key");
  fs.writeFileSync(join(node.dir, "pass"), "correct horse battery\n");
  expect(ibs(["key", "create", locked, "--passphrase-file", join(node.dir, "pass")]).code).toBe(0);
  refusedWithoutSnapshot(["backup", `data.ibsar:${src}`, "--backup-id", "err"], { IBS_KEYFILE: locked, IBS_KEY_PASSPHRASE: "wrong passphrase" }, 1, /wrong passphrase for keyfile/);
});

test("a wrong password is refused by the server", () => {
  refusedWithoutSnapshot(["backup", `data.ibsar:${src}`, "--backup-id", "err"], { IBS_PASSWORD: "not-the-password" }, 1, /HTTP 401/);
});

test("a certificate that does not match the pinned fingerprint is refused, showing both", () => {
  const wrong = "AA:".repeat(31) + "AA";
  const err = refusedWithoutSnapshot(["backup", `data.ibsar:${src}`, "--backup-id", "err"], { IBS_FINGERPRINT: wrong }, 1, /refusing to connect/);
  expect(err).toContain(node.fingerprint);
});

test("a backup without a keyfile must ask for --crypt-mode none", () => {
  refusedWithoutSnapshot(["backup", `data.ibsar:${src}`, "--backup-id", "err"], { IBS_KEYFILE: "" }, 2, /no keyfile for an encrypted backup/, /--crypt-mode none/);
});

test("a client killed in the middle of a backup leaves no snapshot", async () => {
  // ~100 chunks with random data each: long enough to kill the client while it uploads.
  const big = join(node.dir, "big.img");
  const fd = fs.openSync(big, "w");
  for (let i = 0; i < 100; i++) fs.writeSync(fd, crypto.getRandomValues(new Uint8Array(65536)), 0, 65536, i * 4 * 1024 * 1024);
  fs.closeSync(fd);
  const before = listedSnapshots(node);
  const p = Bun.spawn([ibsBinary(), "backup", `disk.img:${big}`, "--backup-id", "killed"], {
    env: { ...process.env, ...node.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  // Kill it once the session is open (its first progress line), i.e. while chunks go up.
  const seen = await readUntil(p.stderr.getReader(), "backing up");
  p.kill("SIGKILL");
  await p.exited;
  expect(seen).toContain("backing up host/killed/");
  expect(listedSnapshots(node)).toEqual(before);
}, 30_000);

test("benchmark measures every stage and the upload to the server, leaving no snapshot", () => {
  const before = listedSnapshots(node);
  const r = node.clientJson(["benchmark", "--seconds", "0.2"]);
  const names = r.stages.map((s: any) => s.stage);
  for (const want of ["SHA-256", "HMAC-SHA256", "chunking", "zstd level 1 compress", "zstd level 1 decompress", "AES-256-GCM encrypt", "TLS upload"]) {
    expect(names.some((n: string) => n.includes(want))).toBe(true);
  }
  for (const s of r.stages) expect(s.mbPerSecond).toBeGreaterThan(0);
  expect(listedSnapshots(node)).toEqual(before);
}, 30_000);

test("Ctrl-C aborts the session: nothing visible, and the group is free for the next backup at once", async () => {
  const big = join(node.dir, "big2.img");
  const fd = fs.openSync(big, "w");
  for (let i = 0; i < 100; i++) fs.writeSync(fd, crypto.getRandomValues(new Uint8Array(65536)), 0, 65536, i * 4 * 1024 * 1024);
  fs.closeSync(fd);
  const before = listedSnapshots(node);
  const p = Bun.spawn([ibsBinary(), "backup", `disk.img:${big}`, "--backup-id", "interrupted"], {
    env: { ...process.env, ...node.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const reader = p.stderr.getReader();
  let seen = await readUntil(reader, "backing up");
  p.kill("SIGINT");
  seen = await readUntil(reader, null, seen);
  expect(await p.exited).toBe(130);
  expect(seen).toContain("backup interrupted by SIGINT");
  expect(listedSnapshots(node)).toEqual(before);
  const next = node.clientJson(["backup", `data.ibsar:${src}`, "--backup-id", "interrupted"]);
  expect(next.snapshot).toStartWith("host/interrupted/");
}, 30_000);

test("a chunk tampered with by a key holder fails the restore, naming the file, and leaves no such file", async () => {
  const tree = fs.mkdtempSync(join(node.dir, "tamper-"));
  const victim = crypto.getRandomValues(new Uint8Array(200_000));
  fs.writeFileSync(join(tree, "victim.bin"), victim);
  const snap = node.clientJson(["backup", `data.ibsar:${tree}`, "--backup-id", "tamper"]).snapshot;
  // Rewrite the payload chunk holding the file with one byte changed, sealed with the right
  // key: GCM accepts it, so only a content check can catch it (as a swapped chunk would be).
  const keyring = await loadKeyfile(node.keyfile);
  const needle = Buffer.from(victim.subarray(0, 64));
  const store = new LocalBackend(join(node.dir, "datastores", "local"));
  let tampered = 0;
  for await (const { key } of store.list(".chunks/")) {
    const bytes = await store.get(key);
    const plain = Buffer.from(decodeBlob(bytes, { keyLookup: keyring.keyLookup }));
    const at = plain.indexOf(needle);
    if (at < 0) continue;
    plain[at + 1000] ^= 0xff;
    const keyId = inspectBlob(bytes).keyId!;
    await store.put(key, encodeBlob(plain, { cipher: { keyId, key: keyring.dataKey(keyId)! } }));
    tampered++;
  }
  expect(tampered).toBe(1);
  const out = join(node.dir, "tamper-restore");
  const r = node.client(["restore", snap, "data.ibsar", out]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("victim.bin");
  expect(r.stderr).toContain("SHA-256 mismatch");
  expect(fs.existsSync(join(out, "victim.bin"))).toBe(false);
});
