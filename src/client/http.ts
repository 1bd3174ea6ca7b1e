/**
 * The one HTTPS client every command that talks to a server uses (backup, restore, sync,
 * remote admin). `connect()` checks the server certificate against a pin first (trust.ts),
 * logs in, and returns a small typed client whose calls return parsed JSON or throw an
 * `ApiRequestError` carrying the server's error message, code and status.
 *
 * Authentication: an API token (`authId` with `!`, `secret`) goes in the Authorization
 * header of each request; a password is exchanged for a ticket, which is sent as the cookie
 * with the CSRF token, and renewed once when the server says it expired.
 */
import { IbsError } from "../util/errors.ts";
import { defaultKnownHostsFile } from "./known-hosts.ts";
import { probeServerCertificate } from "./tls-probe.ts";
import { askOnTerminal, decideTrust, type ConfirmCertificate, type Trust } from "./trust.ts";

export const DEFAULT_PORT = 8007;
export const API_BASE = "/api/v1";

export interface ConnectOptions {
  host: string;
  port?: number;
  /** Pin; defaults to $IBS_FINGERPRINT. */
  fingerprint?: string;
  /** `user@realm` (with password) or `user@realm!token` (with secret). */
  authId: string;
  secret?: string;
  password?: string;
  /** Default: known_hosts in the user's IBS config dir. */
  knownHostsFile?: string;
  /** Asked about an unknown self-signed certificate; default: a y/N question on the terminal. */
  confirm?: ConfirmCertificate;
  env?: Record<string, string | undefined>;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface ApiClient {
  readonly baseUrl: string;
  readonly authId: string;
  readonly trust: Trust;
  get<T = unknown>(path: string, query?: Query): Promise<T>;
  post<T = unknown>(path: string, body?: unknown): Promise<T>;
  put<T = unknown>(path: string, body?: unknown): Promise<T>;
  delete<T = unknown>(path: string, query?: Query): Promise<T>;
  /**
   * A request with a binary body (`application/octet-stream`) or a binary answer (chunks,
   * indexes, blobs): the Response of a 2xx; any other status throws ApiRequestError as above.
   */
  raw(method: string, path: string, body?: Uint8Array, query?: Query, signal?: AbortSignal): Promise<Response>;
}

export class ApiRequestError extends IbsError {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly details: Record<string, unknown>,
    hint?: string,
  ) {
    super(message, status === 400 ? 2 : 1, hint);
    this.name = "ApiRequestError";
  }
}

export async function connect(opts: ConnectOptions): Promise<ApiClient> {
  const env = opts.env ?? process.env;
  const port = opts.port ?? DEFAULT_PORT;
  const host = opts.host;
  if (opts.secret === undefined && opts.password === undefined) {
    throw new IbsError(`no credentials for ${opts.authId}: give a token secret or a password`);
  }
  if (opts.secret !== undefined && !opts.authId.includes("!")) {
    throw new IbsError(`${opts.authId} is a user, not an API token: a secret needs an auth-id like ${opts.authId}!tokenname`);
  }
  const peer = await probeServerCertificate(host, port);
  const trust = await decideTrust({
    host,
    port,
    peer,
    fingerprint: opts.fingerprint ?? (env.IBS_FINGERPRINT || undefined),
    knownHostsFile: opts.knownHostsFile ?? defaultKnownHostsFile(env),
    confirm: opts.confirm ?? askOnTerminal,
  });
  const server = `${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`;
  const baseUrl = `https://${server}${API_BASE}`;

  let session: { ticket: string; csrf: string } | null = null;

  async function send(method: string, path: string, body: unknown, query: Query | undefined, retry: boolean, raw = false, signal?: AbortSignal): Promise<unknown> {
    const headers: Record<string, string> = { accept: raw ? "application/octet-stream, application/json" : "application/json" };
    if (opts.secret !== undefined) headers.authorization = `IBSAPIToken=${opts.authId}:${opts.secret}`;
    else if (session) {
      headers.cookie = `IBSAuthCookie=${encodeURIComponent(session.ticket)}`;
      if (method !== "GET") headers.CSRFPreventionToken = session.csrf;
    }
    const bytes = body instanceof Uint8Array;
    if (body !== undefined) headers["content-type"] = bytes ? "application/octet-stream" : "application/json";
    const url = baseUrl + path + queryString(query);
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body: body === undefined ? undefined : bytes ? body : JSON.stringify(body), tls: trust.tls, signal } as RequestInit);
    } catch (err: any) {
      const code = String(err?.code ?? "");
      if (/CERT|SELF_SIGNED|ALTNAME|LEAF_SIGNATURE|fingerprint/i.test(code + " " + err?.message)) {
        throw new IbsError(`server ${server}: the certificate changed since it was checked (${code || err?.message})`, 1, "connect again to check the new certificate against your pin");
      }
      throw new IbsError(`cannot reach ${server}: ${code ? code + " " : ""}${err?.message ?? err}`, 1, "check the address and port, and that the api service runs there");
    }
    if (res.status === 401 && retry && opts.password !== undefined && session) {
      session = null;
      await login();
      return send(method, path, body, query, false, raw, signal);
    }
    if (raw && res.ok) return res;
    return parseResponse(res, method, path, server);
  }

  async function login(): Promise<void> {
    const r = (await send("POST", "/access/ticket", { username: opts.authId, password: opts.password }, undefined, false)) as { ticket: string; CSRFPreventionToken: string };
    session = { ticket: r.ticket, csrf: r.CSRFPreventionToken };
  }

  if (opts.password !== undefined) await login();

  return {
    baseUrl,
    authId: opts.authId,
    trust,
    get: (path, query) => send("GET", path, undefined, query, true) as Promise<any>,
    post: (path, body) => send("POST", path, body, undefined, true) as Promise<any>,
    put: (path, body) => send("PUT", path, body, undefined, true) as Promise<any>,
    delete: (path, query) => send("DELETE", path, undefined, query, true) as Promise<any>,
    raw: (method, path, body, query, signal) => send(method, path, body, query, true, true, signal) as Promise<Response>,
  };
}

function queryString(q: Query | undefined): string {
  if (!q) return "";
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
}

async function parseResponse(res: Response, method: string, path: string, server: string): Promise<unknown> {
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    if (res.ok) throw new IbsError(`${method} ${path} on ${server}: the answer is not JSON (HTTP ${res.status})`);
  }
  if (res.ok) return json;
  const e = json?.error;
  const message = typeof e?.message === "string" ? e.message : `HTTP ${res.status} ${res.statusText}`;
  const details = e?.details && typeof e.details === "object" ? e.details : {};
  throw new ApiRequestError(`${message} (HTTP ${res.status}, ${method} ${API_BASE}${path} on ${server})`, res.status, typeof e?.code === "string" ? e.code : "http_error", details,
    typeof details.hint === "string" ? details.hint : undefined);
}
