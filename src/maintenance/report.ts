/**
 * How GC, verify and prune talk to whoever runs them (a task, the CLI, a test): one callback
 * receiving log lines and progress. Fields use the service log schema's context names
 * (`datastore`, `ns`, `snapshot`, `chunk`, `upid`, `err`), so a task runner can write them as
 * they are. The callback must not throw; it may be omitted.
 */
export type LogLevel = "info" | "warn" | "error";

export type MaintenanceEvent =
  | { type: "log"; level: LogLevel; msg: string; fields?: Record<string, unknown> }
  | { type: "progress"; phase: string; done: number; total: number; percent: number };

export type Report = (event: MaintenanceEvent) => void;

export const silent: Report = () => {};

/** Small wrapper so call sites read `log.warn("…", {chunk})`, and progress is throttled. */
export class Reporter {
  private lastProgress = 0;

  constructor(
    private readonly report: Report = silent,
    private readonly base: Record<string, unknown> = {},
    private readonly progressEveryMs = 1000,
  ) {}

  info(msg: string, fields?: Record<string, unknown>): void {
    this.emit("info", msg, fields);
  }

  warn(msg: string, fields?: Record<string, unknown>): void {
    this.emit("warn", msg, fields);
  }

  error(msg: string, fields?: Record<string, unknown>): void {
    this.emit("error", msg, fields);
  }

  /** Reports progress at most once per interval, and always when `force` (phase ends). */
  progress(phase: string, done: number, total: number, force = false): boolean {
    const now = Date.now();
    if (!force && now - this.lastProgress < this.progressEveryMs) return false;
    this.lastProgress = now;
    const percent = total > 0 ? Math.min(100, Math.floor((done / total) * 1000) / 10) : 100;
    this.report({ type: "progress", phase, done, total, percent });
    return true;
  }

  private emit(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    this.report({ type: "log", level, msg, fields: { ...this.base, ...fields } });
  }
}

/** "12 345 678" style grouping for figures in messages. */
export function figure(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, " ");
}

export function bytesText(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}
