/**
 * What an S3 endpoint is (the settings `s3 endpoint create` stores) and the rules its fields
 * follow. No I/O here: `endpoints.ts` stores them, `client.ts` turns them into an S3 client.
 */
import { isIP } from "node:net";
import { normalizeFingerprint } from "../client/fingerprint.ts";
import { UsageError } from "../util/errors.ts";

export type ConditionalCreateMode = "auto" | "on" | "off";
export const CONDITIONAL_CREATE_MODES: readonly ConditionalCreateMode[] = ["auto", "on", "off"];

export interface S3EndpointConfig {
  name: string;
  /** `https://host[:port]`; plain http is accepted (tests, loopback) but the probe warns off loopback. */
  endpoint: string;
  region: string;
  /** null: the AWS default credential chain (env, shared config, instance role). */
  accessKeyId: string | null;
  /** Only ever in memory, read from the 0600 secret file; never printed, logged or audited. */
  secretAccessKey?: string;
  /** true: https://host/bucket/key; false: https://bucket.host/key (virtual-hosted). */
  pathStyle: boolean;
  /** Pinned SHA-256 fingerprint of the endpoint's certificate, `AA:BB:…`. */
  fingerprint: string | null;
  /** PEM file of the CA that signs the endpoint's certificate (instead of the system store). */
  caFile: string | null;
  /** Bytes per second in each direction, shared by everything this process sends to the endpoint. */
  rateLimit: number | null;
  /** Requests in flight at once from this process to the endpoint. */
  maxRequests: number;
  /** `auto` detects whether PUT If-None-Match is honoured; `on`/`off` skip the detection. */
  conditionalCreate: ConditionalCreateMode;
  comment: string | null;
}

export const DEFAULT_REGION = "us-east-1";
export const DEFAULT_MAX_REQUESTS = 32;

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{2,31}$/;

export function validateEndpointName(name: string): string {
  if (!NAME.test(name)) {
    throw new UsageError(`S3 endpoint name '${name}' is invalid: use 3 to 32 letters, digits, '_', '.' or '-', starting with a letter, digit or '_'`, "for example: ceph1, aws-eu, minio_lab");
  }
  return name;
}

/** Normalizes `https://host[:port][/]`; refuses paths, queries and user info (keys belong in their own options). */
export function normalizeEndpointUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new UsageError(`--endpoint '${value}' is not a URL`, "give it as https://s3.example.net or https://s3.example.net:9000");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new UsageError(`--endpoint '${value}': scheme must be https (or http for a test server), not ${url.protocol.replace(":", "")}`);
  if (url.username || url.password) throw new UsageError(`--endpoint '${value}' must not contain credentials`, "pass them with --access-key-id and --secret-access-key(-file)");
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash) {
    throw new UsageError(`--endpoint '${value}' must be only scheme, host and port`, "the bucket is chosen per datastore; use --path-style for https://host/bucket addressing");
  }
  return `${url.protocol}//${url.host}`;
}

export function validateRegion(region: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(region)) throw new UsageError(`--region '${region}' is invalid: expected letters, digits, '-' and '_' (e.g. us-east-1, default, auto)`);
  return region;
}

/**
 * Bucket names as AWS defines them (3..63 lowercase letters, digits, '.', '-'; alphanumeric at
 * both ends; not an IP address; no '..'), which every S3-compatible store accepts.
 */
export function validateBucketName(bucket: string): string {
  const why =
    bucket.length < 3 || bucket.length > 63
      ? "must be 3 to 63 characters long"
      : !/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket)
        ? "may hold only lowercase letters, digits, '.' and '-', and must start and end with a letter or digit"
        : bucket.includes("..")
          ? "must not contain '..'"
          : isIP(bucket)
            ? "must not look like an IP address"
            : null;
  if (why) throw new UsageError(`bucket name '${bucket}' is invalid: it ${why}`);
  return bucket;
}

/** A key prefix inside the bucket: "" or relative "/"-separated segments, no trailing '/'. */
export function validateBucketPrefix(prefix: string): string {
  if (prefix === "") return prefix;
  const bad =
    prefix.startsWith("/") || prefix.endsWith("/")
      ? "must not start or end with '/'"
      : /[\x00-\x1f\x7f\\]/.test(prefix)
        ? "must not contain control characters or backslashes"
        : prefix.split("/").some((s) => s === "" || s === "." || s === "..")
          ? "must not contain empty, '.' or '..' segments"
          : Buffer.byteLength(prefix) > 512
            ? "is longer than 512 bytes"
            : null;
  if (bad) throw new UsageError(`bucket prefix '${prefix}' is invalid: it ${bad}`);
  return prefix;
}

export function normalizeEndpointFingerprint(value: string): string {
  return normalizeFingerprint(value, "--fingerprint");
}

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3 };

/** Parses a bandwidth such as `50MiB`, `50M`, `10mb/s` or `1048576` into bytes per second. */
export function parseRate(value: string, what = "--rate-limit"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*(?:\/s)?\s*$/.exec(value);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError(`${what} '${value}' is not a rate`, "examples: 50MiB (per second), 800K, 1G, 1048576");
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < 1024) throw new UsageError(`${what} '${value}' is below 1 KiB per second`, "give a larger value, or leave the option out for no limit");
  return bytes;
}

export function validateMaxRequests(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new UsageError(`--max-requests ${n} is invalid: expected a whole number from 1 to 1024`);
  return n;
}

export function parseConditionalCreate(value: string): ConditionalCreateMode {
  if ((CONDITIONAL_CREATE_MODES as readonly string[]).includes(value)) return value as ConditionalCreateMode;
  throw new UsageError(`--conditional-create '${value}' is invalid: expected auto, on or off`);
}

/** Loopback hosts may use plain http without a warning (test servers, local gateways). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  return bare === "localhost" || bare === "::1" || /^127\./.test(bare);
}
