/**
 * The node's S3 endpoints (table `s3_endpoints`, migration 0006) and their secrets (0600 files,
 * `secrets.ts`). Views never contain the secret, only whether one is stored.
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { asc, eq } from "drizzle-orm";
import type { StateDb } from "../state/db.ts";
import { s3Endpoints, type S3EndpointRow } from "../state/schema/index.ts";
import {
  type ConditionalCreateMode,
  DEFAULT_MAX_REQUESTS,
  DEFAULT_REGION,
  normalizeEndpointFingerprint,
  normalizeEndpointUrl,
  type S3EndpointConfig,
  validateEndpointName,
  validateMaxRequests,
  validateRegion,
} from "./endpoint-config.ts";
import { conflict, invalid, notFound } from "./errors.ts";
import { hasEndpointSecret, readEndpointSecret, removeEndpointSecret, secretPath, writeEndpointSecret } from "./secrets.ts";

export interface EndpointInput {
  endpoint: string;
  region?: string;
  accessKeyId?: string | null;
  secretAccessKey?: string;
  pathStyle?: boolean;
  fingerprint?: string | null;
  caFile?: string | null;
  rateLimit?: number | null;
  maxRequests?: number;
  conditionalCreate?: ConditionalCreateMode;
  comment?: string | null;
}

export interface EndpointUpdate extends Partial<EndpointInput> {
  /** Forget the stored key id and secret; use the AWS default credential chain. */
  useDefaultChain?: boolean;
}

/** What list/show print: everything but the secret. */
export interface EndpointView {
  name: string;
  endpoint: string;
  region: string;
  /** `stored-key`: access key id here, secret in `secretFile`; `default-chain`: AWS SDK default chain. */
  credentials: "stored-key" | "default-chain";
  accessKeyId: string | null;
  secretStored: boolean;
  secretFile: string | null;
  pathStyle: boolean;
  fingerprint: string | null;
  caFile: string | null;
  rateLimit: number | null;
  maxRequests: number;
  conditionalCreate: ConditionalCreateMode;
  comment: string | null;
  created: string;
  updated: string;
}

function view(configDir: string, row: S3EndpointRow): EndpointView {
  const stored = row.accessKeyId !== null;
  return {
    name: row.name,
    endpoint: row.endpoint,
    region: row.region,
    credentials: stored ? "stored-key" : "default-chain",
    accessKeyId: row.accessKeyId,
    secretStored: stored && hasEndpointSecret(configDir, row.name),
    secretFile: stored ? secretPath(configDir, row.name) : null,
    pathStyle: row.pathStyle,
    fingerprint: row.fingerprint,
    caFile: row.caFile,
    rateLimit: row.rateLimit,
    maxRequests: row.maxRequests,
    conditionalCreate: row.conditionalCreate,
    comment: row.comment,
    created: new Date(row.created).toISOString(),
    updated: new Date(row.updated).toISOString(),
  };
}

function findRow(db: StateDb, name: string): S3EndpointRow | undefined {
  return db.select().from(s3Endpoints).where(eq(s3Endpoints.name, name)).get();
}

function requireRow(db: StateDb, name: string): S3EndpointRow {
  const row = findRow(db, name);
  if (!row) throw notFound(`S3 endpoint '${name}' does not exist on this node`, "see: ironcore-backup s3 endpoint list");
  return row;
}

function checkCaFile(path: string): string {
  const abs = isAbsolute(path) ? path : resolve(path);
  let pem: string;
  try {
    pem = readFileSync(abs, "utf8");
  } catch (err) {
    throw invalid(`--ca-file ${abs}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    new X509Certificate(pem);
  } catch {
    throw invalid(`--ca-file ${abs} holds no PEM certificate`, "give the CA certificate in PEM form (-----BEGIN CERTIFICATE-----)");
  }
  return abs;
}

function checkKeyId(id: string): string {
  if (!/^[\x21-\x7e]{1,128}$/.test(id)) throw invalid("--access-key-id must be 1 to 128 printable characters without spaces");
  return id;
}

export function listEndpoints(db: StateDb, configDir: string): EndpointView[] {
  return db.select().from(s3Endpoints).orderBy(asc(s3Endpoints.name)).all().map((r) => view(configDir, r));
}

export function showEndpoint(db: StateDb, configDir: string, name: string): EndpointView {
  return view(configDir, requireRow(db, name));
}

export function createEndpoint(db: StateDb, configDir: string, name: string, input: EndpointInput, now = Date.now()): EndpointView {
  validateEndpointName(name);
  if (findRow(db, name)) throw conflict(`S3 endpoint '${name}' already exists`, `change it with: ironcore-backup s3 endpoint update ${name} ...`);
  const accessKeyId = input.accessKeyId ? checkKeyId(input.accessKeyId) : null;
  if (accessKeyId && !input.secretAccessKey) throw invalid(`S3 endpoint ${name}: --access-key-id needs its secret`, "pass --secret-access-key-file FILE (or --secret-access-key)");
  if (!accessKeyId && input.secretAccessKey) throw invalid(`S3 endpoint ${name}: a secret access key was given without --access-key-id`);
  const row = {
    name,
    endpoint: normalizeEndpointUrl(input.endpoint),
    region: validateRegion(input.region ?? DEFAULT_REGION),
    accessKeyId,
    pathStyle: input.pathStyle ?? false,
    fingerprint: input.fingerprint ? normalizeEndpointFingerprint(input.fingerprint) : null,
    caFile: input.caFile ? checkCaFile(input.caFile) : null,
    rateLimit: input.rateLimit ?? null,
    maxRequests: validateMaxRequests(input.maxRequests ?? DEFAULT_MAX_REQUESTS),
    conditionalCreate: input.conditionalCreate ?? "auto",
    comment: input.comment?.trim() || null,
    created: now,
    updated: now,
  } satisfies S3EndpointRow;
  // Secret first: a row without its secret would fail at first use; a stray file is harmless.
  if (accessKeyId) writeEndpointSecret(configDir, name, input.secretAccessKey!);
  db.insert(s3Endpoints).values(row).run();
  return view(configDir, row);
}

export function updateEndpoint(db: StateDb, configDir: string, name: string, patch: EndpointUpdate, now = Date.now()): EndpointView {
  const old = requireRow(db, name);
  const next: S3EndpointRow = { ...old, updated: now };
  if (patch.endpoint !== undefined) next.endpoint = normalizeEndpointUrl(patch.endpoint);
  if (patch.region !== undefined) next.region = validateRegion(patch.region);
  if (patch.pathStyle !== undefined) next.pathStyle = patch.pathStyle;
  if (patch.fingerprint !== undefined) next.fingerprint = patch.fingerprint ? normalizeEndpointFingerprint(patch.fingerprint) : null;
  if (patch.caFile !== undefined) next.caFile = patch.caFile ? checkCaFile(patch.caFile) : null;
  if (patch.rateLimit !== undefined) next.rateLimit = patch.rateLimit;
  if (patch.maxRequests !== undefined) next.maxRequests = validateMaxRequests(patch.maxRequests);
  if (patch.conditionalCreate !== undefined) next.conditionalCreate = patch.conditionalCreate;
  if (patch.comment !== undefined) next.comment = patch.comment?.trim() || null;

  let newSecret: string | null = null;
  let dropSecret = false;
  if (patch.useDefaultChain) {
    if (patch.accessKeyId || patch.secretAccessKey) throw invalid("--default-credentials cannot be combined with --access-key-id or a secret");
    next.accessKeyId = null;
    dropSecret = true;
  } else if (patch.accessKeyId) {
    next.accessKeyId = checkKeyId(patch.accessKeyId);
    if (!patch.secretAccessKey && next.accessKeyId !== old.accessKeyId) {
      throw invalid(`S3 endpoint ${name}: a new --access-key-id needs its secret`, "pass --secret-access-key-file FILE (or --secret-access-key)");
    }
    newSecret = patch.secretAccessKey ?? null;
  } else if (patch.secretAccessKey) {
    if (!old.accessKeyId) throw invalid(`S3 endpoint ${name} uses the AWS default credential chain: give --access-key-id with the secret`);
    newSecret = patch.secretAccessKey;
  }
  if (newSecret) writeEndpointSecret(configDir, name, newSecret);
  db.update(s3Endpoints).set(next).where(eq(s3Endpoints.name, name)).run();
  if (dropSecret) removeEndpointSecret(configDir, name);
  return view(configDir, next);
}

/**
 * Removes the endpoint and its secret. `inUseBy` (the datastore registry) names the stores that
 * still use it; removal is refused while there are any.
 */
export function removeEndpoint(db: StateDb, configDir: string, name: string, opts: { inUseBy?: (endpoint: string) => string[] } = {}): EndpointView {
  const row = requireRow(db, name);
  const users = opts.inUseBy?.(name) ?? [];
  if (users.length > 0) throw conflict(`S3 endpoint ${name} is used by datastore${users.length > 1 ? "s" : ""} ${users.join(", ")}`, "remove those datastores first, or point them at another endpoint");
  const shown = view(configDir, row);
  db.delete(s3Endpoints).where(eq(s3Endpoints.name, name)).run();
  removeEndpointSecret(configDir, name);
  return shown;
}

/** The full configuration, secret included, for opening a client. Only the backend calls this. */
export function loadEndpointConfig(db: StateDb, configDir: string, name: string): S3EndpointConfig {
  const row = requireRow(db, name);
  const config: S3EndpointConfig = {
    name: row.name,
    endpoint: row.endpoint,
    region: row.region,
    accessKeyId: row.accessKeyId,
    pathStyle: row.pathStyle,
    fingerprint: row.fingerprint,
    caFile: row.caFile,
    rateLimit: row.rateLimit,
    maxRequests: row.maxRequests,
    conditionalCreate: row.conditionalCreate,
    comment: row.comment,
  };
  if (row.accessKeyId) {
    const secret = readEndpointSecret(configDir, name);
    if (secret === null) {
      throw notFound(`S3 endpoint ${name}: its secret access key file ${secretPath(configDir, name)} is missing`, `store it again: ironcore-backup s3 endpoint update ${name} --access-key-id ${row.accessKeyId} --secret-access-key-file FILE`);
    }
    // Not enumerable: a stray JSON.stringify or console.log of the config cannot print it.
    Object.defineProperty(config, "secretAccessKey", { value: secret, enumerable: false });
  }
  return config;
}
