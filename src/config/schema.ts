/**
 * The node config (TOML). Every section is strict: an unknown key is an error that names the
 * key, so a typo never silently falls back to a default.
 */
import { z } from "zod";

export const DEFAULT_PORT = 8007;

const listen = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, "expected host:port, e.g. 0.0.0.0:8007 or [::]:8007")
  .refine((s) => Number(s.slice(s.lastIndexOf(":") + 1)) <= 65535, "port must be 0-65535");

export const configSchema = z.strictObject({
  /** Node name used in UPIDs and status; defaults to the host name. */
  node: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/, "expected a short host name (letters, digits, '-'; no dots, as in UPIDs)").optional(),
  api: z
    .strictObject({
      listen: listen.optional(),
    })
    .default({}),
  tls: z
    .strictObject({
      cert: z.string().optional(),
      key: z.string().optional(),
    })
    .default({}),
  paths: z
    .strictObject({
      state_dir: z.string().optional(),
      log_dir: z.string().optional(),
      task_log_dir: z.string().optional(),
    })
    .default({}),
  worker: z
    .strictObject({
      slots: z.number().int().min(1).max(256).optional(),
      /** Seconds a task may wait for a free slot before it fails. */
      queue_timeout: z.number().int().min(1).optional(),
    })
    .default({}),
  scheduler: z
    .strictObject({
      /** Seconds between two checks for due jobs (a job starts at most this late). */
      interval: z.number().min(0.1).max(300).optional(),
    })
    .default({}),
  backup: z
    .strictObject({
      /** Seconds a backup or restore session may stay unused before it is aborted. */
      session_timeout: z.number().int().min(1).max(86_400).optional(),
    })
    .default({}),
  roles: z
    .strictObject({
      /** Seconds between heartbeats; a role silent for 3 intervals is reported failed. */
      heartbeat_interval: z.number().min(0.1).max(3600).optional(),
    })
    .default({}),
});

export type ConfigFile = z.infer<typeof configSchema>;
