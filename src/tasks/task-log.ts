/**
 * Task log files, in Proxmox's line format: `<RFC 3339 local time>: <message>`, one line per
 * message, the last one `TASK OK`, `TASK WARNINGS: N` or `TASK ERROR: <text>`. Lines are
 * appended with O_APPEND, so the runner and a recovering process can both write safely.
 */
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync } from "node:fs";
import { dirname } from "node:path";
import { IbsError } from "../util/errors.ts";
import { taskLogPath } from "./upid.ts";

const p2 = (n: number) => String(n).padStart(2, "0");

/** `2026-11-26T21:02:16+01:00`: local time with its offset, as PBS writes task logs. */
export function localTimestamp(ms: number = Date.now()): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? "-" : "+";
  const abs = Math.abs(off);
  return (
    `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}` +
    `${sign}${p2(Math.floor(abs / 60))}:${p2(abs % 60)}`
  );
}

export function formatLogLines(message: string, at: number = Date.now()): string {
  const ts = localTimestamp(at);
  return message.split(/\r?\n/).map((l) => `${ts}: ${l}\n`).join("");
}

/** The closing line for a task result (`OK`, `WARNINGS: 3`, `aborted`, an error text). */
export function finalLogLine(result: string): string {
  if (result === "OK") return "TASK OK";
  if (/^WARNINGS: \d+$/.test(result)) return `TASK ${result}`;
  return `TASK ERROR: ${result}`;
}

export function logPathOf(taskLogDir: string, upid: string): string {
  return taskLogPath(taskLogDir, upid);
}

/** Appends timestamped lines; a task log that cannot be written must not fail the task. */
export function appendTaskLog(taskLogDir: string, upid: string, message: string): boolean {
  const path = logPathOf(taskLogDir, upid);
  try {
    mkdirSync(dirname(path), { recursive: true });
    appendFileSync(path, formatLogLines(message), { mode: 0o640 });
    return true;
  } catch {
    return false;
  }
}

export function readTaskLog(taskLogDir: string, upid: string): string {
  const path = logPathOf(taskLogDir, upid);
  if (!existsSync(path)) throw missingLog(path, upid);
  return readFileSync(path, "utf8");
}

function missingLog(path: string, upid: string): IbsError {
  return new IbsError(`task ${upid}: no log file at ${path}`, 1,
    "the log lives on the node that created the task; check paths.task_log_dir in the node config");
}

const FINAL_LINE = /^\S+: TASK (OK|WARNINGS: \d+|ERROR: .*)$/m;

/**
 * Writes the log as it grows until the task has ended and its closing `TASK ...` line was
 * read. `finished` is asked before each read, so the last read always follows the end; the
 * closing line is written just after the database marks the end, hence the short grace.
 */
export async function followTaskLog(
  taskLogDir: string,
  upid: string,
  finished: () => boolean,
  write: (text: string) => void,
  opts: { pollMs?: number; graceMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  const path = logPathOf(taskLogDir, upid);
  const pollMs = opts.pollMs ?? 250;
  let offset = 0;
  let tail = "";
  let endSeenAt: number | null = null;
  const buf = Buffer.alloc(64 * 1024);
  // A read may end inside a multi-byte character: the streaming decoder keeps the partial bytes.
  const decoder = new TextDecoder();
  while (!opts.signal?.aborted) {
    const ended = finished();
    if (ended && endSeenAt === null) endSeenAt = Date.now();
    if (existsSync(path)) {
      const fd = openSync(path, "r");
      try {
        for (;;) {
          const n = readSync(fd, buf, 0, buf.length, offset);
          if (n <= 0) break;
          const text = decoder.decode(buf.subarray(0, n), { stream: true });
          offset += n;
          write(text);
          tail = (tail + text).slice(-8192);
        }
      } finally {
        closeSync(fd);
      }
    } else if (ended) {
      throw missingLog(path, upid);
    }
    if (endSeenAt !== null && (FINAL_LINE.test(tail) || Date.now() - endSeenAt > (opts.graceMs ?? 2000))) return;
    await Bun.sleep(pollMs);
  }
}
