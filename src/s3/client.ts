/**
 * Turns an endpoint configuration into an AWS SDK S3 client. The SDK is imported here, lazily,
 * and only here: it costs ~70-200 ms of start-up, which no command but the ones that touch an
 * S3 store should pay (bun-probe.md §7).
 *
 * Settings every S3-compatible store we know accepts (bun-probe.md §8):
 * - `requestChecksumCalculation`/`responseChecksumValidation: WHEN_REQUIRED`: the SDK's default
 *   aws-chunked CRC framing is stored verbatim by some servers (s3rver does);
 * - bodies are `Uint8Array`s (web streams and Blobs fail inside the SDK under Bun);
 * - `maxAttempts: 1`: retries are ours (s3-retry.ts), so that every attempt is counted,
 *   throttled, and an ambiguous conditional PUT can be resolved;
 * - the SDK's transport is its node:http handler; the hot single-object requests (GET, HEAD,
 *   PUT) skip the SDK and go through `objects` (object-requests.ts: the SDK's signer and
 *   credentials, Bun's fetch, a fraction of the CPU);
 * - TLS: a `--ca-file` replaces the trust store; a `--fingerprint` pin reads the certificate
 *   once with a handshake that sends nothing, compares it, then trusts exactly it (the same
 *   scheme as the backup client, src/client/trust.ts).
 */
import http from "node:http";
import https from "node:https";
import { readFileSync } from "node:fs";
import type { S3Client } from "@aws-sdk/client-s3";
import { pinnedTls } from "../client/trust.ts";
import { probeServerCertificate } from "../client/tls-probe.ts";
import { IbsError } from "../util/errors.ts";
import type { S3EndpointConfig } from "./endpoint-config.ts";
import { ObjectRequests } from "./object-requests.ts";

export type S3Sdk = typeof import("@aws-sdk/client-s3");

let sdkPromise: Promise<S3Sdk> | undefined;

export function loadS3Sdk(): Promise<S3Sdk> {
  sdkPromise ??= import("@aws-sdk/client-s3");
  return sdkPromise;
}

export interface S3ClientOptions {
  /** TCP connect timeout (default 10 s). */
  connectTimeoutMs?: number;
  /** A request whose connection sees no data for this long fails (and is retried) (default 60 s). */
  requestTimeoutMs?: number;
  /** A request that takes longer than this in total fails (default 30 min, as PBS: a 16 MiB chunk over a slow link). */
  totalTimeoutMs?: number;
  /** Keep-alive sockets kept per host (default: the endpoint's max requests). */
  maxSockets?: number;
  /** The bucket, for virtual-hosted style: the certificate pin is checked on `<bucket>.<host>`. */
  bucket?: string;
}

export interface S3Connection {
  sdk: S3Sdk;
  client: S3Client;
  /** GET, HEAD and PUT of one object without the SDK's middleware (object-requests.ts). */
  objects: ObjectRequests;
  /** The host:port requests go to, for messages. */
  target: string;
  close(): void;
}

export class S3TlsError extends IbsError {
  constructor(
    message: string,
    readonly cause: "fingerprint-mismatch" | "ca-file" | "handshake",
    hint?: string,
  ) {
    super(message, 1, hint);
    this.name = "S3TlsError";
  }
}

export function endpointHostPort(config: S3EndpointConfig, bucket?: string): { host: string; port: number; tls: boolean } {
  const url = new URL(config.endpoint);
  const tls = url.protocol === "https:";
  const port = url.port ? Number(url.port) : tls ? 443 : 80;
  const host = !config.pathStyle && bucket ? `${bucket}.${url.hostname}` : url.hostname;
  return { host, port, tls };
}

/** The TLS options of the agent: system trust store, a CA file, or an exact pin. */
export async function tlsOptionsFor(config: S3EndpointConfig, bucket?: string): Promise<{ ca?: string | string[]; checkServerIdentity?: (host: string, cert: any) => Error | undefined }> {
  if (config.fingerprint) {
    const { host, port } = endpointHostPort(config, bucket);
    let peer;
    try {
      peer = await probeServerCertificate(host, port);
    } catch (err) {
      throw new S3TlsError(`S3 endpoint ${config.name}: TLS handshake with ${host}:${port} failed: ${(err as Error).message.replace(/^cannot connect to [^:]+:\d+: /, "")}`, "handshake");
    }
    if (peer.fingerprint !== config.fingerprint) {
      throw new S3TlsError(
        `S3 endpoint ${config.name}: ${host}:${port} presented a certificate with fingerprint ${peer.fingerprint}, but the endpoint pins ${config.fingerprint}: refusing to connect`,
        "fingerprint-mismatch",
        `if the certificate was replaced on purpose: ironcore-backup s3 endpoint update ${config.name} --fingerprint ${peer.fingerprint}`,
      );
    }
    return pinnedTls(peer, config.fingerprint);
  }
  if (config.caFile) {
    try {
      return { ca: readFileSync(config.caFile, "utf8") };
    } catch (err) {
      throw new S3TlsError(`S3 endpoint ${config.name}: cannot read its CA file ${config.caFile}: ${(err as Error).message}`, "ca-file");
    }
  }
  return {};
}

export async function connectS3(config: S3EndpointConfig, opts: S3ClientOptions = {}): Promise<S3Connection> {
  const sdk = await loadS3Sdk();
  const { host, port, tls } = endpointHostPort(config, opts.bucket);
  const maxSockets = opts.maxSockets ?? config.maxRequests;
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets });
  const tlsOptions = tls ? await tlsOptionsFor(config, opts.bucket) : {};
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets, ...tlsOptions });
  const client = new sdk.S3Client({
    region: config.region,
    endpoint: config.endpoint,
    forcePathStyle: config.pathStyle,
    maxAttempts: 1,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    // Without a stored key the SDK walks its default chain: env, shared config, SSO, instance role.
    ...(config.accessKeyId && config.secretAccessKey !== undefined ? { credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey } } : {}),
    requestHandler: {
      httpAgent,
      httpsAgent,
      connectionTimeout: opts.connectTimeoutMs ?? 10_000,
      // socketTimeout is the stall detector (no bytes for this long); requestTimeout bounds the whole request.
      socketTimeout: opts.requestTimeoutMs ?? 60_000,
      requestTimeout: opts.totalTimeoutMs ?? 30 * 60_000,
      throwOnRequestTimeout: true,
    },
  });
  const objects = await ObjectRequests.open(config, opts.bucket ?? "", {
    credentials: () => client.config.credentials(),
    tls: tlsOptions,
    stallTimeoutMs: opts.requestTimeoutMs ?? 60_000,
    totalTimeoutMs: opts.totalTimeoutMs ?? 30 * 60_000,
  });
  return {
    sdk,
    client,
    objects,
    target: `${host}:${port}`,
    close() {
      client.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
