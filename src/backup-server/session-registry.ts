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
 *
 * A client also keeps a watch open (`GET …/watch`, a response that only sends a heartbeat):
 * when its connection closes and the client opens no new one within a short grace (a live
 * client reopens a watch that a proxy or the network cut), the session ends as soon as its
 * requests in flight are done, so a killed client does not hold its backup group's lock for the
 * whole timeout. (A host that loses power sends no close: the timeout still ends its session.)
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
  /** Ends the session because its client is gone (its watch's connection closed). */
  abandon(reason: string): Promise<void>;
}

interface Entry {
  session: Session;
  lastUsed: number;
  inFlight: number;
  /** The open watch, if any (a newer one replaces it). */
  watch?: Watch;
  /** The watch's connection closed and no new one came yet. */
  lost?: Lost;
}

interface Lost {
  /** Settles when the session has ended (or was ended another way, or the client came back). */
  ended: Promise<void>;
  settle(): void;
  /** Running while the client may still reopen its watch; then the session ends once idle. */
  grace?: ReturnType<typeof setTimeout>;
  /** endLost runs: the session is being ended because of this. */
  ending?: boolean;
}

interface Watch {
  /** Ends the watch's response normally (the session ended). */
  end(): void;
}

/** Sent when the watch opens and then every HEARTBEAT_MS: keeps idle timeouts (Bun's 10 s, proxies') away. */
const HEARTBEAT = new TextEncoder().encode("\n");
/** The watch's last line when its session ended: a body that ends without it was cut. */
const SESSION_ENDED = new TextEncoder().encode("session ended\n");
const HEARTBEAT_MS = 4000;
/** How long a lost watch waits for its client to open a new one before the session ends. */
const LOST_GRACE_MS = 3000;

export class SessionRegistry {
  private readonly entries = new Map<string, Entry>();
  /** Sessions of lost clients still ending (their locks not yet released). */
  private readonly ending = new Set<Promise<void>>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    readonly timeoutSec: number,
    private readonly log?: Logger,
    private readonly lostGraceMs = LOST_GRACE_MS,
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
    const e = this.entries.get(id);
    e?.watch?.end();
    if (e?.lost && !e.lost.ending) this.settleLost(e); // ended another way (finish, DELETE, sweep)
    this.entries.delete(id);
    if (this.entries.size === 0) this.stopSweeping();
  }

  /** Watches open now (the api's shutdown does not wait for them: they last as long as their session). */
  get watching(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.watch) n++;
    return n;
  }

  /**
   * A session's watch response: a heartbeat until the session ends, then the end of the body.
   * `signal` is the request's: it aborts when the client's connection closes.
   */
  watch(id: string, kind: SessionKind, authId: string, signal: AbortSignal): Response {
    this.get(id, kind, authId);
    const e = this.entries.get(id)!;
    e.watch?.end();
    if (e.lost && !e.lost.ending) this.settleLost(e); // the client is back
    let timer: ReturnType<typeof setInterval> | undefined;
    let watch: Watch | undefined;
    const lost = () => {
      clearInterval(timer);
      if (watch && e.watch === watch && this.entries.get(id) === e) this.lose(e);
    };
    signal.addEventListener("abort", lost, { once: true });
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        controller.enqueue(HEARTBEAT);
        timer = setInterval(() => {
          try {
            controller.enqueue(HEARTBEAT);
          } catch {
            lost(); // the body was closed under us: the connection is gone
          }
        }, HEARTBEAT_MS);
        timer.unref?.();
        watch = {
          end: () => {
            clearInterval(timer);
            signal.removeEventListener("abort", lost);
            if (e.watch === watch) e.watch = undefined;
            try {
              controller.enqueue(SESSION_ENDED);
              controller.close();
            } catch {
              // already closed: the client went away as the session ended
            }
          },
        };
        e.watch = watch;
      },
      cancel: lost,
    });
    // x-accel-buffering: nginx passes the heartbeats on instead of buffering the answer.
    return new Response(body, { headers: { "content-type": "text/plain", "cache-control": "no-store", "x-accel-buffering": "no" } });
  }

  /** Whether a session of a lost client is waiting for its client or still ending. */
  get hasLost(): boolean {
    return this.ending.size > 0;
  }

  /**
   * Waits, at most `ms`, for the sessions of lost clients to finish ending: a backup started
   * right after its killed predecessor then finds the group's lock free, not held by a session
   * that is about to let it go.
   */
  async settled(ms = 10_000): Promise<void> {
    if (!this.hasLost) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.allSettled([...this.ending]), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  private lose(e: Entry): void {
    e.watch = undefined;
    if (e.lost) return;
    let settle!: () => void;
    const ended = new Promise<void>((resolve) => (settle = resolve));
    const lost: Lost = { ended, settle };
    e.lost = lost;
    this.ending.add(ended);
    lost.grace = setTimeout(() => {
      lost.grace = undefined;
      if (e.inFlight === 0) void this.endLost(e);
    }, this.lostGraceMs);
    lost.grace.unref?.();
  }

  /** Ends a lost client's session; `use` calls it too when its last request in flight is done. */
  private async endLost(e: Entry): Promise<void> {
    const lost = e.lost;
    if (this.entries.get(e.session.id) !== e || !lost || lost.grace !== undefined || lost.ending) return;
    lost.ending = true;
    this.remove(e.session.id);
    try {
      await e.session.abandon("the client's connection closed (the client process ended or was killed)");
    } catch (err) {
      this.log?.error("closing the session of a lost client failed", { session: e.session.id, err: errorMessage(err) });
    } finally {
      this.settleLost(e);
    }
  }

  private settleLost(e: Entry): void {
    const lost = e.lost!;
    clearTimeout(lost.grace);
    lost.grace = undefined;
    lost.settle();
    this.ending.delete(lost.ended);
    if (!lost.ending) e.lost = undefined;
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
      if (e.lost && e.inFlight === 0) void this.endLost(e);
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
    for (const e of all) this.remove(e.session.id);
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
