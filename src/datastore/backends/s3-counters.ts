/**
 * Request counters of an S3 datastore, by kind (PUT, GET, HEAD, LIST, DELETE): every attempt
 * (retries included, since each one is billed), failed attempts, throttled answers (503
 * SlowDown, 429), retries, and bytes up and down. Cloud stores bill per request, so `datastore
 * stats` shows these; they are persisted as deltas into the local state file beside the catalog
 * (s3-local-db.ts) every few seconds and on close, adding up across processes and restarts.
 */
import type { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { localDbPath, openS3LocalDb } from "./s3-local-db.ts";

export const REQUEST_KINDS = ["PUT", "GET", "HEAD", "LIST", "DELETE"] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];

export interface KindCounters {
  requests: number;
  failed: number;
  throttled: number;
  retries: number;
  bytesUp: number;
  bytesDown: number;
}

export type CounterSnapshot = Record<RequestKind, KindCounters>;

export interface AttemptOutcome {
  ok: boolean;
  throttled?: boolean;
  /** This attempt was a retry of an earlier one. */
  retry?: boolean;
  bytesUp?: number;
  bytesDown?: number;
}

const zero = (): KindCounters => ({ requests: 0, failed: 0, throttled: 0, retries: 0, bytesUp: 0, bytesDown: 0 });

export function emptyCounters(): CounterSnapshot {
  return { PUT: zero(), GET: zero(), HEAD: zero(), LIST: zero(), DELETE: zero() };
}

export function totalRequests(c: CounterSnapshot): number {
  return REQUEST_KINDS.reduce((n, k) => n + c[k].requests, 0);
}

/** Counters with a database, flushed once more when the process exits normally (a CLI run that never closes its backend). */
const live = new Set<S3Counters>();
let exitHook = false;

export class S3Counters {
  private readonly total = emptyCounters();
  private pending = emptyCounters();
  private dirty = false;
  private timer: ReturnType<typeof setInterval> | null = null;

  /** `db`: where deltas are persisted (null: in memory only, e.g. for a probe). */
  constructor(
    private readonly db: Database | null,
    flushEveryMs = 5000,
  ) {
    if (db) {
      this.timer = setInterval(() => this.flush(), flushEveryMs);
      this.timer.unref?.();
      live.add(this);
      if (!exitHook) {
        exitHook = true;
        process.once("exit", () => {
          for (const c of live) c.flush();
        });
      }
    }
  }

  record(kind: RequestKind, o: AttemptOutcome): void {
    for (const c of [this.total[kind], this.pending[kind]]) {
      c.requests++;
      if (!o.ok) c.failed++;
      if (o.throttled) c.throttled++;
      if (o.retry) c.retries++;
      c.bytesUp += o.bytesUp ?? 0;
      c.bytesDown += o.bytesDown ?? 0;
    }
    this.dirty = true;
  }

  /** Counts of this process since the backend was opened. */
  snapshot(): CounterSnapshot {
    return structuredClone(this.total);
  }

  flush(): void {
    if (!this.db || !this.dirty) return;
    const delta = this.pending;
    this.pending = emptyCounters();
    this.dirty = false;
    const add = this.db.prepare(
      `INSERT INTO counters (kind, requests, failed, throttled, retries, bytes_up, bytes_down) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (kind) DO UPDATE SET requests = requests + excluded.requests, failed = failed + excluded.failed,
         throttled = throttled + excluded.throttled, retries = retries + excluded.retries,
         bytes_up = bytes_up + excluded.bytes_up, bytes_down = bytes_down + excluded.bytes_down`,
    );
    try {
      this.db.transaction(() => {
        this.db!.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('counters_since', ?)").run(new Date().toISOString());
        for (const kind of REQUEST_KINDS) {
          const c = delta[kind];
          if (c.requests > 0) add.run(kind, c.requests, c.failed, c.throttled, c.retries, c.bytesUp, c.bytesDown);
        }
      })();
    } catch {
      // Busy for longer than the timeout: keep the counts for the next flush.
      for (const kind of REQUEST_KINDS) for (const f of Object.keys(zero()) as (keyof KindCounters)[]) this.pending[kind][f] += delta[kind][f];
      this.dirty = true;
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
    live.delete(this);
  }
}

export interface PersistedCounters {
  /** When counting started for this cache directory (ISO 8601), null before the first flush. */
  since: string | null;
  counters: CounterSnapshot;
}

/** The counters persisted in a datastore's cache directory (all processes, all time); null when there are none yet. */
export function readPersistedCounters(cacheDir: string): PersistedCounters | null {
  if (!existsSync(localDbPath(cacheDir))) return null;
  const db = openS3LocalDb(cacheDir, { readonly: true });
  try {
    const counters = emptyCounters();
    let rows: any[] = [];
    try {
      rows = db.query("SELECT * FROM counters").all() as any[];
    } catch {
      return null; // created by a process that has not written its schema yet
    }
    for (const r of rows) {
      if (!(REQUEST_KINDS as readonly string[]).includes(r.kind)) continue;
      counters[r.kind as RequestKind] = { requests: r.requests, failed: r.failed, throttled: r.throttled, retries: r.retries, bytesUp: r.bytes_up, bytesDown: r.bytes_down };
    }
    const since = (db.query("SELECT value FROM meta WHERE key = 'counters_since'").get() as { value: string } | null)?.value ?? null;
    return { since, counters };
  } finally {
    db.close();
  }
}
