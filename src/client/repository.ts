/**
 * Repository strings, as backup, restore and sync name a datastore on a server:
 *   `[auth-id@]host[:port]:store`
 * e.g. `backup@ibs!host1@backup.example.com:8007:store1`, `admin@ibs@10.0.0.5:local`,
 * `[fd00::5]:8007:store1`, or just `store1` (this host). The auth-id is `user@realm` or
 * `user@realm!token`; the host is what follows its last '@'. IPv6 addresses go in brackets.
 */
import { nameProblem, parseAuthId } from "../access/ids.ts";
import { UsageError } from "../util/errors.ts";
import { DEFAULT_PORT } from "./http.ts";

export interface Repository {
  authId: string | null;
  host: string;
  port: number;
  store: string;
}

const HINT = "expected [user@realm[!token]@]host[:port]:store, e.g. backup@ibs!host1@backup.example.com:8007:store1";

export function parseRepository(spec: string, defaults: { authId?: string; host?: string } = {}): Repository {
  const s = spec.trim();
  if (!s) throw new UsageError("repository is empty", HINT);
  const lastColon = s.lastIndexOf(":");
  const store = s.slice(lastColon + 1);
  const storeProblem = nameProblem(store, "datastore name");
  if (storeProblem) throw new UsageError(`repository '${spec}': ${storeProblem}`, HINT);
  if (lastColon < 0) {
    return { authId: defaults.authId ?? null, host: defaults.host ?? "localhost", port: DEFAULT_PORT, store };
  }
  const rest = s.slice(0, lastColon);
  // The auth-id contains one '@' (user@realm); the server follows the last one.
  const at = rest.lastIndexOf("@");
  let authId: string | null = defaults.authId ?? null;
  let server = rest;
  if (at >= 0) {
    authId = rest.slice(0, at);
    server = rest.slice(at + 1);
    try {
      parseAuthId(authId);
    } catch (err) {
      throw new UsageError(`repository '${spec}': ${(err as Error).message}`, HINT);
    }
  }
  let host: string;
  let port = DEFAULT_PORT;
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d+))?$/.exec(server);
  if (v6) {
    host = v6[1];
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else {
    const parts = server.split(":");
    if (parts.length > 2) throw new UsageError(`repository '${spec}': an IPv6 address must be written in brackets, e.g. [fd00::5]:8007:store`, HINT);
    host = parts[0];
    if (parts[1] !== undefined) port = /^\d{1,5}$/.test(parts[1]) ? Number(parts[1]) : NaN;
  }
  if (!host || !/^[A-Za-z0-9.-]+$|^[0-9A-Fa-f:.]+$/.test(host)) throw new UsageError(`repository '${spec}': '${host}' is not a host name or address`, HINT);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`repository '${spec}': the port must be 1-65535`, HINT);
  return { authId, host, port, store };
}

export function formatRepository(r: Repository): string {
  const host = r.host.includes(":") ? `[${r.host}]` : r.host;
  return `${r.authId ? r.authId + "@" : ""}${host}:${r.port}:${r.store}`;
}
