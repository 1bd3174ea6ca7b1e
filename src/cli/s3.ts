/**
 * `ironcore-backup s3 endpoint create|list|show|update|remove|probe`: the S3 endpoints of this
 * node. Thin: parse, call src/s3/, print. The secret access key is read from a file or stdin
 * (or, as the issue's examples do, from `--secret-access-key`, which shows it in `ps` and the
 * shell history: the file is better), stored in a 0600 file, and never printed or audited.
 */
import { readFileSync } from "node:fs";
import { defineCommand } from "citty";
import { ui } from "../log/logger.ts";
import { openStateDb } from "../state/db.ts";
import { IbsError, UsageError } from "../util/errors.ts";
import type { EndpointInput, EndpointUpdate, EndpointView } from "../s3/endpoints.ts";
import type { S3ProbeReport } from "../s3/probe.ts";
import { withAdminSession } from "./admin-session.ts";
import { nodeArgs, nodeConfig } from "./common.ts";
import { outputFormatArg, parseOutputFormat, printResult, table } from "./output.ts";

const common = { ...outputFormatArg, ...nodeArgs };
const nameArg = { name: { type: "positional" as const, required: true as const, description: "endpoint name (3-32 letters, digits, . _ -)" } };

const settingArgs = {
  region: { type: "string" as const, description: "region (default us-east-1; some stores want 'default' or 'auto')" },
  "access-key-id": { type: "string" as const, description: "access key id (without it: the AWS default chain: env, ~/.aws, instance role)" },
  "secret-access-key": { type: "string" as const, description: "secret access key (visible in ps and shell history: prefer --secret-access-key-file)" },
  "secret-access-key-file": { type: "string" as const, description: "read the secret access key from this file ('-' for stdin)" },
  "path-style": { type: "boolean" as const, description: "address buckets as https://host/bucket (MinIO, Ceph, most self-hosted stores)" },
  fingerprint: { type: "string" as const, description: "pin the endpoint's certificate by its SHA-256 fingerprint (self-signed endpoints)" },
  "ca-file": { type: "string" as const, description: "PEM file of the CA that signs the endpoint's certificate" },
  "rate-limit": { type: "string" as const, description: "bandwidth per direction and process, e.g. 50MiB (per second)" },
  "max-requests": { type: "string" as const, description: "requests in flight per process (default 32)" },
  "conditional-create": { type: "string" as const, description: "auto (detect), on, off: whether the store honours PUT If-None-Match" },
  comment: { type: "string" as const, description: "free text shown in lists" },
};

type SettingArgs = { [K in keyof typeof settingArgs]?: string | boolean };

async function readSecret(args: SettingArgs): Promise<string | undefined> {
  const inline = args["secret-access-key"];
  const file = args["secret-access-key-file"];
  if (typeof inline === "string" && typeof file === "string") throw new UsageError("give either --secret-access-key or --secret-access-key-file, not both");
  if (typeof inline === "string") return inline;
  if (typeof file !== "string") return undefined;
  try {
    const text = file === "-" ? await new Response(Bun.stdin.stream()).text() : readFileSync(file, "utf8");
    const secret = text.replace(/\r?\n$/, "");
    if (!secret) throw new UsageError(`--secret-access-key-file ${file} is empty`);
    return secret;
  } catch (err) {
    if (err instanceof IbsError) throw err;
    throw new UsageError(`--secret-access-key-file ${file}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

async function settingsFrom(args: SettingArgs): Promise<Partial<EndpointInput>> {
  const c = await import("../s3/endpoint-config.ts");
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  const out: Partial<EndpointInput> = {};
  if (str(args.region) !== undefined) out.region = str(args.region);
  if (str(args["access-key-id"]) !== undefined) out.accessKeyId = str(args["access-key-id"]);
  const secret = await readSecret(args);
  if (secret !== undefined) out.secretAccessKey = secret;
  if (typeof args["path-style"] === "boolean") out.pathStyle = args["path-style"];
  if (str(args.fingerprint) !== undefined) out.fingerprint = str(args.fingerprint) || null;
  if (str(args["ca-file"]) !== undefined) out.caFile = str(args["ca-file"]) || null;
  const rate = str(args["rate-limit"]);
  if (rate !== undefined) out.rateLimit = rate === "" || rate === "none" ? null : c.parseRate(rate);
  const max = str(args["max-requests"]);
  if (max !== undefined) out.maxRequests = c.validateMaxRequests(Number(max));
  const cond = str(args["conditional-create"]);
  if (cond !== undefined) out.conditionalCreate = c.parseConditionalCreate(cond);
  if (str(args.comment) !== undefined) out.comment = str(args.comment) || null;
  return out;
}

function formatRate(bytes: number | null): string {
  if (bytes === null) return "unlimited";
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}/s per direction`;
}

export function renderEndpoint(e: EndpointView): string {
  const rows: [string, string][] = [
    ["name", e.name],
    ["endpoint", e.endpoint],
    ["region", e.region],
    ["addressing", e.pathStyle ? "path style (host/bucket)" : "virtual-hosted (bucket.host)"],
    ["credentials", e.credentials === "default-chain" ? "AWS default chain (env, shared config, instance role)" : `access key id ${e.accessKeyId}, secret ${e.secretStored ? `stored in ${e.secretFile}` : `MISSING (${e.secretFile})`}`],
    ["tls", e.fingerprint ? `pinned fingerprint ${e.fingerprint}` : e.caFile ? `CA file ${e.caFile}` : "system trust store"],
    ["rate limit", formatRate(e.rateLimit)],
    ["max requests", String(e.maxRequests)],
    ["conditional create", e.conditionalCreate],
    ["comment", e.comment ?? "-"],
    ["created", e.created],
    ["updated", e.updated],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n");
}

function renderList(list: EndpointView[]): string {
  if (list.length === 0) return "no S3 endpoints (create one: ironcore-backup s3 endpoint create <name> --endpoint https://...)";
  return table(
    ["NAME", "ENDPOINT", "REGION", "CREDENTIALS", "COMMENT"],
    list.map((e) => [e.name, e.endpoint, e.region, e.credentials === "default-chain" ? "default chain" : `${e.accessKeyId}${e.secretStored ? "" : " (secret missing)"}`, e.comment ?? ""]),
  );
}

const STATUS_LABEL = { ok: "OK", warn: "WARN", fail: "FAIL", skip: "SKIP" } as const;

export function renderS3Probe(r: S3ProbeReport, head = `probe of S3 endpoint ${r.endpoint} (${r.url}), bucket ${r.bucket}${r.prefix ? `, prefix ${r.prefix}` : ""}`): string {
  const width = Math.max(...r.checks.map((c) => c.check.length));
  const lines = r.checks.map((c) => `${STATUS_LABEL[c.status].padEnd(4)}  ${c.check.padEnd(width)}  ${c.message}`);
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
  return [head, ...lines, `result: ${r.ok ? "OK" : "FAILED"} (${plural(r.failures, "failure")}, ${plural(r.warnings, "warning")})`].join("\n");
}

function warnPlainHttp(view: EndpointView): void {
  const url = new URL(view.endpoint);
  if (url.protocol === "http:" && !/^(localhost|127\.|\[::1\])/.test(url.hostname)) ui.warn(`endpoint ${view.name} uses plain HTTP: data and metadata travel unencrypted`);
}

const create = defineCommand({
  meta: { name: "create", description: "Add an S3 endpoint (the secret goes into a 0600 file under the config dir)" },
  args: { ...nameArg, endpoint: { type: "string", required: true, description: "https://host[:port]" }, ...settingArgs, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const input = { ...(await settingsFrom(args)), endpoint: args.endpoint } as EndpointInput;
    const { createEndpoint } = await import("../s3/endpoints.ts");
    const view = await withAdminSession(args, (s) =>
      s.change("s3.endpoint.create", args.name, () => createEndpoint(s.db, s.config.configDir, args.name, input), { endpoint: args.endpoint, accessKeyId: input.accessKeyId ?? null }),
    );
    warnPlainHttp(view);
    printResult(view, format, (v) => `created S3 endpoint ${v.name} (${v.endpoint}); check it with: ironcore-backup s3 endpoint probe ${v.name} --bucket <bucket>`);
  },
});

const list = defineCommand({
  meta: { name: "list", description: "List the S3 endpoints (secrets are never shown)" },
  args: common,
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const { listEndpoints } = await import("../s3/endpoints.ts");
    const config = nodeConfig(args);
    const db = openStateDb(config.stateDb);
    try {
      printResult(listEndpoints(db, config.configDir), format, renderList);
    } finally {
      db.$client.close();
    }
  },
});

const show = defineCommand({
  meta: { name: "show", description: "Show one S3 endpoint (whether a secret is stored, never the secret)" },
  args: { ...nameArg, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const { showEndpoint } = await import("../s3/endpoints.ts");
    const config = nodeConfig(args);
    const db = openStateDb(config.stateDb);
    try {
      printResult(showEndpoint(db, config.configDir, args.name), format, renderEndpoint);
    } finally {
      db.$client.close();
    }
  },
});

const update = defineCommand({
  meta: { name: "update", description: "Change settings or credentials of an S3 endpoint" },
  args: {
    ...nameArg,
    endpoint: { type: "string", description: "https://host[:port]" },
    ...settingArgs,
    "default-credentials": { type: "boolean", description: "forget the stored key; use the AWS default chain" },
    ...common,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const patch: EndpointUpdate = { ...(await settingsFrom(args)) };
    if (typeof args.endpoint === "string") patch.endpoint = args.endpoint;
    if (args["default-credentials"]) patch.useDefaultChain = true;
    const { updateEndpoint } = await import("../s3/endpoints.ts");
    const changed = Object.keys(patch).map((k) => (k === "secretAccessKey" ? "secret" : k));
    const view = await withAdminSession(args, (s) => s.change("s3.endpoint.update", args.name, () => updateEndpoint(s.db, s.config.configDir, args.name, patch), { changed }));
    warnPlainHttp(view);
    printResult(view, format, (v) => `updated S3 endpoint ${v.name}: ${changed.join(", ") || "nothing changed"}`);
  },
});

const remove = defineCommand({
  meta: { name: "remove", description: "Remove an S3 endpoint and its stored secret" },
  args: { ...nameArg, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const { removeEndpoint } = await import("../s3/endpoints.ts");
    const { datastoresOnEndpoint } = await import("../datastore/admin/index.ts");
    const view = await withAdminSession(args, (s) =>
      s.change("s3.endpoint.remove", args.name, () =>
        removeEndpoint(s.db, s.config.configDir, args.name, { inUseBy: (e) => datastoresOnEndpoint(s.db, e) })));
    printResult(view, format, (v) => `removed S3 endpoint ${v.name}${v.secretFile ? ` and its secret file ${v.secretFile}` : ""}`);
  },
});

const probe = defineCommand({
  meta: { name: "probe", description: "Check an endpoint and a bucket: DNS, TCP, TLS, credentials, bucket, marker, write/read/delete; exits 1 on a failure" },
  args: {
    ...nameArg,
    bucket: { type: "string", required: true, description: "bucket to check" },
    prefix: { type: "string", description: "key prefix inside the bucket (a datastore's prefix)" },
    "read-only": { type: "boolean", description: "do not write the probe object" },
    ...common,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const { loadEndpointConfig } = await import("../s3/endpoints.ts");
    const { probeS3 } = await import("../s3/probe.ts");
    const config = nodeConfig(args);
    const db = openStateDb(config.stateDb);
    let endpoint;
    try {
      endpoint = loadEndpointConfig(db, config.configDir, args.name);
    } finally {
      db.$client.close();
    }
    const report = await probeS3(endpoint, { bucket: args.bucket, prefix: args.prefix ?? "", write: !args["read-only"] });
    printResult(report, format, (r) => renderS3Probe(r));
    if (!report.ok) {
      const failed = report.checks.filter((c) => c.status === "fail");
      throw new IbsError(`S3 endpoint ${args.name}, bucket ${args.bucket}: ${failed.map((c) => `${c.check} (${c.cause ?? "failed"})`).join(", ")} failed`, 1, "the FAIL lines name each cause");
    }
  },
});

const endpoint = defineCommand({
  meta: { name: "endpoint", description: "S3 endpoints: create, list, show, update, remove, probe" },
  subCommands: { create, list, show, update, remove, probe },
});

export default defineCommand({
  meta: { name: "s3", description: "S3-compatible object stores for datastores" },
  subCommands: { endpoint },
});
