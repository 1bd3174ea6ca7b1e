/**
 * A writer session of docs/protocol.md as typed calls: start, download from the previous
 * snapshot, upload chunks, indexes and blobs, finish with the manifest, or abort.
 */
import { encodeBlob } from "../datastore/blob.ts";
import { decodeManifest, type Manifest } from "../datastore/manifest.ts";
import { parseBackupTime, type BackupType } from "../datastore/snapshot-path.ts";
import { IbsError } from "../util/errors.ts";
import { ApiRequestError } from "./http.ts";
import type { ClientCryptMode } from "./crypt.ts";
import type { Transport } from "./transport.ts";

export interface SnapshotName {
  type: BackupType;
  id: string;
  time: string;
}

export interface BackupStartRequest {
  store: string;
  /** "a/b"; empty or undefined for the root namespace. */
  ns?: string;
  backupType: BackupType;
  backupId: string;
  /** RFC 3339 UTC ("2026-11-26T19:00:00Z"); the server picks "now" when absent. */
  backupTime?: string;
  cryptMode: ClientCryptMode;
  keyFingerprint?: string;
}

export interface PreviousSnapshot {
  time: string;
  manifest: Manifest;
}

interface StartAnswer {
  session: string;
  upid?: string;
  snapshot: unknown;
  previous?: { time: string; manifest: unknown } | null;
}

export class BackupSession {
  private finished = false;
  private watch: { stop(): void } | undefined;

  private constructor(
    private readonly t: Transport,
    readonly id: string,
    readonly upid: string | undefined,
    readonly snapshot: SnapshotName,
    readonly previous: PreviousSnapshot | null,
  ) {}

  static async start(t: Transport, req: BackupStartRequest): Promise<BackupSession> {
    const body: Record<string, unknown> = {
      store: req.store,
      backupType: req.backupType,
      backupId: req.backupId,
      cryptMode: req.cryptMode,
    };
    if (req.ns) body.ns = req.ns;
    if (req.backupTime !== undefined) body.backupTime = req.backupTime;
    if (req.keyFingerprint) body.keyFingerprint = req.keyFingerprint;
    let a: StartAnswer;
    for (let attempt = 1; ; attempt++) {
      try {
        a = await t.json<StartAnswer>("POST", "/backup", body);
        break;
      } catch (err) {
        // Snapshot times have one-second resolution: a backup right after the previous one of
        // the group would reuse its second. When the server picks the time, wait for the next.
        if (req.backupTime !== undefined || attempt > 2 || !(err instanceof ApiRequestError) || !/not newer than the last snapshot/.test(err.message)) throw err;
        await Bun.sleep(1000 - (Date.now() % 1000) + 10);
      }
    }
    if (typeof a?.session !== "string" || !/^[0-9a-f]{16,64}$/.test(a.session)) {
      throw new IbsError(`the server answered POST /backup without a usable session id (${JSON.stringify(a?.session)})`);
    }
    const snapshot = parseSnapshotName(a.snapshot, "POST /backup answer");
    const previous = a.previous ? { time: a.previous.time, manifest: manifestFromAnswer(a.previous.manifest, `previous snapshot ${a.previous.time}`) } : null;
    const session = new BackupSession(t, a.session, a.upid, snapshot, previous);
    session.watch = t.watch?.(session.path("watch"));
    return session;
  }

  private path(rest: string): string {
    return `/backup/${this.id}/${rest}`;
  }

  previousFile(name: string): Promise<Uint8Array> {
    return this.t.download(this.path(`previous/${encodeURIComponent(name)}`));
  }

  previousChunk(digest: string): Promise<Uint8Array> {
    return this.t.download(this.path(`previous-chunk/${digest}`));
  }

  async uploadChunk(digest: string, blob: Uint8Array): Promise<void> {
    await this.t.upload(this.path(`chunk/${digest}`), blob);
  }

  async uploadIndex(name: string, bytes: Uint8Array): Promise<void> {
    await this.t.upload(this.path(`index/${encodeURIComponent(name)}`), bytes);
  }

  async uploadBlob(name: string, bytes: Uint8Array): Promise<void> {
    await this.t.upload(this.path(`blob/${encodeURIComponent(name)}`), bytes);
  }

  async finish(manifestBlob: Uint8Array): Promise<string> {
    const a = await this.t.upload<{ snapshot?: unknown }>(this.path("finish"), manifestBlob);
    this.finished = true;
    this.watch?.stop();
    return a?.snapshot === undefined ? formatSnapshotName(this.snapshot) : formatSnapshotName(parseSnapshotName(a.snapshot, "finish answer"));
  }

  /** Aborts the session; nothing becomes visible. Never throws (it runs on the error path). */
  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    try {
      await this.t.json("DELETE", `/backup/${this.id}`);
    } catch {
      // the server also aborts idle sessions after backup.session_timeout
    } finally {
      this.watch?.stop();
    }
  }
}

export function formatSnapshotName(s: SnapshotName): string {
  return `${s.type}/${s.id}/${s.time}`;
}

/** "type/id/time" or {type|backupType, id|backupId, time|backupTime} from an answer. */
export function parseSnapshotName(value: unknown, where: string): SnapshotName {
  let type: unknown, id: unknown, time: unknown;
  if (typeof value === "string") {
    const parts = value.split("/");
    [type, id, time] = parts.slice(-3);
  } else if (value && typeof value === "object") {
    const v = value as Record<string, unknown>;
    type = v.type ?? v.backupType ?? v["backup-type"];
    id = v.id ?? v.backupId ?? v["backup-id"];
    time = v.time ?? v.backupTime ?? v["backup-time"];
    if (typeof time === "number") time = new Date(time * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  if ((type !== "vm" && type !== "ct" && type !== "host") || typeof id !== "string" || typeof time !== "string") {
    throw new IbsError(`${where}: cannot read the snapshot name from ${JSON.stringify(value)}`);
  }
  parseBackupTime(time);
  return { type, id, time };
}

/**
 * The manifest as an answer carries it: decoded JSON (docs/protocol.md), or base64 blob bytes
 * from a server that sends the file itself. Validated by the manifest schema either way.
 */
export function manifestFromAnswer(value: unknown, name: string): Manifest {
  if (typeof value === "string") return decodeManifest(new Uint8Array(Buffer.from(value, "base64")), name);
  return decodeManifest(encodeBlob(new TextEncoder().encode(JSON.stringify(value)), { compress: false }), name);
}
