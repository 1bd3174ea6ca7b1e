/**
 * `datastore probe` for S3 (and `s3 endpoint probe`): the checks an operator would do by hand
 * with dig, nc, openssl s_client and curl -I, in order, each one line with its cause:
 *
 *   dns          the endpoint's name resolves                      (dig)
 *   tcp          a TCP connection opens                            (nc -z)
 *   tls          the certificate is trusted: system store, --ca-file, or the pinned fingerprint
 *   credentials  the key is accepted (ListBuckets)
 *   bucket       the bucket exists and can be listed (ListObjectsV2 under the prefix)
 *   datastore    the prefix's marker names the expected datastore (or: the prefix is free)
 *   write/read/delete   a probe object is written, read back, deleted
 *   conditional-create  whether PUT If-None-Match is honoured (else the documented fallback)
 *   latency      the write/read/delete round trip
 *
 * A failure skips what depends on it (no credentials check without TCP), so the first FAIL
 * line is the cause.
 */
import { randomBytes } from "node:crypto";
import { lookup } from "node:dns/promises";
import net from "node:net";
import tls from "node:tls";
import { readFileSync } from "node:fs";
import { probeServerCertificate } from "../client/tls-probe.ts";
import { openS3Backend, type S3Backend } from "../datastore/backends/s3.ts";
import { describeS3Error, s3Code, s3Status } from "../datastore/backends/s3-errors.ts";
import { withRetry } from "../datastore/backends/s3-retry.ts";
import { errorMessage } from "../util/errors.ts";
import { connectS3, endpointHostPort, type S3Connection } from "./client.ts";
import { isLoopbackHost, type S3EndpointConfig, validateBucketName, validateBucketPrefix } from "./endpoint-config.ts";
import { readS3Marker, S3_MARKER_KEY, type S3Marker } from "./marker.ts";

export type S3ProbeStatus = "ok" | "warn" | "fail" | "skip";
export type S3ProbeCheckName = "dns" | "tcp" | "tls" | "credentials" | "bucket" | "datastore" | "write" | "read" | "delete" | "conditional-create" | "latency";
export type S3ProbeCause =
  | "dns"
  | "connection-refused"
  | "timeout"
  | "unreachable"
  | "plain-http"
  | "tls-untrusted"
  | "fingerprint-mismatch"
  | "tls-handshake"
  | "bad-credentials"
  | "no-credentials"
  | "access-denied"
  | "missing-bucket"
  | "wrong-region"
  | "endpoint-error"
  | "not-a-datastore"
  | "wrong-datastore"
  | "prefix-in-use"
  | "io"
  | "slow";

export interface S3ProbeCheck {
  check: S3ProbeCheckName;
  status: S3ProbeStatus;
  message: string;
  cause?: S3ProbeCause;
}

export interface S3ProbeReport {
  endpoint: string;
  url: string;
  bucket: string;
  prefix: string;
  ok: boolean;
  failures: number;
  warnings: number;
  checks: S3ProbeCheck[];
  marker: S3Marker | null;
  conditionalCreate: "honoured" | "ignored" | null;
  /** Milliseconds of the write/read/delete round trip. */
  latencyMs: number | null;
}

export interface S3ProbeOptions {
  bucket: string;
  prefix?: string;
  /** The registered datastore id: the prefix's marker must name it. Without it, the prefix should be free. */
  expectedId?: string;
  /** Write, read and delete a probe object (default true). */
  write?: boolean;
  /** Per step (default 10 s). */
  timeoutMs?: number;
}

/** A probe retries a throttled or reset request briefly; a persistent failure is its finding. */
const PROBE_RETRY = { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 1000 };

/** Above this round trip (write + read + delete) the probe warns. */
export const SLOW_S3_ROUND_TRIP_MS = 3000;

export async function probeS3(config: S3EndpointConfig, opts: S3ProbeOptions): Promise<S3ProbeReport> {
  validateBucketName(opts.bucket);
  const prefix = validateBucketPrefix(opts.prefix ?? "");
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const checks: S3ProbeCheck[] = [];
  const add = (check: S3ProbeCheckName, status: S3ProbeStatus, message: string, cause?: S3ProbeCause) => checks.push(cause ? { check, status, message, cause } : { check, status, message });
  let marker: S3Marker | null = null;
  let conditionalCreate: S3ProbeReport["conditionalCreate"] = null;
  let latencyMs: number | null = null;
  const report = (): S3ProbeReport => {
    const failures = checks.filter((c) => c.status === "fail").length;
    return { endpoint: config.name, url: config.endpoint, bucket: opts.bucket, prefix, ok: failures === 0, failures, warnings: checks.filter((c) => c.status === "warn").length, checks, marker, conditionalCreate, latencyMs };
  };
  const skipRest = (after: S3ProbeCheckName, why: string) => {
    const order: S3ProbeCheckName[] = ["dns", "tcp", "tls", "credentials", "bucket", "datastore", "write", "read", "delete", "conditional-create", "latency"];
    for (const name of order.slice(order.indexOf(after) + 1)) add(name, "skip", `not checked: ${why}`);
    return report();
  };

  const { host, port, tls: useTls } = endpointHostPort(config, opts.bucket);

  // dns
  let address = host;
  if (net.isIP(host)) add("dns", "ok", `${host} is an address (no DNS lookup needed)`);
  else {
    try {
      const found = await withTimeout(lookup(host, { all: true }), timeoutMs, "DNS lookup");
      address = found[0]!.address;
      add("dns", "ok", `${host} resolves to ${found.map((a) => a.address).join(", ")}`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const what = code === "ENOTFOUND" ? "no such name" : code === "EAI_AGAIN" ? "DNS server did not answer" : errorMessage(err);
      add("dns", "fail", `cannot resolve ${host}: ${what}${code ? ` (${code})` : ""}`, "dns");
      return skipRest("dns", "the name does not resolve");
    }
  }

  // tcp
  try {
    const ms = await tcpConnect(address, port, timeoutMs);
    add("tcp", "ok", `connected to ${address}:${port} in ${ms.toFixed(ms < 10 ? 1 : 0)} ms`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const [why, cause]: [string, S3ProbeCause] =
      code === "ECONNREFUSED"
        ? ["connection refused (nothing listens there, or a firewall rejects it)", "connection-refused"]
        : code === "ETIMEDOUT"
          ? [`no answer within ${timeoutMs / 1000} s (a firewall drops the packets, or the host is down)`, "timeout"]
          : [`${errorMessage(err)}`, "unreachable"];
    add("tcp", "fail", `cannot connect to ${host}:${port}: ${why}`, cause);
    return skipRest("tcp", "the endpoint is not reachable");
  }

  // tls
  if (!useTls) {
    if (isLoopbackHost(host)) add("tls", "ok", "plain HTTP on loopback (a local gateway or test server)");
    else add("tls", "warn", `plain HTTP to ${host}: requests are signed, but data and metadata travel unencrypted`, "plain-http");
  } else {
    const problem = await checkTls(config, host, port, timeoutMs);
    add("tls", problem.status, problem.message, problem.cause);
    if (problem.status === "fail") return skipRest("tls", "the endpoint's certificate is not trusted");
  }

  // credentials
  let conn: S3Connection;
  try {
    conn = await connectS3(config, { bucket: opts.bucket, connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs, maxSockets: 4 });
  } catch (err) {
    add("credentials", "fail", `cannot set up a client for ${config.endpoint}: ${errorMessage(err)}`, "endpoint-error");
    return skipRest("credentials", "no client");
  }
  try {
    const who = config.accessKeyId ? `access key id ${config.accessKeyId}` : "credentials from the AWS default chain";
    try {
      await withRetry(() => conn.client.send(new conn.sdk.ListBucketsCommand({})), PROBE_RETRY);
      add("credentials", "ok", `${who} accepted`);
    } catch (err) {
      const code = s3Code(err);
      if (code === "AccessDenied") add("credentials", "ok", `${who} accepted (it may not list buckets, which IBS does not need)`);
      else {
        add("credentials", "fail", describeCredentialFailure(err, config), credentialCause(err));
        return skipRest("credentials", "the credentials were not accepted");
      }
    }

    // bucket
    let prefixHasObjects = false;
    try {
      const out = await withRetry(() => conn.client.send(new conn.sdk.ListObjectsV2Command({ Bucket: opts.bucket, Prefix: prefix ? `${prefix}/` : undefined, MaxKeys: 1 })), PROBE_RETRY);
      prefixHasObjects = (out.KeyCount ?? out.Contents?.length ?? 0) > 0;
      add("bucket", "ok", `bucket ${opts.bucket} exists and can be listed${prefix ? ` under ${prefix}/` : ""}`);
    } catch (err) {
      const [message, cause] = describeBucketFailure(err, opts.bucket, config);
      add("bucket", "fail", message, cause);
      return skipRest("bucket", "the bucket cannot be used");
    }

    // datastore marker, then the probe object, through the real backend code path
    const backend = await openS3Backend(config, opts.bucket, prefix, { retry: PROBE_RETRY, connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs, cacheSize: 0 });
    try {
      await checkMarker(backend, opts, prefixHasObjects, add).then((m) => (marker = m));
      if (opts.write === false) {
        for (const name of ["write", "read", "delete", "conditional-create", "latency"] as const) add(name, "skip", "not checked: read-only probe");
        return report();
      }
      latencyMs = await checkWriteReadDelete(backend, add);
      if (latencyMs === null) {
        add("conditional-create", "skip", "not checked: the probe object could not be written");
        add("latency", "skip", "not measured");
        return report();
      }
      try {
        conditionalCreate = await backend.conditionalCreate();
        if (config.conditionalCreate !== "auto") add("conditional-create", "ok", `set to '${config.conditionalCreate}' for this endpoint (not detected)`);
        else if (conditionalCreate === "honoured") add("conditional-create", "ok", "PUT If-None-Match is honoured: manifests are created with one conditional PUT");
        else add("conditional-create", "ok", "PUT If-None-Match is ignored by this store: IBS creates with HEAD-then-PUT under a lock of this host (safe while only this host writes the datastore)");
      } catch (err) {
        add("conditional-create", "fail", `cannot tell whether conditional PUT works: ${errorMessage(err)}`, "io");
      }
      const shown = `probe object write, read and delete took ${Math.round(latencyMs)} ms`;
      if (latencyMs > SLOW_S3_ROUND_TRIP_MS) add("latency", "warn", `${shown}: the endpoint is slow or far away`, "slow");
      else add("latency", "ok", shown);
    } finally {
      await backend.close();
    }
  } finally {
    conn.close();
  }
  return report();
}

type Add = (check: S3ProbeCheckName, status: S3ProbeStatus, message: string, cause?: S3ProbeCause) => void;

async function checkMarker(backend: S3Backend, opts: S3ProbeOptions, prefixHasObjects: boolean, add: Add): Promise<S3Marker | null> {
  let marker: S3Marker | null;
  try {
    marker = await readS3Marker(backend);
  } catch (err) {
    add("datastore", "fail", errorMessage(err), err instanceof Error && err.name === "BackendIoError" ? "io" : "wrong-datastore");
    return null;
  }
  const where = `${backend.bucket}${backend.prefix ? `/${backend.prefix}` : ""}`;
  const held = (m: S3Marker) => `datastore ${m.datastore_id} (name ${m.name}, host ${m.host}, created ${m.created})`;
  if (opts.expectedId) {
    if (!marker) add("datastore", "fail", `${where} has no datastore marker (${S3_MARKER_KEY}): it holds no IBS datastore, or the bucket/prefix is wrong`, "not-a-datastore");
    else if (marker.datastore_id !== opts.expectedId) add("datastore", "fail", `${where} holds ${held(marker)}, not the registered ${opts.expectedId}`, "wrong-datastore");
    else add("datastore", "ok", `${where} holds this datastore (${marker.datastore_id}, host ${marker.host})`);
  } else if (marker) {
    add("datastore", "warn", `${where} already holds ${held(marker)}`, "prefix-in-use");
  } else if (prefixHasObjects) {
    add("datastore", "warn", `${where} holds objects but no datastore marker: not an IBS datastore, but not empty either`, "prefix-in-use");
  } else {
    add("datastore", "ok", `${where} is free (no datastore marker, no objects)`);
  }
  return marker;
}

/** Writes, reads back and deletes a probe object; returns the round trip in ms, or null after a failure. */
async function checkWriteReadDelete(backend: S3Backend, add: Add): Promise<number | null> {
  const key = `.ibs/probe-${randomBytes(8).toString("hex")}`;
  const bytes = randomBytes(4096);
  const started = performance.now();
  try {
    await backend.put(key, bytes);
    add("write", "ok", `wrote probe object ${key} (4 KiB)`);
  } catch (err) {
    add("write", "fail", `cannot write ${key}: ${innerMessage(err)}`, /AccessDenied|403/.test(errorMessage(err)) ? "access-denied" : "io");
    add("read", "skip", "not checked: nothing was written");
    add("delete", "skip", "not checked: nothing was written");
    return null;
  }
  try {
    const back = await backend.get(key);
    if (Buffer.from(back).equals(bytes)) add("read", "ok", "read it back, bytes equal");
    else add("read", "fail", `read ${key} back with different bytes (${back.length} bytes instead of ${bytes.length}): the store or a proxy alters data`, "io");
  } catch (err) {
    add("read", "fail", `cannot read ${key} back: ${innerMessage(err)}`, /AccessDenied|403/.test(errorMessage(err)) ? "access-denied" : "io");
  }
  try {
    await backend.delete([key]);
    if (await backend.stat(key)) add("delete", "fail", `deleted ${key}, but it is still there`, "io");
    else add("delete", "ok", "deleted it again");
  } catch (err) {
    add("delete", "fail", `cannot delete ${key}: ${innerMessage(err)} (GC needs DeleteObjects; remove the object by hand)`, /AccessDenied|403/.test(errorMessage(err)) ? "access-denied" : "io");
  }
  return performance.now() - started;
}

async function checkTls(config: S3EndpointConfig, host: string, port: number, timeoutMs: number): Promise<{ status: S3ProbeStatus; message: string; cause?: S3ProbeCause }> {
  let peer;
  try {
    peer = await probeServerCertificate(host, port, timeoutMs);
  } catch (err) {
    return { status: "fail", message: `TLS handshake with ${host}:${port} failed: ${errorMessage(err).replace(/^cannot connect to [^:]+:\d+: /, "")}`, cause: "tls-handshake" };
  }
  const subject = `${peer.subject || "(no subject)"}, valid until ${peer.notAfter}`;
  if (config.fingerprint) {
    if (peer.fingerprint !== config.fingerprint) {
      return { status: "fail", message: `certificate fingerprint ${peer.fingerprint} does not match the pinned ${config.fingerprint} (changed certificate, or an interception)`, cause: "fingerprint-mismatch" };
    }
    return { status: "ok", message: `certificate matches the pinned fingerprint (${subject})` };
  }
  if (config.caFile) {
    let ca: string;
    try {
      ca = readFileSync(config.caFile, "utf8");
    } catch (err) {
      return { status: "fail", message: `cannot read the CA file ${config.caFile}: ${errorMessage(err)}`, cause: "tls-untrusted" };
    }
    const verdict = await verifyWithCa(host, port, ca, timeoutMs);
    if (verdict) return { status: "fail", message: `certificate (${subject}) does not verify against ${config.caFile}: ${verdict}`, cause: "tls-untrusted" };
    return { status: "ok", message: `certificate verifies against ${config.caFile} (${subject})` };
  }
  if (peer.authorized && peer.coversHost) return { status: "ok", message: `certificate trusted by the system store (${subject})` };
  const why = !peer.authorized ? (peer.authorizationError ?? "not verifiable") : `it does not name ${host}`;
  return {
    status: "fail",
    message: `certificate (${subject}, fingerprint ${peer.fingerprint}) is not trusted: ${why}; pin it with --fingerprint ${peer.fingerprint} after checking it, or give the CA with --ca-file`,
    cause: "tls-untrusted",
  };
}

/** Error text of a verifying handshake with only `ca` trusted, or null when it verifies. */
function verifyWithCa(host: string, port: number, ca: string, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port, ca, rejectUnauthorized: false, ...(net.isIP(host) ? {} : { servername: host }) });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(`no TLS handshake within ${timeoutMs / 1000} s`);
    }, timeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const peer = socket.getPeerCertificate();
      const identity = peer ? tls.checkServerIdentity(host, peer) : new Error("no certificate");
      resolve(!socket.authorized ? String(socket.authorizationError) : identity ? identity.message : null);
      socket.end();
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      resolve(errorMessage(err));
    });
  });
}

function credentialCause(err: unknown): S3ProbeCause {
  const code = s3Code(err);
  if (code === "InvalidAccessKeyId" || code === "SignatureDoesNotMatch" || code === "InvalidToken" || code === "ExpiredToken") return "bad-credentials";
  if (code === "CredentialsProviderError") return "no-credentials";
  if (s3Status(err) === 403) return "access-denied";
  return "endpoint-error";
}

function describeCredentialFailure(err: unknown, config: S3EndpointConfig): string {
  const code = s3Code(err);
  const id = config.accessKeyId;
  switch (code) {
    case "InvalidAccessKeyId":
      return `the endpoint does not know access key id ${id} (InvalidAccessKeyId): wrong key, or a key of another account or endpoint`;
    case "SignatureDoesNotMatch":
      return `the secret access key does not match access key id ${id} (SignatureDoesNotMatch); also check the region (${config.region}) and the server's clock`;
    case "ExpiredToken":
    case "InvalidToken":
      return `the session token of the credentials is ${code === "ExpiredToken" ? "expired" : "invalid"} (${code})`;
    case "CredentialsProviderError":
      return "no credentials: the endpoint stores no key and the AWS default chain found none (AWS_ACCESS_KEY_ID, ~/.aws/credentials, instance role)";
    default:
      return `the endpoint refused the credentials check (ListBuckets): ${describeS3Error(err)}`;
  }
}

function describeBucketFailure(err: unknown, bucket: string, config: S3EndpointConfig): [string, S3ProbeCause] {
  const code = s3Code(err);
  if (code === "NoSuchBucket") return [`bucket ${bucket} does not exist on ${config.endpoint} (create it with the provider's tools: IBS never creates buckets)`, "missing-bucket"];
  if (code === "AccessDenied" || s3Status(err) === 403) return [`access to bucket ${bucket} is denied${config.accessKeyId ? ` for ${config.accessKeyId}` : ""}: the key needs ListBucket, GetObject, PutObject and DeleteObject on it`, "access-denied"];
  if (code === "PermanentRedirect" || code === "AuthorizationHeaderMalformed" || code === "IllegalLocationConstraintException" || s3Status(err) === 301) {
    return [`bucket ${bucket} is in another region than ${config.region} (${code}): set the endpoint's --region`, "wrong-region"];
  }
  return [`cannot list bucket ${bucket}: ${describeS3Error(err)}`, "endpoint-error"];
}

function innerMessage(err: unknown): string {
  // BackendIoError reads "<backend>: <op> '<key>': <cause>"; the probe line already names both.
  return errorMessage(err).replace(/^s3 [^:]+:[^:]*: \w[\w ]* '[^']*': /, "");
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" }));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.end();
      resolve(performance.now() - started);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out after ${ms / 1000} s`), { code: "ETIMEDOUT" })), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
