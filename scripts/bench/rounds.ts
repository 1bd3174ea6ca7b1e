/**
 * Repeated runs of one measured step (`--unchanged-rounds`, `--restore-rounds`): the median
 * round's time counts, with the largest peak RSS of any round. The rounds and each tool's ratio
 * to restic round by round are printed too, since the median hides how far single runs spread
 * on a shared VM (docs/benchmarks.md).
 */
import type { Measured } from "./measure.ts";
import { stepResult, type StepResult } from "./report.ts";

export class Rounds {
  private readonly runs = new Map<string, Array<{ m: Measured; load: number }>>();

  constructor(readonly count: number) {}

  /** Records a tool's round; returns its step result so far (median time, worst memory). */
  add(tool: string, m: Measured, load: number): StepResult {
    const runs = this.runs.get(tool) ?? [];
    runs.push({ m, load });
    this.runs.set(tool, runs);
    const sorted = [...runs].sort((x, y) => x.m.wallSeconds - y.m.wallSeconds);
    const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
    return { ...stepResult(median.m, median.load), peakRssBytes: Math.max(...runs.map((x) => x.m.peakRssBytes)), peakAnonBytes: Math.max(...runs.map((x) => x.m.peakAnonBytes)) };
  }

  /**
   * The tools in the order round `round` runs them: alternating, so that no tool always follows
   * another (and pays for its write-back and inode churn).
   */
  order<T>(round: number, tools: T[]): T[] {
    return round % 2 === 1 ? tools : [...tools].reverse();
  }

  /** The progress line of a tool's round (the round named only when there are several). */
  line(tool: string, m: Measured, round: number): string {
    const which = this.count === 1 ? "" : ` (round ${round})`;
    return `  ${tool.padEnd(6)} ${m.wallSeconds.toFixed(2)} s, cpu ${m.cpuSeconds?.toFixed(1) ?? "?"} s, peak RSS ${(m.peakRssBytes / 2 ** 20).toFixed(0)} MiB (anon ${(m.peakAnonBytes / 2 ** 20).toFixed(0)})${which}`;
  }

  report(step: string, say: (line: string) => void): void {
    if (this.count === 1) return;
    for (const [tool, runs] of this.runs) say(`  ${tool.padEnd(6)} ${step} rounds: ${runs.map((x) => x.m.wallSeconds.toFixed(2)).join(", ")} s; the median counts`);
    const restic = this.runs.get("restic");
    if (!restic) return;
    for (const [tool, runs] of this.runs) {
      if (tool === "restic") continue;
      const ratios = runs.map((x, i) => (restic[i] ? (restic[i]!.m.wallSeconds / x.m.wallSeconds).toFixed(2) + "x" : "-"));
      say(`  ${tool.padEnd(6)} ${step} vs restic per round: ${ratios.join(", ")}`);
    }
  }
}
