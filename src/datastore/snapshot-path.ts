/**
 * Names of namespaces, groups and snapshots, and the backend keys they map to:
 *   namespace a/b        -> "ns/a/ns/b"
 *   group vm/100 in a/b  -> "ns/a/ns/b/vm/100"
 *   snapshot             -> "ns/a/ns/b/vm/100/2026-11-26T19:00:00Z"
 * Identifier rules follow PBS so names move between the two without renaming.
 */
import { UsageError } from "../util/errors.ts";

export const BACKUP_TYPES = ["vm", "ct", "host"] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];

/** Namespace components from the root down; [] is the root namespace. */
export type Namespace = readonly string[];

export interface GroupRef {
  ns: Namespace;
  type: BackupType;
  id: string;
}

export interface SnapshotRef extends GroupRef {
  /** RFC 3339 UTC, second precision: "2026-11-26T19:00:00Z". */
  time: string;
}

export const MAX_NAMESPACE_DEPTH = 8;
export const MAX_NAMESPACE_COMPONENT = 64;
export const MAX_NAMESPACE_LENGTH = 256;
export const MAX_BACKUP_ID_LENGTH = 128;
export const MAX_FILENAME_LENGTH = 128;
export const MANIFEST_FILENAME = "index.json.blob";

const SAFE_ID = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;
const ARCHIVE_FILENAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*\.(fidx|didx|blob)$/;

export function isBackupType(value: string): value is BackupType {
  return (BACKUP_TYPES as readonly string[]).includes(value);
}

export function validateBackupType(value: string): BackupType {
  if (!isBackupType(value)) throw new UsageError(`backup type '${value}' is not one of ${BACKUP_TYPES.join(", ")}`);
  return value;
}

export function validateBackupId(id: string): string {
  if (!SAFE_ID.test(id) || id.length > MAX_BACKUP_ID_LENGTH) {
    throw new UsageError(
      `backup id '${id}' is invalid: use up to ${MAX_BACKUP_ID_LENGTH} letters, digits, '_', '.' or '-', starting with a letter, digit or '_'`,
    );
  }
  return id;
}

/** "a/b" (or "", "/") to ["a","b"], validated. */
export function parseNamespace(text: string): Namespace {
  const trimmed = text.replace(/^\/+|\/+$/g, "");
  const ns = trimmed === "" ? [] : trimmed.split("/");
  validateNamespace(ns);
  return ns;
}

export function validateNamespace(ns: Namespace): Namespace {
  const shown = ns.join("/");
  if (ns.length > MAX_NAMESPACE_DEPTH) {
    throw new UsageError(`namespace '${shown}' is ${ns.length} levels deep; the limit is ${MAX_NAMESPACE_DEPTH}`);
  }
  for (const part of ns) {
    if (!SAFE_ID.test(part) || part.length > MAX_NAMESPACE_COMPONENT) {
      throw new UsageError(
        `namespace '${shown}': component '${part}' is invalid: use up to ${MAX_NAMESPACE_COMPONENT} letters, digits, '_', '.' or '-', starting with a letter, digit or '_'`,
      );
    }
  }
  if (shown.length > MAX_NAMESPACE_LENGTH) throw new UsageError(`namespace '${shown.slice(0, 40)}…' is longer than ${MAX_NAMESPACE_LENGTH} characters`);
  return ns;
}

export function formatNamespace(ns: Namespace): string {
  return ns.join("/");
}

/** Backend key prefix of a namespace: "" for the root, else "ns/a/ns/b". */
export function namespaceKey(ns: Namespace): string {
  return ns.map((part) => `ns/${part}`).join("/");
}

function under(ns: Namespace, rest: string): string {
  const prefix = namespaceKey(ns);
  return prefix === "" ? rest : `${prefix}/${rest}`;
}

export function groupKey(group: GroupRef): string {
  return under(group.ns, `${group.type}/${group.id}`);
}

export function snapshotKey(snap: SnapshotRef): string {
  return `${groupKey(snap)}/${snap.time}`;
}

export function validateGroup(group: GroupRef): GroupRef {
  validateNamespace(group.ns);
  validateBackupType(group.type);
  validateBackupId(group.id);
  return group;
}

export function validateSnapshot(snap: SnapshotRef): SnapshotRef {
  validateGroup(snap);
  parseBackupTime(snap.time);
  return snap;
}

/** Human form for messages: "vm/100" or "vm/100 in namespace a/b". */
export function describeGroup(group: GroupRef): string {
  const base = `${group.type}/${group.id}`;
  return group.ns.length ? `${base} in namespace ${formatNamespace(group.ns)}` : base;
}

export function describeSnapshot(snap: SnapshotRef): string {
  const base = `${snap.type}/${snap.id}/${snap.time}`;
  return snap.ns.length ? `${base} in namespace ${formatNamespace(snap.ns)}` : base;
}

/** Unix seconds to "YYYY-MM-DDTHH:MM:SSZ". */
export function formatBackupTime(epochSeconds: number): string {
  if (!Number.isInteger(epochSeconds) || epochSeconds < 1) throw new UsageError(`backup time ${epochSeconds} must be a positive whole number of seconds`);
  return new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** "YYYY-MM-DDTHH:MM:SSZ" to unix seconds; refuses other forms and impossible dates. */
export function parseBackupTime(text: string): number {
  const m = TIME.exec(text);
  const ms = m ? Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) : NaN;
  if (!m || Number.isNaN(ms) || formatBackupTimeUnchecked(ms / 1000) !== text || ms < 1000) {
    throw new UsageError(`backup time '${text}' is not an RFC 3339 UTC time like 2026-11-26T19:00:00Z`);
  }
  return ms / 1000;
}

function formatBackupTimeUnchecked(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Names of files a client may add to a snapshot (indexes and blobs; the manifest is reserved). */
export function validateArchiveFilename(name: string): string {
  if (!ARCHIVE_FILENAME.test(name) || name.length > MAX_FILENAME_LENGTH) {
    throw new UsageError(`file name '${name}' is invalid: use letters, digits, '_', '.', '-' and end in .fidx, .didx or .blob (at most ${MAX_FILENAME_LENGTH} characters)`);
  }
  if (name === MANIFEST_FILENAME) throw new UsageError(`file name '${name}' is reserved for the manifest`);
  return name;
}

export type ParsedKey =
  | { kind: "namespace-marker"; ns: Namespace }
  | { kind: "group-file"; group: GroupRef; file: string }
  | { kind: "snapshot-file"; snapshot: SnapshotRef; file: string };

/**
 * Reads a content key back into names ("ns/a/vm/100/owner", ".../<time>/x.didx"), or null for
 * keys outside the snapshot hierarchy (chunks, strays). Only one level of file below a
 * snapshot or group is recognised.
 */
export function parseContentKey(key: string): ParsedKey | null {
  const parts = key.split("/");
  const ns: string[] = [];
  let i = 0;
  while (parts[i] === "ns" && i + 1 < parts.length) {
    if (parts[i + 2] === undefined) break;
    ns.push(parts[i + 1]!);
    i += 2;
  }
  const rest = parts.slice(i);
  try {
    validateNamespace(ns);
    if (rest.length === 1 && rest[0] === NAMESPACE_MARKER && ns.length > 0) return { kind: "namespace-marker", ns };
    if (rest.length < 3 || !isBackupType(rest[0]!)) return null;
    const group: GroupRef = { ns, type: rest[0] as BackupType, id: validateBackupId(rest[1]!) };
    if (rest.length === 3) return { kind: "group-file", group, file: rest[2]! };
    if (rest.length === 4) {
      parseBackupTime(rest[2]!);
      return { kind: "snapshot-file", snapshot: { ...group, time: rest[2]! }, file: rest[3]! };
    }
  } catch {
    return null;
  }
  return null;
}

/** Zero-length object that makes an empty namespace exist on backends without directories. */
export const NAMESPACE_MARKER = ".namespace";
