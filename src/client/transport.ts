/**
 * The three kinds of call the backup and restore sessions make (docs/protocol.md): JSON control
 * messages, binary uploads with a JSON answer, and binary downloads. Sessions talk to this
 * interface, not to fetch, so the pipeline can be tested against an in-process fake server.
 */
import { type ApiClient, ApiRequestError, type Query } from "./http.ts";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface Transport {
  json<T = unknown>(method: Method, path: string, body?: unknown, query?: Query): Promise<T>;
  /** POST of raw bytes (a chunk, an index, a blob); the answer is JSON. */
  upload<T = unknown>(path: string, bytes: Uint8Array): Promise<T>;
  /** GET of raw bytes (a previous file, a chunk). */
  download(path: string): Promise<Uint8Array>;
  /**
   * Holds a session's watch open (GET, read in the background until the server ends it): if
   * this process dies, its connection closes and the server ends the session at once instead of
   * after backup.session_timeout. `stop` lets go once the session has ended. Best effort: a
   * server without watches, or one that fails it, leaves only the timeout.
   */
  watch?(path: string): { stop(): void };
}

const openWatches = new Set<AbortController>();

/** Pauses before reopening a watch that was cut: within the server's grace (3 s) at first. */
const REOPEN_DELAYS_MS = [100, 500, 1000, 2000];

/**
 * Reads a session's watch until the server ends it with "session ended" or `stop`. A watch cut
 * by the network or a proxy (its body ends without that line, or breaks off) is opened again,
 * so that the server does not take this live client for a dead one; an answer that is an error
 * (404: the session is gone; an older server without watches) ends the attempt.
 */
async function holdWatch(api: ApiClient, path: string, stop: AbortSignal): Promise<void> {
  for (let cut = 0; !stop.aborted; cut++) {
    try {
      const res = await api.raw("GET", path, undefined, undefined, stop);
      const reader = res.body?.getReader();
      const text = new TextDecoder();
      let tail = "";
      for (;;) {
        const { done, value } = reader ? await reader.read() : { done: true, value: undefined };
        if (done) break;
        tail = (tail + text.decode(value, { stream: true })).slice(-32);
      }
      if (tail.endsWith("session ended\n")) return; // the server ended it with the session
    } catch (err) {
      if (stop.aborted || err instanceof ApiRequestError) return;
    }
    await Bun.sleep(REOPEN_DELAYS_MS[Math.min(cut, REOPEN_DELAYS_MS.length - 1)]!);
  }
}

/**
 * Lets go of every session watch still open: main.ts calls it when a command returns, so that
 * a watch never keeps the process alive (a session this process did not close is then ended
 * by the server at once, as for a killed client).
 */
export function stopSessionWatches(): void {
  for (const w of openWatches) w.abort();
  openWatches.clear();
}

export function apiTransport(api: ApiClient): Transport {
  return {
    json: <T>(method: Method, path: string, body?: unknown, query?: Query): Promise<T> => {
      switch (method) {
        case "GET":
          return api.get<T>(path, query);
        case "POST":
          return api.post<T>(path, body);
        case "PUT":
          return api.put<T>(path, body);
        case "DELETE":
          return api.delete<T>(path, query);
      }
    },
    async upload<T>(path: string, bytes: Uint8Array): Promise<T> {
      const res = await api.raw("POST", path, bytes);
      const text = await res.text();
      return (text ? JSON.parse(text) : {}) as T;
    },
    async download(path: string): Promise<Uint8Array> {
      const res = await api.raw("GET", path);
      return new Uint8Array(await res.arrayBuffer());
    },
    watch(path: string) {
      const stop = new AbortController();
      openWatches.add(stop);
      void holdWatch(api, path, stop.signal).finally(() => openWatches.delete(stop));
      return {
        stop: () => {
          openWatches.delete(stop);
          stop.abort();
        },
      };
    },
  };
}
