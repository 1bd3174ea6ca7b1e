/**
 * Progress of a backup or restore on stderr. On a terminal: one status line rewritten a few
 * times a second (bytes, files, rate, dedup hits, ETA). In a pipe, or when stdout carries JSON:
 * a plain line every `lineInterval` seconds, so logs stay readable. Messages (`say`) go above
 * the status line and are never overwritten.
 */
import { formatBytes, formatDuration, formatRate } from "./units.ts";

export interface ProgressState {
  /** What is being worked on: "data.ibsar", "disk0.img". */
  label: string;
  /** Bytes of the archive handled so far (backup: read from disk or reused unread; restore: restored). */
  done: number;
  /** Expected total, when known (image size; previous size of a tree; the archive's size on restore). */
  total?: number;
  /** Backup: bytes read from disk. */
  bytesRead?: number;
  /** Restore: bytes fetched from the server (compressed). */
  fetchedBytes?: number;
  /** Files read (backup) or restored (restore). */
  files: number;
  /** Backup: chunks found known (dedup hits) and chunks reused without reading. */
  dedupHits?: number;
  newBytes?: number;
  uploadedBytes?: number;
}

export type ProgressMode = "tty" | "lines" | "off";

export function progressModeFor(stream: { isTTY?: boolean }, jsonOutput: boolean, quiet: boolean): ProgressMode {
  if (quiet) return "off";
  return stream.isTTY && !jsonOutput ? "tty" : "lines";
}

export class Progress {
  private timer: ReturnType<typeof setInterval> | undefined;
  private source: (() => ProgressState) | undefined;
  private started = 0;
  private lastLine = 0;
  private shown = false;
  private last: ProgressState | undefined;

  constructor(
    readonly mode: ProgressMode,
    private readonly out: { write(s: string): unknown } = process.stderr,
    private readonly lineInterval = 10,
  ) {}

  /** Starts reporting the state `source` returns until stop(). */
  track(source: () => ProgressState): void {
    this.stop();
    this.source = source;
    this.started = performance.now();
    this.lastLine = this.started;
    if (this.mode === "off") return;
    this.timer = setInterval(() => this.tick(), this.mode === "tty" ? 250 : 1000);
    this.timer.unref?.();
  }

  /** The state being tracked, if any (a caller that sums several restores reads it). */
  current(): ProgressState | undefined {
    return this.source?.() ?? this.last;
  }

  stop(): void {
    // Kept so that a sum over several restores does not lose the finished ones.
    if (this.source) this.last = this.source();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
    this.source = undefined;
  }

  /** A message line (archive started, a warning) that stays on screen. */
  say(line: string): void {
    if (this.mode === "off") return;
    this.clear();
    this.out.write(line + "\n");
  }

  private clear(): void {
    if (this.shown) this.out.write("\r\x1b[K");
    this.shown = false;
  }

  private tick(): void {
    if (!this.source) return;
    const now = performance.now();
    const line = renderProgress(this.source(), (now - this.started) / 1000);
    if (this.mode === "tty") {
      this.out.write(`\r\x1b[K${line}`);
      this.shown = true;
    } else if (now - this.lastLine >= this.lineInterval * 1000) {
      this.lastLine = now;
      this.out.write(line + "\n");
    }
  }
}

export function renderProgress(s: ProgressState, seconds: number): string {
  const rate = seconds > 0 ? s.done / seconds : 0;
  const parts = [`${s.label}: ${formatBytes(s.done)}${s.total ? ` of ${formatBytes(s.total)}` : ""}`];
  if (s.bytesRead !== undefined) parts.push(`${formatBytes(s.bytesRead)} read`);
  if (s.fetchedBytes !== undefined) parts.push(`${formatBytes(s.fetchedBytes)} fetched`);
  parts.push(`${s.files} files`, formatRate(s.done, seconds));
  if (s.dedupHits !== undefined) parts.push(`${s.dedupHits} dedup hits`);
  if (s.newBytes !== undefined && s.uploadedBytes !== undefined) parts.push(`${formatBytes(s.newBytes)} new, ${formatBytes(s.uploadedBytes)} uploaded`);
  if (s.total && rate > 0 && s.done < s.total) parts.push(`ETA ${formatDuration((s.total - s.done) / rate)}`);
  return parts.join(", ");
}
