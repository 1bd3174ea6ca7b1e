/**
 * The live backup and restore sessions of one api process. A session holds datastore locks
 * (flock: they die with the process) and a running task, so it cannot outlive the process that
 * serves it; this map is the one piece of in-memory state the api role keeps, and nothing else
 * relies on it.
 *
 * A session id is 128 random bits in hex, valid only for the auth-id that opened it: another
 * caller gets the same 404 as for an id that never existed. A session unused for
 * `backup.session_timeout` seconds (no request in flight, none started since) is closed by
 * the sweep: a writer is aborted (nothing becomes visible), a reader is released.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "../log/logger.ts";
import { errorMessage } from "../util/errors.ts";
import { noSuchSession } from "./errors.ts";

export type SessionKind = "backup" | "reader";

export interface Session {
  readonly id: string;
  readonly kind: SessionKind;
  readonly authId: string;
  /** Ends the session because it sat idle too long. */
  expire(idleSec: number): Promise<void>;
  /** Ends the session because the process stops. */
  close(reason: string): Promise<void>;
}

interface Entry {
  session: Session;
  lastUsed: number;
  inFlight: number;
}

export class SessionRegistry {
  private readonly entries = new Map<string, Entry>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    readonly timeoutSec: number,
    private readonly log?: Logger,
  ) {}

  static newId(): string {
    return randomBytes(16).toString("hex");
  }

  get size(): number {
    return this.entries.size;
  }

  add(session: Session): void {
    this.entries.set(session.id, { session, lastUsed: Date.now(), inFlight: 0 });
    this.startSweeping();
  }

  remove(id: string): void {
    this.entries.delete(id);
    if (this.entries.size === 0) this.stopSweeping();
  }

  /** The session, if it exists, is of this kind and belongs to `authId`; else the 404. */
  get<S extends Session>(id: string, kind: SessionKind, authId: string): S {
    const e = this.entries.get(id);
    if (!e || e.session.kind !== kind || e.session.authId !== authId) throw noSuchSession(kind, id);
    return e.session as S;
  }

  /** Runs one request of a session: it counts as activity, and a request in flight is never idle. */
  async use<S extends Session, T>(id: string, kind: SessionKind, authId: string, fn: (session: S) => Promise<T>): Promise<T> {
    const session = this.get<S>(id, kind, authId);
    const e = this.entries.get(id)!;
    e.inFlight++;
    e.lastUsed = Date.now();
    try {
      return await fn(session);
    } finally {
      e.inFlight--;
      e.lastUsed = Date.now();
    }
  }

  /** Closes sessions idle longer than the timeout; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    const idle = [...this.entries.values()].filter((e) => e.inFlight === 0 && now - e.lastUsed >= this.timeoutSec * 1000);
    for (const e of idle) {
      this.remove(e.session.id);
      try {
        await e.session.expire(Math.round((now - e.lastUsed) / 1000));
      } catch (err) {
        this.log?.error("closing an idle session failed", { session: e.session.id, err: errorMessage(err) });
      }
    }
    return idle.length;
  }

  /** Closes every session (api shutdown). */
  async closeAll(reason: string): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    this.stopSweeping();
    await Promise.allSettled(all.map((e) => e.session.close(reason)));
  }

  private startSweeping(): void {
    if (this.timer) return;
    // Check a few times per timeout, at most every 5 s: a session ends at most that late.
    const every = Math.max(100, Math.min(5000, (this.timeoutSec * 1000) / 4));
    this.timer = setInterval(() => void this.sweep(), every);
    this.timer.unref?.();
  }

  private stopSweeping(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

const registries = new WeakMap<object, SessionRegistry>();

/**
 * The sessions of this process for a node state database. Keyed by the database handle, so
 * the api routes and a shutdown hook (`sessionRegistry(deps).closeAll(...)`) find the same one.
 */
export function sessionRegistry(deps: { db: object; config: { backup: { sessionTimeoutSec: number } }; log?: Logger }): SessionRegistry {
  let r = registries.get(deps.db);
  if (!r) registries.set(deps.db, (r = new SessionRegistry(deps.config.backup.sessionTimeoutSec, deps.log)));
  return r;
}
