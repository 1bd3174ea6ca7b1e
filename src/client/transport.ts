/**
 * The three kinds of call the backup and restore sessions make (docs/protocol.md): JSON control
 * messages, binary uploads with a JSON answer, and binary downloads. Sessions talk to this
 * interface, not to fetch, so the pipeline can be tested against an in-process fake server.
 */
import type { ApiClient, Query } from "./http.ts";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface Transport {
  json<T = unknown>(method: Method, path: string, body?: unknown, query?: Query): Promise<T>;
  /** POST of raw bytes (a chunk, an index, a blob); the answer is JSON. */
  upload<T = unknown>(path: string, bytes: Uint8Array): Promise<T>;
  /** GET of raw bytes (a previous file, a chunk). */
  download(path: string): Promise<Uint8Array>;
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
  };
}
