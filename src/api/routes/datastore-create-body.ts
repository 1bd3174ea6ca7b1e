/**
 * The body of `POST /datastore`: a local store (`path`, `reuse`) or an S3 store (`backend:
 * "s3"`, `s3-endpoint`, `bucket`, `prefix`, `cache-dir`, `cache-size`), the options of
 * `datastore create [--backend s3]` under the same names. Every value is checked with the
 * admin module's own rules (name, path, bucket, prefix, cache size), and which fields go
 * together is checked here so that the 400 names the field; createDatastore does the rest
 * (registry, probe of the bucket, marker) exactly as for the CLI.
 */
import { z } from "zod";
import type { CreateDatastoreInput } from "../../datastore/admin/index.ts";
import { parseCacheSize } from "../../datastore/admin/index.ts";
import type { NodeConfig } from "../../config/load.ts";
import { validateBucketName, validateBucketPrefix, validateEndpointName } from "../../s3/endpoint-config.ts";
import { S3AdminError } from "../../s3/errors.ts";
import { ApiError } from "../errors.ts";
import { commentSchema, via } from "../schemas.ts";
import { datastoreNameSchema, datastorePathSchema } from "./datastore-params.ts";

const S3_ONLY = ["s3-endpoint", "bucket", "prefix", "cache-dir", "cache-size"] as const;

/** A whole number of bytes, or a size text as `--cache-size` takes it ("64GiB", "500M", "0"). */
const cacheSizeSchema = z.union([z.number(), z.string()]).transform((v, ctx) => {
  try {
    if (typeof v === "string") return parseCacheSize(v);
    if (Number.isSafeInteger(v) && v >= 0) return v;
    throw new Error(`${v} is not a whole number of bytes`);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
});

export const createBody = z
  .strictObject({
    name: datastoreNameSchema,
    /** Local: the datastore directory. S3: may stand for cache-dir (as the CLI's positional path does). */
    path: datastorePathSchema.optional(),
    comment: commentSchema.nullable().optional(),
    reuse: z.boolean().optional(),
    backend: z.enum(["local", "s3"]).optional(),
    "s3-endpoint": via(validateEndpointName).optional(),
    bucket: via(validateBucketName).optional(),
    /** Default: the datastore name; "" puts the store at the bucket root. */
    prefix: via(validateBucketPrefix).optional(),
    "cache-dir": datastorePathSchema.optional(),
    /** Bytes, or a size such as "64GiB" (0: no cache). */
    "cache-size": cacheSizeSchema.optional(),
  })
  .superRefine((b, ctx) => {
    const issue = (field: string, message: string) => ctx.addIssue({ code: "custom", path: [field], message });
    if (b.backend === "s3") {
      if (!b["s3-endpoint"]) issue("s3-endpoint", "an S3 datastore needs an endpoint: the name of one configured with `ironcore-backup s3 endpoint create` (see: s3 endpoint list)");
      if (!b.bucket) issue("bucket", "an S3 datastore needs a bucket (it must exist; IBS never creates buckets)");
      if (!b["cache-dir"] && !b.path) issue("cache-dir", "an S3 datastore needs a local directory for .ibs/ and the chunk cache (empty or missing)");
      if (b["cache-dir"] && b.path && b["cache-dir"] !== b.path) issue("path", "give the local directory of an S3 datastore once: cache-dir");
      if (b.reuse) issue("reuse", "reuse is for local datastores; an S3 datastore is created on a free prefix (choose another prefix)");
      return;
    }
    if (!b.path) issue("path", "the absolute path of the datastore directory is required (or backend \"s3\" with cache-dir)");
    for (const f of S3_ONLY) if (b[f] !== undefined) issue(f, `${f} is for backend "s3"`);
  });

export type CreateBody = z.infer<typeof createBody>;

/** The admin call's input; the S3 secret stays in the node config dir, where the endpoint put it. */
export function createInput(config: NodeConfig, b: CreateBody): CreateDatastoreInput {
  if (b.backend !== "s3") return { name: b.name, path: b.path!, comment: b.comment, reuse: b.reuse };
  return {
    name: b.name,
    path: (b["cache-dir"] ?? b.path)!,
    comment: b.comment,
    backend: "s3",
    s3: { endpoint: b["s3-endpoint"]!, bucket: b.bucket!, prefix: b.prefix, cacheSize: b["cache-size"], configDir: config.configDir, host: config.node },
  };
}

/**
 * An endpoint name that is not configured is bad input of this request (400 naming the
 * field), not a missing resource at the route's URL: the S3 module says 404.
 */
export function rethrowUnknownEndpoint(err: unknown, b: CreateBody): never {
  if (b.backend === "s3" && err instanceof S3AdminError && err.httpStatus === 404) {
    const field = "body.s3-endpoint";
    throw new ApiError(400, "invalid_request", `${field}: ${err.message}`, { field, ...(err.hint ? { hint: err.hint } : {}) });
  }
  throw err;
}
