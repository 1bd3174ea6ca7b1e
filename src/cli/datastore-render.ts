/** Text renderings for `ironcore-backup datastore …` (JSON output prints the data as is). */
import { formatSize, percent } from "../datastore/admin/human.ts";
import type { CreateDatastoreResult, DatastoreInfo, DatastoreReindexResult, DatastoreStatsReport, MaintenanceResult, ModeState, ProbeReport, RemoveDatastoreResult, S3StoreStats } from "../datastore/admin/index.ts";
import { REQUEST_KINDS } from "../datastore/backends/s3-counters.ts";
import { table } from "./output.ts";

export function keyValues(rows: [string, string | number][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}

function modeText(mode: string | null, reason: string | null): string {
  if (!mode) return "-";
  return reason ? `${mode} (reason: ${reason})` : mode;
}

export function renderList(list: DatastoreInfo[]): string {
  if (list.length === 0) return "no datastores (create one: ironcore-backup datastore create <name> <path>)";
  return table(
    ["NAME", "MODE", "PATH", "STATUS", "COMMENT"],
    list.map((d) => [d.name, d.mode ?? "-", d.s3 ? `${d.path} (s3 ${d.s3.endpoint}:${d.s3.bucket}${d.s3.prefix ? `/${d.s3.prefix}` : ""})` : d.path, d.available ? "available" : "UNAVAILABLE", d.comment ?? ""]),
  ) + (list.some((d) => !d.available) ? `\n\n${list.filter((d) => !d.available).map((d) => `${d.name}: ${d.status}`).join("\n")}` : "");
}

function s3Where(s3: { endpoint: string; bucket: string; prefix: string }): string {
  return `endpoint ${s3.endpoint}, bucket ${s3.bucket}${s3.prefix ? `, prefix ${s3.prefix}` : " (bucket root)"}`;
}

export function renderCreate(r: CreateDatastoreResult): string {
  const d = r.datastore;
  if (d.s3) return `created S3 datastore ${d.name} on ${s3Where(d.s3)}; local directory ${d.path} (id ${d.storeId}, cache ${formatSize(d.s3.cacheSize)})`;
  return `${r.created ? "created" : "adopted"} datastore ${d.name} at ${d.path} (id ${d.storeId})`;
}

export function renderShow(d: DatastoreInfo): string {
  return keyValues([
    ["name", d.name],
    ["path", d.path],
    ["backend", d.s3 ? `s3: ${s3Where(d.s3)}, cache ${formatSize(d.s3.cacheSize)}` : d.backend],
    ["id", d.storeId],
    ["status", d.status],
    ["mode", modeText(d.mode, d.modeReason)],
    ["mode since", d.modeSince ?? "-"],
    ["format version", d.formatVersion ?? "-"],
    ["registered", d.created],
    ["comment", d.comment ?? "-"],
  ]);
}

export function renderMode(m: ModeState): string {
  const changed = m.previous !== m.mode ? ` (was ${m.previous})` : "";
  return `datastore ${m.name}: mode ${modeText(m.mode, m.reason)}${changed}`;
}

const STATUS_LABEL = { ok: "OK", warn: "WARN", fail: "FAIL", skip: "SKIP" } as const;

export function renderProbe(r: ProbeReport): string {
  const head = r.s3
    ? `probe of S3 datastore ${r.name} (${s3Where(r.s3)}${r.s3.url ? `, ${r.s3.url}` : ""}), local directory ${r.path}`
    : r.name
      ? `probe of datastore ${r.name} at ${r.path}`
      : `probe of ${r.path}`;
  const width = Math.max(...r.checks.map((c) => c.check.length));
  const lines = r.checks.map((c) => `${STATUS_LABEL[c.status].padEnd(4)}  ${c.check.padEnd(width)}  ${c.message}`);
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
  return [head, ...lines, `result: ${r.ok ? "OK" : "FAILED"} (${plural(r.failures, "failure")}, ${plural(r.warnings, "warning")})`].join("\n");
}

function maintenance(m: MaintenanceResult | null): string {
  if (!m) return "never";
  return `${m.state}, finished ${m.finished}${m.upid ? ` (${m.upid})` : ""}`;
}

function reserveText(r: DatastoreStatsReport["spaceReserve"]): string {
  const size = formatSize(r.bytes);
  if (r.state === "held") return `${size} held for cleanup on a full disk`;
  if (r.state === "given back") return `${size} not set aside (given back on a full filesystem, or not yet taken): taken again when there is room for it twice over`;
  return "none (the filesystem is too small to keep one)";
}

export function renderStats(s: DatastoreStatsReport): string {
  const f = s.filesystem;
  const fsName = f.mountPoint ? `${f.source ?? "?"} (${f.fsType ?? "?"}) mounted on ${f.mountPoint}` : "unknown mount";
  const rows: [string, string | number][] = [
    ["datastore", `${s.name} at ${s.path}`],
    ["mode", modeText(s.mode, s.modeReason)],
    ["filesystem", fsName],
    ["size", `${formatSize(f.bytesTotal)}  used ${formatSize(f.bytesUsed)}  avail ${formatSize(f.bytesAvailable)}  use% ${percent(f.bytesUsed, f.bytesUsed + f.bytesAvailable)}`],
    ["space reserve", reserveText(s.spaceReserve)],
    [
      "inodes",
      f.inodesTotal === 0
        ? "not fixed by this filesystem"
        : `${formatSize(f.inodesTotal, true)}  iused ${formatSize(f.inodesUsed, true)}  ifree ${formatSize(f.inodesFree, true)}  iuse% ${percent(f.inodesUsed, f.inodesTotal)}`,
    ],
  ];
  const c = s.content;
  if (c) {
    rows.push(
      ["chunks", `${c.chunks} (${formatSize(c.storedBytes)} stored)${c.badChunks ? `, ${c.badChunks} bad copies set aside` : ""}`],
      ["logical", `${formatSize(c.logicalBytes)} referenced by ${c.snapshots} snapshot${c.snapshots === 1 ? "" : "s"}`],
      ["dedup factor", c.storedBytes > 0 ? `${c.dedupFactor.toFixed(2)}x (logical / stored)` : "-"],
      ["groups", c.groups],
      ["namespaces", c.namespaces],
      ["verified", `${c.verification.ok} ok, ${c.verification.failed} failed, ${c.verification.never} never`],
    );
    if (s.contentNote) rows.push(["note", s.contentNote]);
  } else {
    rows.push(["content", `unknown: ${s.contentError}`]);
  }
  rows.push(["last gc", maintenance(s.lastGc)], ["last verify", maintenance(s.lastVerify)]);
  if (s.s3) rows.push(...s3Rows(s.s3));
  return keyValues(rows);
}

export function renderReindex(r: DatastoreReindexResult): string {
  const lines = [
    `datastore ${r.name}: catalog rebuilt in ${r.durationMs} ms from ${r.snapshots} snapshots in ${r.groups} groups, ${r.namespaces} namespaces, ${r.chunks} chunks, ${r.badChunks} bad chunk copies`,
    r.unchanged ? "the rebuilt catalog equals the one it replaced" : `the catalog had drifted from the files: ${r.differences} rows differed; it now matches the files`,
  ];
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}

export function renderRemove(r: RemoveDatastoreResult): string {
  if (!r.destroyed) return `datastore ${r.name} removed from this node; its data stays in ${r.path} (adopt it again with: datastore create ${r.name} ${r.path} --reuse)`;
  const left = r.leftovers.length ? `; left alone (not IBS's): ${r.leftovers.join(", ")}` : "";
  return `datastore ${r.name} removed and its data in ${r.path} destroyed${left}`;
}

function s3Rows(s3: S3StoreStats): [string, string | number][] {
  const rows: [string, string | number][] = [
    ["s3", s3Where(s3)],
    ["chunk cache", `${formatSize(s3.cache.bytes)} of ${formatSize(s3.cache.maxBytes)} (${s3.cache.entries} chunks) in ${s3.cache.dir}`],
    ["requests", `${s3.totalRequests}${s3.countersSince ? ` since ${s3.countersSince}` : ""}`],
  ];
  for (const kind of REQUEST_KINDS) {
    const c = s3.requests[kind];
    const extra = [c.failed ? `${c.failed} failed` : "", c.throttled ? `${c.throttled} throttled` : "", c.retries ? `${c.retries} retries` : ""].filter(Boolean).join(", ");
    const bytes = c.bytesUp ? `, ${formatSize(c.bytesUp)} up` : c.bytesDown ? `, ${formatSize(c.bytesDown)} down` : "";
    rows.push([`  ${kind}`, `${c.requests}${bytes}${extra ? ` (${extra})` : ""}`]);
  }
  return rows;
}
