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
 * when its connection closes, because the client process ended or was killed, the session ends
 * as soon as its requests in flight are done, so a killed client does not hold its backup
 * group's lock for the whole timeout. (A host that loses power sends no close: the timeout is
 * still what ends its session.)
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
  /** The watch's connection closed: the session ends once no request is in flight; settles then. */
  lost?: { ended: Promise<void>; settle(): void };
}

interface Watch {
  /** Ends the watch's response normally (the session ended). */
  end(): void;
}

/** Sent when the watch opens and then every HEARTBEAT_MS: keeps idle timeouts (Bun's 10 s, proxies') away. */
const HEARTBEAT = new TextEncoder().encode("\n");
const HEARTBEAT_MS = 4000;

export class SessionRegistry {
  private readonly entries = new Map<string, Entry>();
  /** Sessions of lost clients still ending (their locks not yet released). */
  private readonly ending = new Set<Promise<void>>();
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
    this.entries.get(id)?.watch?.end();
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
    return new Response(body, { headers: { "content-type": "text/plain", "cache-control": "no-store" } });
  }

  /**
   * Waits, at most `ms`, for the sessions of lost clients to finish ending: a backup started
   * right after its killed predecessor then finds the group's lock free, not held by a session
   * that is about to let it go.
   */
  async settled(ms = 10_000): Promise<void> {
    if (this.ending.size === 0) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.allSettled([...this.ending]), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  private lose(e: Entry): void {
    e.watch = undefined;
    let settle!: () => void;
    const ended = new Promise<void>((resolve) => (settle = resolve));
    e.lost = { ended, settle };
    this.ending.add(ended);
    if (e.inFlight === 0) void this.endLost(e);
  }

  private async endLost(e: Entry): Promise<void> {
    if (this.entries.get(e.session.id) !== e || !e.lost) return;
    this.remove(e.session.id);
    try {
      await e.session.abandon("the client's connection closed (the client process ended or was killed)");
    } catch (err) {
      this.log?.error("closing the session of a lost client failed", { session: e.session.id, err: errorMessage(err) });
    } finally {
      e.lost.settle();
      this.ending.delete(e.lost.ended);
    }
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
    for (const e of all) e.watch?.end();
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
