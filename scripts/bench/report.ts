/**
 * The results: one table of absolute numbers per tool, one of ratios to restic with the
 * issue's goals for IBS marked met / not met, and the JSON written by --out.
 */
import { table } from "../../src/cli/output.ts";
import type { Measured } from "./measure.ts";
import type { BackupPhase } from "./tools/types.ts";

export type StepName = BackupPhase | "restore";
export const STEPS: StepName[] = ["initial", "unchanged", "mutated", "restore"];

export interface StepResult {
  wallSeconds: number;
  cpuSeconds: number | null;
  peakRssBytes: number;
  /** Sampled peak of anonymous memory (measure.ts); informational, no goal. */
  peakAnonBytes?: number;
  /** 1-minute load average just before the step: how busy the shared machine was. */
  loadBefore?: number;
}

export interface ToolResult {
  name: string;
  /** "ok", or why there are no (complete) numbers. */
  status: "ok" | "unavailable" | "failed";
  reason?: string;
  description?: string;
  steps: Partial<Record<StepName, StepResult>>;
  storedBytes?: number;
  restoreVerified?: boolean;
  notes: string[];
}

export function stepResult(m: Measured, loadBefore?: number): StepResult {
  return { wallSeconds: m.wallSeconds, cpuSeconds: m.cpuSeconds, peakRssBytes: m.peakRssBytes, peakAnonBytes: m.peakAnonBytes, loadBefore };
}

function peakOf(t: ToolResult, field: "peakRssBytes" | "peakAnonBytes"): number | undefined {
  const xs = STEPS.map((s) => t.steps[s]?.[field]).filter((x): x is number => x !== undefined);
  return xs.length ? Math.max(...xs) : undefined;
}

export const peakRss = (t: ToolResult) => peakOf(t, "peakRssBytes");
export const peakAnon = (t: ToolResult) => peakOf(t, "peakAnonBytes");

interface Goal {
  metric: string;
  /** "speed": restic time / tool time, higher is better; "size": tool / restic, lower is better. */
  kind: "speed" | "size";
  /** null: reported for information, no goal. */
  goal: number | null;
  value: (t: ToolResult) => number | undefined;
}

export const GOALS: Goal[] = [
  { metric: "initial backup throughput", kind: "speed", goal: 1.3, value: (t) => t.steps.initial?.wallSeconds },
  { metric: "unchanged re-backup speed-up", kind: "speed", goal: 3, value: (t) => t.steps.unchanged?.wallSeconds },
  { metric: "post-mutation backup speed-up", kind: "speed", goal: 1.5, value: (t) => t.steps.mutated?.wallSeconds },
  { metric: "restore throughput", kind: "speed", goal: 1.3, value: (t) => t.steps.restore?.wallSeconds },
  { metric: "stored size", kind: "size", goal: 1.05, value: (t) => t.storedBytes },
  { metric: "peak client RSS", kind: "size", goal: 1.0, value: peakRss },
  // No goal in the issue: shown because it leaves out the executable's own pages (measure.ts).
  { metric: "peak client anonymous memory", kind: "size", goal: null, value: peakAnon },
];

export interface RatioRow {
  metric: string;
  goal: string;
  ratios: Record<string, number | null>;
  ibsMet: boolean | null;
}

export function ratios(results: ToolResult[]): RatioRow[] {
  const restic = results.find((r) => r.name === "restic" && r.status === "ok");
  return GOALS.map((g) => {
    const base = restic ? g.value(restic) : undefined;
    const row: RatioRow = { metric: g.metric, goal: g.goal === null ? "-" : g.kind === "speed" ? `>= ${g.goal}x` : `<= ${g.goal}x`, ratios: {}, ibsMet: null };
    for (const t of results) {
      if (t.name === "restic") continue;
      const v = t.status === "ok" ? g.value(t) : undefined;
      const r = base !== undefined && v !== undefined && v > 0 && base > 0 ? (g.kind === "speed" ? base / v : v / base) : null;
      row.ratios[t.name] = r;
      if (t.name === "ibs" && g.goal !== null) row.ibsMet = r === null ? null : g.kind === "speed" ? r >= g.goal : r <= g.goal;
    }
    return row;
  });
}

/** Issue #8: an S3 datastore's throughput against the local one of the same server, every step. */
export const S3_GOAL = 0.7;

export interface S3RatioRow {
  step: StepName;
  /** local wall time / S3 wall time: S3 throughput as a fraction of local. */
  ratio: number;
  met: boolean;
}

export function s3Ratios(results: ToolResult[]): S3RatioRow[] {
  const local = results.find((r) => r.name === "ibs" && r.status === "ok");
  const s3 = results.find((r) => r.name === "ibs-s3" && r.status === "ok");
  if (!local || !s3) return [];
  return STEPS.flatMap((step) => {
    const l = local.steps[step]?.wallSeconds;
    const r = s3.steps[step]?.wallSeconds;
    if (!l || !r) return [];
    return [{ step, ratio: l / r, met: l / r >= S3_GOAL }];
  });
}

const MiB = 1024 * 1024;
const fmtS = (s: number | undefined) => (s === undefined ? "-" : s < 10 ? s.toFixed(2) : s.toFixed(1));
const fmtMiB = (b: number | undefined) => (b === undefined ? "-" : (b / MiB).toFixed(0));
const fmtRate = (bytes: number, s: number | undefined) => (s === undefined || s <= 0 ? "" : ` (${(bytes / 1e6 / s).toFixed(0)} MB/s)`);

/** Human tables. datasetBytes: tree bytes + image size, the denominator of every MB/s. */
export function renderTables(results: ToolResult[], datasetBytes: number): string {
  const rows = results.map((t) => {
    if (t.status !== "ok") return [t.name, t.status === "unavailable" ? "not available (below)" : "FAILED (below)", "", "", "", "", ""];
    const s = t.steps;
    return [
      t.name,
      fmtS(s.initial?.wallSeconds) + fmtRate(datasetBytes, s.initial?.wallSeconds),
      fmtS(s.unchanged?.wallSeconds),
      fmtS(s.mutated?.wallSeconds),
      fmtS(s.restore?.wallSeconds) + fmtRate(datasetBytes, s.restore?.wallSeconds),
      fmtMiB(t.storedBytes),
      fmtMiB(peakRss(t)),
    ];
  });
  const abs = table(["TOOL", "INITIAL s", "UNCHANGED s", "MUTATED s", "RESTORE s", "STORED MiB", "PEAK RSS MiB"], rows);
  const rssAndAnon = (s: StepResult | undefined) => (s ? `${fmtMiB(s.peakRssBytes)} (${fmtMiB(s.peakAnonBytes)})` : "-");
  const cpu = table(
    ["TOOL", ...STEPS.map((s) => `${s.toUpperCase()} cpu s`), ...STEPS.map((s) => `${s.toUpperCase()} rss (anon) MiB`)],
    results
      .filter((t) => t.status === "ok")
      .map((t) => [t.name, ...STEPS.map((s) => (t.steps[s]?.cpuSeconds == null ? "-" : t.steps[s]!.cpuSeconds!.toFixed(1))), ...STEPS.map((s) => rssAndAnon(t.steps[s]))]),
  );
  const others = results.filter((t) => t.name !== "restic").map((t) => t.name);
  const rr = ratios(results);
  const rel = table(
    ["VS RESTIC", "GOAL (ibs)", ...others, "IBS GOAL"],
    rr.map((r) => [r.metric, r.goal, ...others.map((n) => (r.ratios[n] == null ? "-" : `${r.ratios[n]!.toFixed(2)}x`)), r.goal === "-" ? "(no goal)" : r.ibsMet === null ? "n/a" : r.ibsMet ? "met" : "NOT MET"]),
  );
  const s3 = s3Ratios(results);
  const s3Table = s3.length
    ? ["", table(["S3 VS LOCAL (ibs-s3 / ibs)", "GOAL", "RATIO", ""], s3.map((r) => [`${r.step} throughput`, `>= ${S3_GOAL}`, r.ratio.toFixed(2), r.met ? "met" : "NOT MET"]))]
    : [];
  const why = results.filter((t) => t.status !== "ok").map((t) => `${t.name}: ${t.status === "unavailable" ? "not available" : "FAILED"}: ${t.reason ?? ""}`);
  return [abs, ...why, "", cpu, "", rel, ...s3Table].join("\n");
}
