/**
 * S3 for tests: a real S3 server (s3rver from npm, on loopback, data in a temp dir) and a
 * fault-injecting proxy in front of it. Reused by every test that needs an S3 datastore.
 *
 *   const s3 = await startS3rver();                 // http://127.0.0.1:<port>, keys S3RVER/S3RVER
 *   await s3.createBucket("ibs-test");
 *   const proxy = await startFaultProxy(s3, { slowDown: 0.03, reset: 0.03, delay: 0.04 });
 *   const endpoint = s3EndpointConfig(proxy.endpoint);   // an S3EndpointConfig for openS3Backend
 *   ...
 *   await proxy.stop(); await s3.stop();
 *
 * Why Node and `--openssl-legacy-provider`: s3rver encrypts ListObjectsV2 continuation tokens
 * with DES, which OpenSSL 3 only has in its legacy provider and Bun's BoringSSL not at all;
 * without it every paginated listing fails with 500 (bun-probe.md §8). And `-r
 * s3rver-key-order.cjs`: s3rver lists in directory-walk order, not S3 key order, which loses
 * keys at page boundaries (`a.sibling` vs `a/...`); the preload sorts as S3 does.
 *
 * s3rver ignores `If-None-Match: *` on PUT. The proxy enforces it (a HEAD first, PUTs of one
 * key serialized), so the backend's conditional-create path can be tested through the proxy
 * and its fallback directly against s3rver.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { S3EndpointConfig } from "../../src/s3/endpoint-config.ts";

const root = resolve(import.meta.dir, "..", "..");
export const S3RVER_KEY = "S3RVER";

export interface S3TestServer {
  /** `http://127.0.0.1:<port>` (https with `tls`). */
  endpoint: string;
  host: string;
  port: number;
  dir: string;
  /** The s3rver process (for its CPU time in benchmarks). */
  pid: number;
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface StartS3rverOptions {
  /** PEM files: serve HTTPS. */
  tls?: { certFile: string; keyFile: string };
  /**
   * What runs s3rver: Node (default; what the tests need: paginated listing uses the legacy
   * OpenSSL provider) or Bun (benchmarks only: ~25-40% less CPU per request here, listings of
   * more than one page untested).
   */
  runtime?: "node" | "bun";
}

/** Starts s3rver under Node on a free loopback port with a fresh data directory. */
export async function startS3rver(opts: StartS3rverOptions = {}): Promise<S3TestServer> {
  const dir = mkdtempSync(join(tmpdir(), "ibs-s3rver-"));
  const bun = opts.runtime === "bun";
  const args = [
    ...(bun ? [] : ["--openssl-legacy-provider"]),
    bun ? "--preload" : "-r",
    join(import.meta.dir, "s3rver-key-order.cjs"),
    join(root, "node_modules", "s3rver", "bin", "s3rver.js"),
    ...["-d", dir, "-a", "127.0.0.1", "-p", "0", "--silent"],
  ];
  if (opts.tls) args.push("--key", opts.tls.keyFile, "--cert", opts.tls.certFile);
  const child = spawn(bun ? process.execPath : "node", args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  const port = await new Promise<number>((resolvePort, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 15 s: ${out}`)), 15_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on [\d.]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with ${code} before listening: ${out}`));
    });
  });
  // Keep draining its output so a chatty server can never block on a full pipe.
  child.stdout!.resume();
  child.stderr!.resume();
  const scheme = opts.tls ? "https" : "http";
  const endpoint = `${scheme}://127.0.0.1:${port}`;
  return {
    endpoint,
    host: "127.0.0.1",
    port,
    dir,
    pid: child.pid!,
    async createBucket(name: string) {
      // s3rver accepts unsigned requests; no SDK needed here.
      const r = await fetch(`${endpoint}/${name}`, { method: "PUT", tls: { rejectUnauthorized: false } } as RequestInit);
      if (!r.ok) throw new Error(`create bucket ${name}: ${r.status} ${await r.text()}`);
    },
    stop: () => stopChild(child, dir),
  };
}

async function stopChild(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await Promise.race([exited, Bun.sleep(3000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  rmSync(dir, { recursive: true, force: true });
}

/** An endpoint configuration for s3rver (path style, its built-in key), with overrides. */
export function s3EndpointConfig(endpoint: string, overrides: Partial<S3EndpointConfig> = {}): S3EndpointConfig {
  const config: S3EndpointConfig = {
    name: "test-s3",
    endpoint,
    region: "us-east-1",
    accessKeyId: S3RVER_KEY,
    pathStyle: true,
    fingerprint: null,
    caFile: null,
    rateLimit: null,
    maxRequests: 16,
    conditionalCreate: "auto",
    comment: null,
    ...overrides,
  };
  if (config.accessKeyId && !("secretAccessKey" in overrides)) config.secretAccessKey = S3RVER_KEY;
  return config;
}

/** A bucket name no other test uses. */
export function uniqueBucket(tag = "ibs"): string {
  return `${tag}-${randomBytes(5).toString("hex")}`;
}

// ---- fault-injecting proxy ---------------------------------------------------------------

export type FaultKind = "slowdown" | "reset" | "reset-after" | "delay" | "stall" | "error500" | "truncate";

export interface FaultRates {
  /** Answer 503 SlowDown without forwarding. */
  slowDown?: number;
  /** Destroy the connection before forwarding (the request had no effect). */
  reset?: number;
  /** Forward, then destroy the connection instead of answering (the request took effect, the answer is lost). */
  resetAfter?: number;
  /** Wait `delayMs`, then forward. */
  delay?: number;
  delayMs?: number;
  /** Answer 500 InternalError without forwarding. */
  error500?: number;
}

export interface FaultStats {
  requests: number;
  forwarded: number;
  injected: Record<FaultKind, number>;
  /** PUTs with If-None-Match: * refused because the key existed. */
  preconditionFailed: number;
  /** Requests by method, e.g. { PUT: 10, HEAD: 3 }. */
  methods: Record<string, number>;
  /** Most requests the proxy had in hand at once (the client's concurrency, as the store sees it). */
  maxInFlight: number;
}

export interface FaultProxy {
  endpoint: string;
  port: number;
  stats: FaultStats;
  /** Replaces the random fault rates. */
  setRates(rates: FaultRates): void;
  /** The next `count` requests (optionally only of one method) get this fault, before any random one. */
  failNext(kind: FaultKind, count?: number, method?: string): void;
  stop(): Promise<void>;
}

export interface FaultProxyOptions extends FaultRates {
  /** Enforce If-None-Match: * on PUT (default true). */
  enforceIfNoneMatch?: boolean;
  /** Only these methods get random faults (default all). */
  methods?: string[];
}

const SLOW_DOWN_XML = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>`;
const INTERNAL_XML = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>fault-proxy</RequestId></Error>`;
const PRECONDITION_XML = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message><Condition>If-None-Match</Condition><RequestId>fault-proxy</RequestId></Error>`;

/** Starts the proxy on a free loopback port in front of `target` (plain HTTP both sides). */
export async function startFaultProxy(target: { host: string; port: number }, opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  let rates: FaultRates = { ...opts };
  const enforce = opts.enforceIfNoneMatch ?? true;
  const forced: { kind: FaultKind; method?: string }[] = [];
  const stats: FaultStats = { requests: 0, forwarded: 0, injected: { slowdown: 0, reset: 0, "reset-after": 0, delay: 0, stall: 0, error500: 0, truncate: 0 }, preconditionFailed: 0, methods: {}, maxInFlight: 0 };
  let inFlight = 0;
  const putChains = new Map<string, Promise<void>>();
  const stalled = new Set<http.ServerResponse>();

  const pickFault = (method: string): FaultKind | null => {
    const i = forced.findIndex((f) => !f.method || f.method === method);
    if (i >= 0) return forced.splice(i, 1)[0]!.kind;
    if (opts.methods && !opts.methods.includes(method)) return null;
    let r = Math.random();
    for (const [kind, p] of [["slowdown", rates.slowDown], ["reset", rates.reset], ["reset-after", rates.resetAfter], ["delay", rates.delay], ["error500", rates.error500]] as const) {
      if (p && r < p) return kind;
      r -= p ?? 0;
    }
    return null;
  };

  const forward = (req: http.IncomingMessage, body: Buffer, method = req.method!): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> =>
    new Promise((resolveFwd, reject) => {
      // Our own HEAD goes out unsigned, with no headers of the request it checks for.
      const headers = method === req.method ? req.headers : { host: req.headers.host };
      const path = method === req.method ? req.url : (req.url ?? "").split("?")[0];
      const out = http.request({ host: target.host, port: target.port, method, path, headers }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () => resolveFwd({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(parts) }));
        res.on("error", reject);
      });
      out.on("error", reject);
      out.end(method === "HEAD" ? undefined : body);
    });

  const reply = (res: http.ServerResponse, status: number, headers: http.OutgoingHttpHeaders, body: Buffer | string, head: boolean) => {
    res.writeHead(status, headers);
    res.end(head ? undefined : body);
  };

  /** True when the key exists: an unsigned HEAD, which s3rver accepts. */
  const exists = async (req: http.IncomingMessage): Promise<boolean> => {
    const head = await forward(req, Buffer.alloc(0), "HEAD");
    return head.status === 200;
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer) => {
    const method = req.method ?? "GET";
    stats.requests++;
    stats.methods[method] = (stats.methods[method] ?? 0) + 1;
    const isHead = method === "HEAD";
    const fault = pickFault(method);
    if (fault) stats.injected[fault]++;
    if (fault === "slowdown") return reply(res, 503, { "content-type": "application/xml" }, SLOW_DOWN_XML, isHead);
    if (fault === "error500") return reply(res, 500, { "content-type": "application/xml" }, INTERNAL_XML, isHead);
    if (fault === "reset") return void req.socket.destroy();
    if (fault === "stall") return void stalled.add(res);
    if (fault === "delay") await Bun.sleep(rates.delayMs ?? 150);

    // The SDK adds `?x-id=PutObject`; multipart parts (partNumber, uploadId) are not creates.
    const conditional = enforce && method === "PUT" && req.headers["if-none-match"] === "*" && !/[?&](partNumber|uploadId)=/.test(req.url ?? "");
    let answer: { status: number; headers: http.IncomingHttpHeaders; body: Buffer };
    if (conditional) {
      // HEAD and PUT of one key must not interleave with another PUT of it: chain them.
      const path = (req.url ?? "").split("?")[0]!;
      const previous = putChains.get(path) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      const chain = previous.then(() => mine);
      putChains.set(path, chain);
      await previous;
      try {
        if (await exists(req)) {
          stats.preconditionFailed++;
          answer = { status: 412, headers: { "content-type": "application/xml" }, body: Buffer.from(PRECONDITION_XML) };
        } else {
          answer = await forward(req, body);
          stats.forwarded++;
        }
      } finally {
        release();
        if (putChains.get(path) === chain) putChains.delete(path);
      }
    } else {
      answer = await forward(req, body);
      stats.forwarded++;
    }
    if (fault === "reset-after") return void req.socket.destroy();
    const headers = { ...answer.headers };
    delete headers["transfer-encoding"];
    delete headers.connection;
    headers["content-length"] = String(isHead ? (answer.headers["content-length"] ?? 0) : answer.body.length);
    if (fault === "truncate" && !isHead) {
      // The whole length announced, half the body sent, then the connection closes.
      res.writeHead(answer.status, headers);
      res.write(answer.body.subarray(0, answer.body.length >> 1), () => req.socket.destroy());
      return;
    }
    reply(res, answer.status, headers, answer.body, isHead);
  };

  const server = http.createServer((req, res) => {
    inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, inFlight);
    let counted = true;
    const done = () => {
      if (counted) inFlight--;
      counted = false;
    };
    res.once("close", done); // also when the connection is destroyed (reset faults)
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      handle(req, res, Buffer.concat(parts)).catch((err) => {
        if (!res.headersSent) reply(res, 502, { "content-type": "text/plain" }, `fault proxy: ${err?.message ?? err}`, req.method === "HEAD");
        else res.destroy();
      });
    });
  });
  const port = await new Promise<number>((resolvePort) => server.listen(0, "127.0.0.1", () => resolvePort((server.address() as { port: number }).port)));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stats,
    setRates(next) {
      rates = { ...next };
    },
    failNext(kind, count = 1, method) {
      for (let i = 0; i < count; i++) forced.push({ kind, method });
    },
    async stop() {
      // Destroy the sockets: Bun's res.destroy() answers an empty "200 Connection: close" instead.
      for (const res of stalled) res.socket?.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
