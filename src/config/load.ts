/**
 * Finds, reads and validates the node config, and resolves every path the node uses.
 *
 * Precedence: `--config FILE` / IBS_CONFIG, else `<data dir>/ironcore.toml` in embedded mode
 * (`--data-dir DIR` / IBS_DATA_DIR; the file is optional there), else
 * /etc/ironcore-backup/ironcore.toml (optional: a missing file means all defaults).
 */
import { existsSync, readFileSync } from "node:fs";
import { hostname, availableParallelism } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { parse as parseToml } from "smol-toml";
import type { z } from "zod";
import { IbsError } from "../util/errors.ts";
import { configSchema, DEFAULT_PORT, type ConfigFile } from "./schema.ts";

export const SYSTEM_CONFIG = "/etc/ironcore-backup/ironcore.toml";

export interface NodeConfig {
  /** The config file that was read, or null when defaults alone apply. */
  file: string | null;
  configDir: string;
  /** Set in embedded mode: everything lives below this folder. */
  dataDir: string | null;
  node: string;
  listen: { host: string; port: number };
  tls: { cert: string; key: string };
  stateDir: string;
  stateDb: string;
  logDir: string;
  taskLogDir: string;
  /** The datastore the embedded mode creates on first start. */
  defaultDatastore: { name: string; path: string } | null;
  worker: { slots: number; queueTimeoutSec: number };
  scheduler: { intervalSec: number };
  /** Backup and restore sessions of the api role. */
  backup: { sessionTimeoutSec: number };
  heartbeatIntervalSec: number;
}

export interface ConfigOptions {
  config?: string;
  dataDir?: string;
}

export class ConfigError extends IbsError {
  constructor(file: string, problem: string) {
    super(`config ${file}: ${problem}`, 2, "fix the file (see docs/operations.md, 'Node config') and start again");
    this.name = "ConfigError";
  }
}

/** Reads the options from args first, then the environment. */
export function configOptionsFrom(args: { config?: unknown; "data-dir"?: unknown }): ConfigOptions {
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  return {
    config: str(args.config) ?? str(process.env.IBS_CONFIG),
    dataDir: str(args["data-dir"]) ?? str(process.env.IBS_DATA_DIR),
  };
}

export function loadConfig(opts: ConfigOptions = {}): NodeConfig {
  const dataDir = opts.dataDir ? resolve(opts.dataDir) : null;
  let file: string | null = null;
  if (opts.config) {
    file = resolve(opts.config);
    if (!existsSync(file)) throw new ConfigError(file, "file does not exist");
  } else if (dataDir) {
    const candidate = join(dataDir, "ironcore.toml");
    if (existsSync(candidate)) file = candidate;
  } else if (existsSync(SYSTEM_CONFIG)) {
    file = SYSTEM_CONFIG;
  }
  const parsed = file ? readConfigFile(file) : configSchema.parse({});
  return resolveConfig(parsed, file, dataDir);
}

export function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err: any) {
    const why = err?.code === "EACCES" ? "permission denied" : err?.code === "EISDIR" ? "is a directory" : err?.message;
    throw new ConfigError(file, `cannot read: ${why}`);
  }
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (err: any) {
    throw new ConfigError(file, `TOML syntax error: ${String(err?.message ?? err).split("\n")[0]}`);
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(file, describeIssue(result.error.issues[0]));
  return result.data;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.join(".");
  if (issue.code === "unrecognized_keys") {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    return `unknown key${keys.length > 1 ? "s" : ""} ${keys.map((k) => `'${k}'`).join(", ")}`;
  }
  return `key '${path}': ${issue.message}`;
}

function resolveConfig(c: ConfigFile, file: string | null, dataDir: string | null): NodeConfig {
  const configDir = dataDir ?? (file ? dirname(file) : dirname(SYSTEM_CONFIG));
  // Relative paths in a config file are relative to the folder of the file.
  const base = dataDir ?? configDir;
  const path = (p: string | undefined, fallback: string) => (p ? (isAbsolute(p) ? p : resolve(base, p)) : fallback);

  const stateDir = path(c.paths.state_dir, dataDir ?? "/var/lib/ironcore-backup");
  const logDir = path(c.paths.log_dir, dataDir ? join(dataDir, "log") : "/var/log/ironcore-backup");
  // Embedded mode is for trying out and tests: listen on loopback unless told otherwise.
  const listen = parseListen(c.api.listen ?? (dataDir ? `127.0.0.1:${DEFAULT_PORT}` : `0.0.0.0:${DEFAULT_PORT}`));
  return {
    file,
    configDir,
    dataDir,
    node: c.node ?? hostname().split(".")[0] ?? "localhost",
    listen,
    tls: {
      cert: path(c.tls.cert, join(configDir, "api.pem")),
      key: path(c.tls.key, join(configDir, "api.key")),
    },
    stateDir,
    stateDb: join(stateDir, "state.db"),
    logDir,
    taskLogDir: path(c.paths.task_log_dir, join(logDir, "tasks")),
    defaultDatastore: dataDir ? { name: "local", path: join(dataDir, "datastores", "local") } : null,
    worker: {
      slots: c.worker.slots ?? Math.max(2, availableParallelism()),
      queueTimeoutSec: c.worker.queue_timeout ?? 600,
    },
    scheduler: { intervalSec: c.scheduler.interval ?? 15 },
    backup: { sessionTimeoutSec: c.backup.session_timeout ?? 600 },
    heartbeatIntervalSec: c.roles.heartbeat_interval ?? 5,
  };
}

function parseListen(spec: string): { host: string; port: number } {
  const i = spec.lastIndexOf(":");
  const host = spec.slice(0, i).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(spec.slice(i + 1)) };
}
