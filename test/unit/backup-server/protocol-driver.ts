/**
 * Drives the backup/restore protocol (docs/protocol.md) the way a client does, building the
 * chunks, indexes and manifests with the datastore library's formats. The transport is either
 * the in-process hono app (unit tests) or HTTPS to a real api process (integration tests).
 */
import { randomBytes } from "node:crypto";
import { encodeBlob, type BlobCipher } from "../../../src/datastore/blob.ts";
import { chunkDigest } from "../../../src/datastore/digest.ts";
import { DynamicIndexWriter } from "../../../src/datastore/dynamic-index.ts";
import { createManifest, describeFile, encodeManifest, type CryptMode, type Manifest } from "../../../src/datastore/manifest.ts";

/** Sends one request below /api/v1; `body` is raw bytes or JSON. */
export type Transport = (method: string, path: string, body?: Uint8Array | object) => Promise<Response>;

export class ProtocolError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, any>,
  ) {
    super(`${status} ${code}: ${message}`);
  }
}

export async function call<T = any>(t: Transport, method: string, path: string, body?: Uint8Array | object): Promise<T> {
  const r = await t(method, path, body);
  const type = r.headers.get("content-type") ?? "";
  if (!r.ok) {
    const j = (await r.json().catch(() => ({}))) as any;
    throw new ProtocolError(r.status, j?.error?.code ?? "?", j?.error?.message ?? r.statusText, j?.error?.details ?? {});
  }
  if (type.includes("application/octet-stream")) return new Uint8Array(await r.arrayBuffer()) as T;
  return (await r.json()) as T;
}

/** The error a call fails with; a call that succeeds fails the test. */
export async function refused(p: Promise<unknown>): Promise<ProtocolError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw err;
  }
  throw new Error("expected the call to be refused, it succeeded");
}

export interface Crypt {
  cipher: BlobCipher;
  digestKey: Uint8Array;
  signKey: Uint8Array;
  fingerprint: string;
}

/** A made-up keyring: what a client's keyfile would give (the server never sees the keys). */
export function testCrypt(): Crypt {
  const fp = [...randomBytes(32)].map((b) => b.toString(16).padStart(2, "0")).join(":");
  return { cipher: { keyId: 1, key: randomBytes(32) }, digestKey: randomBytes(32), signKey: randomBytes(32), fingerprint: fp };
}

export interface Chunk {
  data: Uint8Array;
  digest: string;
  blob: Uint8Array;
}

export function makeChunk(data: Uint8Array, crypt?: Crypt): Chunk {
  return { data, digest: chunkDigest(data, crypt?.digestKey), blob: encodeBlob(data, { cipher: crypt?.cipher }) };
}

export function randomChunk(size = 4096, crypt?: Crypt): Chunk {
  return makeChunk(new Uint8Array(randomBytes(size)), crypt);
}

export function dynamicIndex(chunks: readonly Chunk[]): Uint8Array {
  const w = new DynamicIndexWriter();
  for (const c of chunks) w.addChunk(c.data.length, c.digest);
  return w.finish();
}

export interface SnapshotFile {
  name: string;
  bytes: Uint8Array;
  cryptMode: CryptMode;
}

export function manifestBlob(snapshot: string, files: SnapshotFile[], opts: { crypt?: Crypt; warnings?: number } = {}): Uint8Array {
  const [type, id, time] = snapshot.split("/") as [any, string, string];
  const manifest: Manifest = createManifest(
    {
      snapshot: { type, id, time },
      files: files.map((f) => describeFile(f.name, f.bytes, f.cryptMode)),
      keyFingerprint: opts.crypt?.fingerprint,
      unprotected: opts.warnings !== undefined ? { warnings: opts.warnings } : {},
    },
    opts.crypt?.signKey,
  );
  return encodeManifest(manifest);
}

export interface BackupStart {
  store: string;
  ns?: string;
  backupType: "vm" | "ct" | "host";
  backupId: string;
  backupTime?: string;
  cryptMode: "encrypt" | "none";
  keyFingerprint?: string;
}

export interface Started {
  session: string;
  upid: string;
  snapshot: string;
  previous: { time: string; manifest: Manifest } | null;
}

/** One backup: upload the chunks (all of them, or only `upload`), one index, one blob, finish. */
export async function backup(
  t: Transport,
  start: BackupStart,
  chunks: readonly Chunk[],
  opts: { crypt?: Crypt; upload?: readonly Chunk[]; warnings?: number; previousIndex?: string } = {},
): Promise<{ started: Started; finished: { snapshot: string; upid: string; result: string }; index: Uint8Array }> {
  const started = await call<Started>(t, "POST", "/backup", start);
  const s = `/backup/${started.session}`;
  if (opts.previousIndex) await call(t, "GET", `${s}/previous/${opts.previousIndex}`);
  await Promise.all((opts.upload ?? chunks).map((c) => call(t, "POST", `${s}/chunk/${c.digest}`, c.blob)));
  const index = dynamicIndex(chunks);
  const mode: CryptMode = start.cryptMode === "encrypt" ? "encrypt" : "none";
  await call(t, "POST", `${s}/index/root.pxar.didx`, index);
  const conf = encodeBlob(new TextEncoder().encode(`backup of ${start.backupId}\n`), { cipher: opts.crypt?.cipher });
  await call(t, "POST", `${s}/blob/host.conf.blob`, conf);
  const files: SnapshotFile[] = [
    { name: "root.pxar.didx", bytes: index, cryptMode: mode },
    { name: "host.conf.blob", bytes: conf, cryptMode: mode },
  ];
  const finished = await call(t, "POST", `${s}/finish`, manifestBlob(started.snapshot, files, { crypt: opts.crypt, warnings: opts.warnings }));
  return { started, finished, index };
}

export function timeAt(epochSec: number): string {
  return new Date(epochSec * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}
