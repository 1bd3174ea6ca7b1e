/**
 * Structured logs: one JSON object per line in `<log dir>/<service>.log`, with the fields
 * `time`, `level`, `service`, `msg` and context (`upid`, `datastore`, `ns`, `snapshot`, `chunk`,
 * `remote`, `target`, `err`, ...), so `jq` works on every file. People read the console (consola);
 * the files are for machines and for the operator's grep.
 */
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { createConsola, type ConsolaInstance } from "consola";

export type Level = "debug" | "info" | "warn" | "error";
export type LogContext = Record<string, unknown>;

export interface Logger {
  debug(msg: string, ctx?: LogContext): void;
  info(msg: string, ctx?: LogContext): void;
  warn(msg: string, ctx?: LogContext): void;
  error(msg: string, ctx?: LogContext): void;
  /** A logger that adds `ctx` to every line (e.g. the UPID of a task). */
  child(ctx: LogContext): Logger;
  close(): void;
}

// Never write these into a log, whatever a caller passes.
const SECRET_KEYS = /pass(word|phrase)?|secret|token_value|^key$|private|ticket|authorization/i;

export function redact(ctx: LogContext): LogContext {
  const out: LogContext = {};
  for (const [k, v] of Object.entries(ctx)) {
    if (v === undefined) continue;
    if (SECRET_KEYS.test(k)) out[k] = "[redacted]";
    else if (v instanceof Error) out[k] = v.message;
    else out[k] = v;
  }
  return out;
}

export interface LoggerOptions {
  /** Mirror lines to the terminal through consola (tagged with the service name). */
  console?: boolean;
  minLevel?: Level;
}

const ORDER: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function openServiceLog(logDir: string, service: string, opts: LoggerOptions = {}): Logger {
  mkdirSync(logDir, { recursive: true });
  const path = join(logDir, `${service}.log`);
  const fd = openSync(path, "a", 0o640);
  const consola = opts.console ? createConsola({ defaults: { tag: service } }) : null;
  const min = ORDER[opts.minLevel ?? "info"];
  let closed = false;

  const make = (base: LogContext): Logger => {
    const write = (level: Level, msg: string, ctx?: LogContext) => {
      if (ORDER[level] < min || closed) return;
      const line = JSON.stringify({ time: new Date().toISOString(), level, service, msg, ...redact({ ...base, ...ctx }) }) + "\n";
      try {
        writeSync(fd, line);
      } catch (err) {
        // A full or failing log disk must not fail the request or task being logged (it would
        // turn a clear 507 into a dropped connection): the line goes to stderr, the journal.
        lost(path, line, err);
      }
      if (consola) consola[level === "debug" ? "debug" : level](msg + contextSuffix({ ...base, ...ctx }));
    };
    return {
      debug: (m, c) => write("debug", m, c),
      info: (m, c) => write("info", m, c),
      warn: (m, c) => write("warn", m, c),
      error: (m, c) => write("error", m, c),
      child: (c) => make({ ...base, ...c }),
      close: () => {
        if (!closed) {
          closed = true;
          closeSync(fd);
        }
      },
    };
  };
  return make({});
}

function lost(path: string, line: string, err: unknown): void {
  try {
    process.stderr.write(`${path} not written (${(err as NodeJS.ErrnoException)?.code ?? String(err)}): ${line}`);
  } catch {
    // nowhere left to say it
  }
}

function contextSuffix(ctx: LogContext): string {
  const parts = Object.entries(redact(ctx)).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

/** Console output for CLI commands: human-readable, never into the JSON files. */
export const ui: ConsolaInstance = createConsola({ stdout: process.stderr, stderr: process.stderr });
