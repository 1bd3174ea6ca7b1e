/**
 * One way for every command to print results: text for people, `--output-format json` for
 * scripts. JSON goes to stdout alone so `| jq` always works; text goes through `render`.
 */
import { UsageError } from "../util/errors.ts";

export type OutputFormat = "text" | "json" | "json-pretty";

export const outputFormatArg = {
  "output-format": {
    type: "string" as const,
    description: "text (default), json or json-pretty",
    default: "text",
  },
};

export function parseOutputFormat(value: unknown): OutputFormat {
  if (value === undefined || value === "text") return "text";
  if (value === "json" || value === "json-pretty") return value;
  throw new UsageError(`--output-format: expected text, json or json-pretty, got '${value}'`);
}

export function printResult<T>(data: T, format: OutputFormat, render: (data: T) => string): void {
  if (format === "json") process.stdout.write(JSON.stringify(data) + "\n");
  else if (format === "json-pretty") process.stdout.write(JSON.stringify(data, null, 2) + "\n");
  else {
    const text = render(data);
    if (text) process.stdout.write(text.endsWith("\n") ? text : text + "\n");
  }
}

/** Renders rows as aligned columns, the header first. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ")).join("\n");
}
