/**
 * What the S3 unit tests share: one s3rver per test file, a bucket, and backends opened on
 * fresh prefixes (so each test sees an empty store) with their own cache directory.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { openS3Backend, type S3Backend, type S3BackendOptions } from "../../../src/datastore/backends/s3.ts";
import type { S3EndpointConfig } from "../../../src/s3/endpoint-config.ts";
import type { BackendUnderTest } from "../datastore/backend-conformance.ts";

/** Short waits: the tests inject many faults and must stay fast. */
export const FAST_RETRY = { maxAttempts: 10, baseDelayMs: 5, maxDelayMs: 100 };

export function tempDir(tag = "ibs-s3-test-"): string {
  return mkdtempSync(join(tmpdir(), tag));
}

export interface OpenedBackend extends BackendUnderTest {
  backend: S3Backend;
  cacheDir: string;
}

export async function openTestBackend(endpoint: S3EndpointConfig, bucket: string, opts: S3BackendOptions & { prefix?: string } = {}): Promise<OpenedBackend> {
  const cacheDir = opts.cacheDir ?? tempDir();
  const prefix = opts.prefix ?? `t-${randomBytes(4).toString("hex")}`;
  const backend = await openS3Backend(endpoint, bucket, prefix, { cacheSize: 64 * 1024 * 1024, retry: FAST_RETRY, requestTimeoutMs: 5000, connectTimeoutMs: 2000, ...opts, cacheDir }).catch((err) => {
    rmSync(cacheDir, { recursive: true, force: true });
    throw err;
  });
  return {
    backend,
    cacheDir,
    async cleanup() {
      await backend.close();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}
