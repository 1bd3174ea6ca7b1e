/**
 * The snapshot-management routes of docs/protocol.md as typed calls: list groups and
 * snapshots, forget, protect, notes; `files` and `show` read the manifest (and the client log)
 * through a reader session.
 */
import { decodeBlob } from "../datastore/blob.ts";
import type { Manifest } from "../datastore/manifest.ts";
import { archivesInManifest, CLIENT_LOG_FILE } from "./archive-spec.ts";
import type { SnapshotName } from "./backup-session.ts";
import type { CryptConfig } from "./crypt.ts";
import { ReaderSession } from "./reader-session.ts";
import type { Transport } from "./transport.ts";

export interface GroupInfo {
  ns: string;
  type: string;
  id: string;
  owner: string | null;
  snapshotCount: number;
  lastBackup: string | null;
  comment: string | null;
}

export interface SnapshotInfo {
  ns: string;
  type: string;
  id: string;
  time: string;
  snapshot: string;
  owner: string | null;
  protected: boolean;
  verifyState: string | null;
  cryptMode: string;
  size: number;
  logicalSize: number;
  fileCount: number;
  comment: string | null;
}

export interface SnapshotRef {
  store: string;
  ns?: string;
  snapshot: SnapshotName;
}

const enc = encodeURIComponent;

function snapPath(r: SnapshotRef, rest = ""): string {
  const s = r.snapshot;
  const q = r.ns ? `?ns=${enc(r.ns)}` : "";
  return `/datastore/${enc(r.store)}/snapshots/${s.type}/${enc(s.id)}/${enc(s.time)}${rest}${q}`;
}

export function listGroups(t: Transport, store: string, ns?: string): Promise<GroupInfo[]> {
  return t.json("GET", `/datastore/${enc(store)}/groups`, undefined, { ns: ns || undefined });
}

export function listSnapshots(t: Transport, store: string, filter: { ns?: string; type?: string; id?: string } = {}): Promise<SnapshotInfo[]> {
  return t.json("GET", `/datastore/${enc(store)}/snapshots`, undefined, { ns: filter.ns || undefined, type: filter.type, id: filter.id });
}

export function forgetSnapshot(t: Transport, r: SnapshotRef): Promise<unknown> {
  return t.json("DELETE", snapPath(r));
}

export function protectSnapshot(t: Transport, r: SnapshotRef, value: boolean): Promise<{ snapshot: string; protected: boolean }> {
  return t.json("PUT", snapPath(r, "/protected"), { protected: value });
}

export function getNotes(t: Transport, r: SnapshotRef): Promise<{ snapshot: string; notes: string | null }> {
  return t.json("GET", snapPath(r, "/notes"));
}

export function setNotes(t: Transport, r: SnapshotRef, notes: string | null): Promise<{ snapshot: string; notes: string | null }> {
  return t.json("PUT", snapPath(r, "/notes"), { notes });
}

export interface SnapshotDetails {
  snapshot: string;
  manifest: Manifest;
  archives: Array<{ name: string; kind: string }>;
  /** The client log, when it is unencrypted or the right key was given. */
  clientLog?: string;
  clientLogError?: string;
}

/** The manifest (and the client log when readable) through a reader session. */
export async function showSnapshot(t: Transport, r: SnapshotRef, crypt: CryptConfig | undefined, withLog: boolean): Promise<SnapshotDetails> {
  const session = await ReaderSession.open(t, { store: r.store, ns: r.ns, snapshot: r.snapshot });
  try {
    const m = session.manifest;
    const out: SnapshotDetails = { snapshot: session.name, manifest: m, archives: archivesInManifest(m.files) };
    const log = m.files.find((f) => f.filename === CLIENT_LOG_FILE);
    if (withLog && log) {
      try {
        const bytes = await session.file(CLIENT_LOG_FILE);
        if (log.crypt_mode === "encrypt" && crypt?.fingerprint !== m.key_fingerprint) {
          out.clientLogError = `the client log is encrypted with key ${m.key_fingerprint}; pass --keyfile with that key to read it`;
        } else {
          out.clientLog = new TextDecoder().decode(decodeBlob(bytes, { name: CLIENT_LOG_FILE, keyLookup: crypt?.keyring?.keyLookup }));
        }
      } catch (err) {
        out.clientLogError = (err as Error).message;
      }
    }
    return out;
  } finally {
    await session.close();
  }
}
