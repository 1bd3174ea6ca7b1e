/**
 * `datastore probe`: checks a datastore's directory the way an operator would by hand, each
 * finding one line with its cause:
 *   path       exists and is a directory                      (ls -ld)
 *   mount      which mount holds it; warns on the root fs     (findmnt --target)
 *   datastore  .ibs/datastore.json present, the registered id, the mode
 *   read       the directory can be listed
 *   write      a probe file is created, written, fsynced, read back and removed (touch, sync, rm)
 *   space      free bytes                                     (df -h)
 *   inodes     free inodes                                    (df -i)
 *   latency    how long that probe file round trip took
 * Failures name the cause: not mounted, read-only filesystem, permission denied, no space,
 * no inodes, quota, I/O error. The probe file is named `.ibstmp-probe-<hex>`, a name the
 * backends hide and never treat as content, so a probe killed halfway leaves nothing visible.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, statfsSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { StateDb } from "../../state/db.ts";
import { errorMessage } from "../../util/errors.ts";
import { CONFIG_KEY, type DatastoreConfig } from "../datastore-config.ts";
import { describeFsError, type FsCause } from "./fs-errors.ts";
import { formatSize, percent } from "./human.ts";
import { type MountInfo, mountOf } from "./mounts.ts";
import { physicalPath } from "./names.ts";
import { readStoreConfig } from "./open.ts";
import type { S3Marker } from "../../s3/marker.ts";
import type { S3ProbeCause, S3ProbeCheckName } from "../../s3/probe.ts";
import { requireDatastore } from "./registry.ts";
import { probeS3Datastore } from "./s3-probe.ts";

export type ProbeStatus = "ok" | "warn" | "fail" | "skip";
export type ProbeCause =
  | FsCause
  | "not-mounted"
  | "not-a-datastore"
  | "wrong-datastore"
  | "bad-config"
  | "mode"
  | "root-filesystem"
  | "low-space"
  | "low-inodes"
  | "slow";

export type ProbeCheckName = "path" | "mount" | "datastore" | "read" | "write" | "space" | "inodes" | "latency";

export interface ProbeCheck {
  /** For an S3 store: the S3 checks by their names, the local directory's as `local-<check>`. */
  check: ProbeCheckName | S3ProbeCheckName | `local-${ProbeCheckName}` | "endpoint";
  status: ProbeStatus;
  message: string;
  cause?: ProbeCause | S3ProbeCause;
}

export interface ProbeReport {
  /** The registered name, or null when a bare path was probed. */
  name: string | null;
  path: string;
  ok: boolean;
  failures: number;
  warnings: number;
  checks: ProbeCheck[];
  mount: { mountPoint: string; isMountPoint: boolean; fsType: string; source: string; readOnly: boolean } | null;
  space: { bytesTotal: number; bytesAvailable: number; inodesTotal: number; inodesFree: number } | null;
  /** Milliseconds for the probe file round trip (create, write, fsync, read, remove). */
  latencyMs: number | null;
  /** Who ran the probe: permissions depend on it. */
  uid: number;
  /** Set for an S3 store: where it is, the marker found, whether conditional create is honoured. */
  s3?: { endpoint: string; url: string; bucket: string; prefix: string; marker: S3Marker | null; conditionalCreate: "honoured" | "ignored" | null; latencyMs: number | null };
}

export interface ProbeOptions {
  name?: string;
  /** The registered store id; a different id at the path is a failure. */
  expectedId?: string;
  /** Replaces the filesystem calls that report space and write the probe file (tests simulate a full disk with it). */
  io?: Partial<ProbeIo>;
}

export interface ProbeIo {
  statfs(path: string): { bsize: number; frsize?: number; blocks: number; bfree: number; bavail: number; files: number; ffree: number };
  /** Creates, writes, fsyncs, reads back and removes a probe file in `dir`; returns milliseconds. */
  writeProbe(dir: string): number;
}

/** Below this share of free space or inodes the probe warns. */
export const LOW_FREE_RATIO = 0.05;
/** A probe file round trip slower than this is a warning (a struggling disk or network mount). */
export const SLOW_LATENCY_MS = 1000;
const PROBE_SIZE = 4096;

export async function probeDatastore(db: StateDb, name: string): Promise<ProbeReport> {
  const entry = requireDatastore(db, name);
  if (entry.backend === "s3") return probeS3Datastore(entry);
  return probePath(entry.path, { name, expectedId: entry.storeId });
}

export async function probePath(path: string, opts: ProbeOptions = {}): Promise<ProbeReport> {
  const io: ProbeIo = { statfs: (p) => statfsSync(p), writeProbe: writeProbeFile, ...opts.io };
  const checks: ProbeCheck[] = [];
  const add = (check: ProbeCheckName, status: ProbeStatus, message: string, cause?: ProbeCause) => checks.push(cause ? { check, status, message, cause } : { check, status, message });
  const report = (): ProbeReport => {
    const failures = checks.filter((c) => c.status === "fail").length;
    return { name: opts.name ?? null, path, ok: failures === 0, failures, warnings: checks.filter((c) => c.status === "warn").length, checks, mount: mountView, space, latencyMs, uid: process.getuid?.() ?? -1 };
  };
  let mountView: ProbeReport["mount"] = null;
  let space: ProbeReport["space"] = null;
  let latencyMs: number | null = null;

  // path
  const physical = physicalPath(path);
  const mount = mountOf(physical);
  if (mount) mountView = { mountPoint: mount.mountPoint, isMountPoint: mount.mountPoint === physical, fsType: mount.fsType, source: mount.source, readOnly: mount.readOnly };
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
    if (isDir) add("path", "ok", `${path} is a directory`);
    else add("path", "fail", `${path} is not a directory`, "not-a-directory");
  } catch (err) {
    const p = describeFsError(err);
    add("path", "fail", p.cause === "missing" ? `${path} does not exist (not mounted, or removed)` : `${path}: ${p.text}`, p.cause);
  }
  addMountCheck(add, path, mount, physical);
  if (!isDir) return report();

  // datastore
  checkConfig(add, path, mount, physical, opts);

  // read
  try {
    readdirSync(path);
    add("read", "ok", `${path} can be listed`);
  } catch (err) {
    add("read", "fail", `cannot list ${path}: ${describeFsError(err).text}${who(path)}`, describeFsError(err).cause);
  }

  // space and inodes first: they tell ENOSPC apart (no space or no inodes)
  let stats: ReturnType<ProbeIo["statfs"]> | null = null;
  try {
    stats = io.statfs(path);
  } catch (err) {
    add("space", "fail", `cannot read filesystem figures of ${path}: ${describeFsError(err).text}`, describeFsError(err).cause);
  }

  // write
  if (mount?.readOnly) {
    add("write", "fail", `cannot write to ${path}: read-only filesystem (${mount.mountPoint} is mounted read-only)`, "read-only");
  } else {
    try {
      latencyMs = io.writeProbe(path);
      add("write", "ok", `a probe file was created, fsynced, read back and removed in ${path}`);
    } catch (err) {
      const p = describeFsError(err, stats !== null && stats.files > 0 && stats.ffree === 0);
      add("write", "fail", `cannot write to ${path}: ${p.text}${p.cause === "permission-denied" ? who(path) : ""}`, p.cause);
    }
  }

  if (stats) {
    const blockSize = stats.frsize || stats.bsize;
    const total = stats.blocks * blockSize;
    const avail = stats.bavail * blockSize;
    space = { bytesTotal: total, bytesAvailable: avail, inodesTotal: stats.files, inodesFree: stats.ffree };
    const shown = `${formatSize(avail)} of ${formatSize(total)} available (${percent(avail, total)})`;
    if (avail === 0) add("space", "fail", `no space left on the filesystem of ${path}: ${shown}`, "no-space");
    else if (total > 0 && avail / total < LOW_FREE_RATIO) add("space", "warn", `space is low: ${shown}`, "low-space");
    else add("space", "ok", shown);

    const inodes = `${formatSize(stats.ffree, true)} of ${formatSize(stats.files, true)} inodes free (${percent(stats.ffree, stats.files)})`;
    if (stats.files === 0) add("inodes", "ok", "the filesystem has no fixed inode count (it allocates them as needed)");
    else if (stats.ffree === 0) add("inodes", "fail", `no free inodes left on the filesystem of ${path}: ${inodes}`, "no-inodes");
    else if (stats.ffree / stats.files < LOW_FREE_RATIO) add("inodes", "warn", `inodes are low: ${inodes}`, "low-inodes");
    else add("inodes", "ok", inodes);
  }

  if (latencyMs !== null) {
    const shown = `probe file round trip took ${latencyMs < 10 ? latencyMs.toFixed(2) : Math.round(latencyMs)} ms`;
    if (latencyMs > SLOW_LATENCY_MS) add("latency", "warn", `${shown}: the disk or network mount is slow`, "slow");
    else add("latency", "ok", shown);
  }
  return report();
}

type Add = (check: ProbeCheckName, status: ProbeStatus, message: string, cause?: ProbeCause) => void;

function addMountCheck(add: Add, path: string, mount: MountInfo | null, physical: string): void {
  if (!mount) return add("mount", "skip", "mount unknown: /proc/self/mountinfo is not readable");
  const fs = `${mount.fsType} on ${mount.source}${mount.readOnly ? ", read-only" : ""}`;
  if (mount.mountPoint === "/") {
    return add(
      "mount",
      "warn",
      `${path} is on the root filesystem (${fs}), not on a mount of its own: a growing datastore can fill the system disk, and a backup disk that failed to mount goes unnoticed`,
      "root-filesystem",
    );
  }
  if (mount.mountPoint === physical) add("mount", "ok", `${path} is a mount point (${fs})`);
  else add("mount", "ok", `${path} is on the filesystem mounted at ${mount.mountPoint} (${fs})`);
}

function checkConfig(add: Add, path: string, mount: MountInfo | null, physical: string, opts: ProbeOptions): void {
  let config: DatastoreConfig | null;
  try {
    config = readStoreConfig(path);
  } catch (err) {
    const code = (err as { cause?: NodeJS.ErrnoException }).cause?.code;
    const message = errorMessage(err);
    return add("datastore", "fail", message, /EACCES|permission denied/i.test(message + code) ? "permission-denied" : "bad-config");
  }
  if (!config) {
    let entries: string[] = [];
    try {
      entries = readdirSync(path).filter((e) => e !== "lost+found");
    } catch {
      // the read check reports it
    }
    if (opts.name || opts.expectedId) {
      const notMounted = entries.length === 0 && mount?.mountPoint !== physical;
      return add(
        "datastore",
        "fail",
        notMounted
          ? `no IBS datastore at ${path} (${CONFIG_KEY} missing and the directory is empty): the datastore's disk is not mounted`
          : `no IBS datastore at ${path} (${CONFIG_KEY} missing)`,
        notMounted ? "not-mounted" : "not-a-datastore",
      );
    }
    if (entries.length === 0) return add("datastore", "ok", `no IBS datastore at ${path} yet; the directory is empty, so datastore create can use it`);
    return add("datastore", "warn", `${path} holds no IBS datastore and is not empty: datastore create would refuse it`, "not-a-datastore");
  }
  if (opts.expectedId && config.id !== opts.expectedId) {
    return add("datastore", "fail", `${path} holds a different datastore (id ${config.id}, registered ${opts.expectedId}): the wrong disk is mounted`, "wrong-datastore");
  }
  const base = `IBS datastore ${config.id}, format version ${config.format_version}, mode ${config.mode}`;
  if (config.mode === "online") return add("datastore", "ok", base);
  const since = config.mode_since ? ` since ${config.mode_since}` : "";
  const reason = config.mode_reason ? ` (reason: ${config.mode_reason})` : "";
  const effect = config.mode === "offline" ? "nothing can use it" : config.mode === "quarantined" ? "backups and GC are refused, verify and restore work" : "backups are refused, reads work";
  add("datastore", "warn", `${base}${since}${reason}: ${effect}`, "mode");
}

/** " (running as uid 65534; /x is mode 0500, owner 0:0)": what decides a permission error. */
function who(path: string): string {
  let mode = "";
  try {
    const st = statSync(path);
    mode = `; ${path} is mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")}, owner ${st.uid}:${st.gid}`;
  } catch {
    // the path line reports why
  }
  return ` (running as uid ${process.getuid?.() ?? "?"}${mode})`;
}

/** Creates, writes, fsyncs, reads back and removes a probe file; returns the milliseconds taken. */
function writeProbeFile(dir: string): number {
  const file = join(dir, `.ibstmp-probe-${randomBytes(8).toString("hex")}`);
  const data = randomBytes(PROBE_SIZE);
  const started = performance.now();
  const fd = openSync(file, "wx", 0o600);
  let created = true;
  try {
    try {
      for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (!readFileSync(file).equals(data)) throw Object.assign(new Error(`probe file ${file} read back different bytes than were written`), { code: "EIO" });
    unlinkSync(file);
    created = false;
    const dirFd = openSync(dir, "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } finally {
    if (created) {
      try {
        unlinkSync(file);
      } catch {
        // nothing more to do: the name is hidden from listings
      }
    }
  }
  return performance.now() - started;
}
