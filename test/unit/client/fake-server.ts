/**
 * An in-process fake of the backup/reader protocol (docs/protocol.md) behind the client's
 * Transport interface, with the server checks that matter to a client: chunks checked on
 * upload, indexes refused when they name a digest the session does not know, previous chunks
 * only after their index was downloaded, the manifest checked against what was written, and
 * nothing visible before finish. Counts requests so tests can assert on uploads.
 */
import { decodeBlob, inspectBlob } from "../../../src/datastore/blob.ts";
import { sha256Hex } from "../../../src/datastore/digest.ts";
import { DynamicIndex } from "../../../src/datastore/dynamic-index.ts";
import { FixedIndex } from "../../../src/datastore/fixed-index.ts";
import { decodeManifest, type Manifest } from "../../../src/datastore/manifest.ts";
import { formatBackupTime, parseBackupTime } from "../../../src/datastore/snapshot-path.ts";
import { ApiRequestError } from "../../../src/client/http.ts";
import type { Method, Transport } from "../../../src/client/transport.ts";

interface Snapshot {
  time: string;
  files: Map<string, Uint8Array>;
  manifest: Manifest;
}

interface WriterSession {
  group: string;
  time: string;
  cryptMode: string;
  known: Set<string>;
  previousKnown: Set<string>;
  previous: Snapshot | null;
  files: Map<string, Uint8Array>;
}

interface ReaderSessionState {
  snap: Snapshot;
  allowed: Set<string>;
}

const fail = (status: number, message: string): never => {
  throw new ApiRequestError(message, status, status === 403 ? "forbidden" : status === 404 ? "not_found" : "bad_request", {});
};

export class FakeServer implements Transport {
  readonly chunks = new Map<string, Uint8Array>();
  readonly groups = new Map<string, Snapshot[]>();
  readonly writers = new Map<string, WriterSession>();
  readonly readers = new Map<string, ReaderSessionState>();
  readonly counts = { chunkUploads: 0, chunkUploadBytes: 0, chunkDownloads: 0, previousChunkDownloads: 0, indexUploads: 0 };
  /** Registered key fingerprints (empty: any). */
  keys = new Set<string>();
  private clock = 1_800_000_000;
  private nextId = 1;

  private newId(): string {
    return (this.nextId++).toString(16).padStart(32, "0");
  }

  async json<T>(method: Method, path: string, body?: any): Promise<T> {
    if (method === "POST" && path === "/backup") return this.startBackup(body) as T;
    if (method === "POST" && path === "/reader") return this.startReader(body) as T;
    let m = /^\/backup\/([0-9a-f]+)$/.exec(path);
    if (method === "DELETE" && m) {
      this.writers.delete(m[1]!);
      return {} as T;
    }
    m = /^\/reader\/([0-9a-f]+)$/.exec(path);
    if (method === "DELETE" && m) {
      this.readers.delete(m[1]!);
      return {} as T;
    }
    return fail(404, `no route ${method} ${path}`);
  }

  async upload<T>(path: string, bytes: Uint8Array): Promise<T> {
    const m = /^\/backup\/([0-9a-f]+)\/(chunk|index|blob|finish)(?:\/(.+))?$/.exec(path);
    if (!m) return fail(404, `no route POST ${path}`);
    const s = this.writers.get(m[1]!) ?? fail(404, "no such backup session");
    const arg = m[3] ? decodeURIComponent(m[3]) : "";
    switch (m[2]) {
      case "chunk": {
        const h = inspectBlob(bytes, `chunk ${arg}`);
        if (h.encrypted !== (s.cryptMode === "encrypt")) fail(400, `chunk ${arg}: crypt mode does not match the session`);
        if (!h.encrypted) decodeBlob(bytes, { expectedDigest: arg });
        this.counts.chunkUploads++;
        this.counts.chunkUploadBytes += bytes.byteLength;
        if (!this.chunks.has(arg)) this.chunks.set(arg, bytes.slice());
        s.known.add(arg);
        return {} as T;
      }
      case "index": {
        const idx = arg.endsWith(".fidx") ? FixedIndex.parse(bytes, arg) : DynamicIndex.parse(bytes, arg);
        for (const d of idx.digests()) if (!s.known.has(d)) fail(400, `index ${arg}: chunk ${d} is not known in this session`);
        this.counts.indexUploads++;
        s.files.set(arg, bytes.slice());
        return { size: bytes.byteLength, csum: sha256Hex(bytes) } as T;
      }
      case "blob":
        inspectBlob(bytes, arg);
        s.files.set(arg, bytes.slice());
        return { size: bytes.byteLength, csum: sha256Hex(bytes) } as T;
      case "finish": {
        const manifest = decodeManifest(bytes, "index.json.blob");
        for (const f of manifest.files) {
          const got = s.files.get(f.filename) ?? fail(400, `manifest lists ${f.filename}, which this session did not write`);
          if (got.byteLength !== f.size || sha256Hex(got) !== f.csum) fail(400, `manifest entry ${f.filename} does not match what was written`);
        }
        const snap: Snapshot = { time: s.time, files: s.files, manifest };
        this.groups.set(s.group, [...(this.groups.get(s.group) ?? []), snap]);
        this.writers.delete(m[1]!);
        return { snapshot: `${s.group}/${s.time}` } as T;
      }
    }
    return fail(404, "unreachable");
  }

  async download(path: string): Promise<Uint8Array> {
    let m = /^\/backup\/([0-9a-f]+)\/(previous|previous-chunk)\/(.+)$/.exec(path);
    if (m) {
      const s = this.writers.get(m[1]!) ?? fail(404, "no such backup session");
      const arg = decodeURIComponent(m[3]!);
      if (m[2] === "previous") {
        const f = s.previous?.files.get(arg) ?? fail(404, `previous snapshot has no file ${arg}`);
        this.allowIndex(arg, f, s.known, s.previousKnown);
        return f.slice(); // fresh bytes, as off the network
      }
      if (!s.previousKnown.has(arg)) fail(403, `chunk ${arg} is not in a previous index this session downloaded`);
      this.counts.previousChunkDownloads++;
      return this.chunks.get(arg)!.slice();
    }
    m = /^\/reader\/([0-9a-f]+)\/(file|chunk)\/(.+)$/.exec(path);
    if (m) {
      const r = this.readers.get(m[1]!) ?? fail(404, "no such reader session");
      const arg = decodeURIComponent(m[3]!);
      if (m[2] === "file") {
        const f = r.snap.files.get(arg) ?? fail(404, `no file ${arg}`);
        this.allowIndex(arg, f, r.allowed);
        return f.slice();
      }
      if (!r.allowed.has(arg)) fail(403, "chunk not referenced by an index opened in this session");
      this.counts.chunkDownloads++;
      return (this.chunks.get(arg) ?? fail(404, `chunk ${arg} missing`)).slice();
    }
    return fail(404, `no route GET ${path}`);
  }

  private allowIndex(name: string, bytes: Uint8Array, ...sets: Set<string>[]): void {
    if (!name.endsWith("idx")) return;
    const idx = name.endsWith(".fidx") ? FixedIndex.parse(bytes, name) : DynamicIndex.parse(bytes, name);
    for (const d of idx.digests()) for (const set of sets) set.add(d);
  }

  private startBackup(b: any) {
    if (b.cryptMode === "encrypt" && this.keys.size > 0 && !this.keys.has(b.keyFingerprint)) {
      fail(403, `key ${b.keyFingerprint} is not registered on this server`);
    }
    const group = `${b.ns ? `ns/${b.ns}/` : ""}${b.backupType}/${b.backupId}`;
    const snaps = this.groups.get(group) ?? [];
    const last = snaps[snaps.length - 1] ?? null;
    this.clock = Math.max(this.clock + 1, b.backupTime ?? 0, last ? parseBackupTime(last.time) + 1 : 0);
    const time = formatBackupTime(this.clock);
    const id = this.newId();
    this.writers.set(id, { group, time, cryptMode: b.cryptMode, known: new Set(), previousKnown: new Set(), previous: last, files: new Map() });
    return { session: id, upid: `UPID:fake:${id}`, snapshot: `${b.backupType}/${b.backupId}/${time}`, previous: last ? { time: last.time, manifest: last.manifest } : null };
  }

  private startReader(b: any) {
    const [type, id, time] = String(b.snapshot).split("/");
    const group = `${b.ns ? `ns/${b.ns}/` : ""}${type}/${id}`;
    const snap = (this.groups.get(group) ?? []).find((s) => s.time === time) ?? fail(404, `snapshot ${b.snapshot} not found`);
    const sid = this.newId();
    this.readers.set(sid, { snap, allowed: new Set() });
    return { session: sid, manifest: snap.manifest };
  }
}
