/**
 * `ironcore-backup datastore …`: datastores of this node (create, list, show, update, remove,
 * probe, stats, mode, quarantine, release, reindex, namespace). Thin: parse, call
 * src/datastore/admin/, print. Changes are audited like the other admin commands.
 */
import { resolve } from "node:path";
import { defineCommand } from "citty";
import {
  createDatastore,
  createNamespace,
  datastoreStats,
  listDatastoreInfo,
  listNamespaces,
  parseSettableMode,
  probeDatastore,
  probePath,
  quarantineDatastore,
  reindexDatastore,
  releaseDatastore,
  removeDatastore,
  removeNamespace,
  setDatastoreMode,
  showDatastore,
  parseCacheSize,
  updateDatastoreComment,
  type ProbeReport,
} from "../datastore/admin/index.ts";
import { ui } from "../log/logger.ts";
import { openStateDb, type StateDb } from "../state/db.ts";
import { IbsError, UsageError } from "../util/errors.ts";
import { withAdminSession } from "./admin-session.ts";
import { nodeArgs, nodeConfig } from "./common.ts";
import { renderCreate, renderList, renderMode, renderProbe, renderReindex, renderRemove, renderShow, renderStats } from "./datastore-render.ts";
import { outputFormatArg, parseOutputFormat, printResult, table } from "./output.ts";

type NodeArgs = { config?: unknown; "data-dir"?: unknown };

async function withStateDb<T>(args: NodeArgs, fn: (db: StateDb) => T | Promise<T>): Promise<T> {
  const db = openStateDb(nodeConfig(args).stateDb);
  try {
    return await fn(db);
  } finally {
    db.$client.close();
  }
}

const nameArg = { name: { type: "positional" as const, required: true as const, description: "datastore name" } };
const common = { ...outputFormatArg, ...nodeArgs };

const create = defineCommand({
  meta: {
    name: "create",
    description: "Prepare a directory as a datastore and register it (--reuse adopts an existing IBS datastore there); --backend s3 puts the content in a bucket, with .ibs/ and the chunk cache in --cache-dir",
  },
  args: {
    ...nameArg,
    path: { type: "positional", required: false, description: "absolute path of the datastore directory (empty or missing); for --backend s3 use --cache-dir" },
    comment: { type: "string", description: "free text shown in lists" },
    reuse: { type: "boolean", description: "adopt the IBS datastore that already exists at the path", default: false },
    backend: { type: "string", description: "local (default) or s3", default: "local" },
    "s3-endpoint": { type: "string", description: "S3 endpoint name (see: ironcore-backup s3 endpoint list)" },
    bucket: { type: "string", description: "bucket (must exist; IBS never creates buckets)" },
    prefix: { type: "string", description: "key prefix in the bucket (default: the datastore name; '' for the bucket root)" },
    "cache-dir": { type: "string", description: "local directory of an S3 datastore: .ibs/ (catalog, locks) and the chunk cache" },
    "cache-size": { type: "string", description: "chunk cache budget, e.g. 64GiB (default 1GiB; 0: no cache)" },
    ...common,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const s3 = args.backend === "s3";
    if (!s3 && args.backend !== "local") throw new UsageError(`--backend '${args.backend}' is unknown`, "use local (a directory) or s3 (a bucket)");
    if (s3 && (!args["s3-endpoint"] || !args.bucket || !(args["cache-dir"] ?? args.path))) {
      throw new UsageError("an S3 datastore needs --s3-endpoint, --bucket and --cache-dir", "e.g. datastore create offsite --backend s3 --s3-endpoint ceph1 --bucket ibs-offsite --cache-dir /var/cache/ironcore-backup/offsite");
    }
    if (s3 && args.path && args["cache-dir"] && args.path !== args["cache-dir"]) throw new UsageError("give the local directory of an S3 datastore once: --cache-dir");
    if (!s3 && !args.path) throw new UsageError("datastore create needs the path of the datastore directory", "e.g. datastore create store1 /srv/ibs/store1");
    if (!s3 && (args["s3-endpoint"] || args.bucket || args["cache-dir"])) throw new UsageError("--s3-endpoint, --bucket and --cache-dir are for --backend s3");
    // Not resolved here: a relative path is refused by createDatastore (exit 2), as for local stores.
    const path = (s3 ? (args["cache-dir"] ?? args.path) : args.path)!;
    const result = await withAdminSession(args, (s) =>
      s.change(
        "datastore.create",
        args.name,
        () =>
          createDatastore(s.db, {
            name: args.name,
            path,
            comment: args.comment,
            reuse: args.reuse,
            backend: s3 ? "s3" : "local",
            s3: s3
              ? {
                  endpoint: args["s3-endpoint"]!,
                  bucket: args.bucket!,
                  prefix: args.prefix,
                  cacheSize: args["cache-size"] !== undefined ? parseCacheSize(args["cache-size"]) : undefined,
                  configDir: s.config.configDir,
                  host: s.config.node,
                }
              : undefined,
          }),
        s3 ? { path, backend: "s3", endpoint: args["s3-endpoint"], bucket: args.bucket, prefix: args.prefix ?? args.name } : { path, reuse: args.reuse },
      ),
    );
    for (const w of result.warnings) ui.warn(w);
    printResult(result, format, renderCreate);
  },
});

const list = defineCommand({
  meta: { name: "list", description: "List the datastores of this node with mode and availability" },
  args: common,
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    printResult(await withStateDb(args, listDatastoreInfo), format, renderList);
  },
});

const show = defineCommand({
  meta: { name: "show", description: "Show one datastore: path, id, mode, availability" },
  args: { ...nameArg, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    printResult(await withStateDb(args, (db) => showDatastore(db, args.name)), format, renderShow);
  },
});

const update = defineCommand({
  meta: { name: "update", description: "Change a datastore's comment" },
  args: { ...nameArg, comment: { type: "string", required: true, description: "new comment ('' clears it)" }, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const r = await withAdminSession(args, (s) => s.change("datastore.update", args.name, () => updateDatastoreComment(s.db, args.name, args.comment.trim() || null)));
    printResult(r, format, (d) => `datastore ${d.name}: comment ${d.comment ? `'${d.comment}'` : "cleared"}`);
  },
});

const remove = defineCommand({
  meta: { name: "remove", description: "Unregister a datastore (refused while tasks or locks use it); --destroy-data also deletes its content" },
  args: { ...nameArg, "destroy-data": { type: "boolean", description: "delete the datastore's content too (refused while quarantined)", default: false }, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const destroyData = Boolean(args["destroy-data"]);
    const r = await withAdminSession(args, (s) => s.change("datastore.remove", args.name, () => removeDatastore(s.db, args.name, { destroyData }), { destroyData }));
    printResult(r, format, renderRemove);
  },
});

function probeFailed(r: ProbeReport): IbsError {
  const failed = r.checks.filter((c) => c.status === "fail");
  const what = r.name ? `datastore ${r.name}` : r.path;
  return new IbsError(`${what}: ${failed.length} probe check${failed.length === 1 ? "" : "s"} failed: ${failed.map((c) => `${c.check} (${c.cause ?? "failed"})`).join(", ")}`, 1, "the FAIL lines name each cause");
}

const probe = defineCommand({
  meta: { name: "probe", description: "Check that a datastore's directory is mounted, readable, writable, with free space and inodes; exits 1 on a failure" },
  args: { target: { type: "positional", required: true, description: "datastore name, or an absolute path (checks a directory without the node state)" }, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    // A path needs no state database: probing works for any user and before `create`.
    const report = args.target.includes("/") ? await probePath(resolve(args.target)) : await withStateDb(args, (db) => probeDatastore(db, args.target));
    printResult(report, format, renderProbe);
    if (!report.ok) throw probeFailed(report);
  },
});

const stats = defineCommand({
  meta: { name: "stats", description: "Filesystem size/used/available and inodes (as df -h, df -i), chunks, logical bytes, dedup factor, snapshot counts, last GC and verify" },
  args: { ...nameArg, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    printResult(await withStateDb(args, (db) => datastoreStats(db, args.name)), format, renderStats);
  },
});

const mode = defineCommand({
  meta: { name: "mode", description: "Show or set a datastore's mode: online, read-only or offline" },
  args: {
    ...nameArg,
    mode: { type: "positional", required: false, description: "online | read-only | offline (omit to show the mode)" },
    reason: { type: "string", description: "why (shown in refusals)" },
    ...common,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    if (!args.mode) {
      const d = await withStateDb(args, (db) => showDatastore(db, args.name));
      if (!d.available) throw new IbsError(d.status, 1);
      printResult({ name: d.name, mode: d.mode, reason: d.modeReason, since: d.modeSince }, format, (m) => `datastore ${m.name}: mode ${m.mode}${m.reason ? ` (reason: ${m.reason})` : ""}${m.since ? ` since ${m.since}` : ""}`);
      return;
    }
    const wanted = parseSettableMode(args.mode);
    const r = await withAdminSession(args, (s) => s.change("datastore.mode", args.name, () => setDatastoreMode(s.db, args.name, wanted, args.reason), { mode: wanted }));
    printResult(r, format, renderMode);
  },
});

const quarantine = defineCommand({
  meta: { name: "quarantine", description: "Quarantine a datastore: new writes and GC refused (naming the reason), verify and restore allowed" },
  args: { ...nameArg, reason: { type: "string", description: "why (required; shown in every refusal)" }, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const reason = args.reason ?? "";
    const r = await withAdminSession(args, (s) => s.change("datastore.quarantine", args.name, () => quarantineDatastore(s.db, args.name, reason), { reason }));
    printResult(r, format, renderMode);
  },
});

const release = defineCommand({
  meta: { name: "release", description: "Lift a datastore's quarantine (to online, or --mode read-only|offline)" },
  args: { ...nameArg, mode: { type: "string", description: "mode after the release (default online)", default: "online" }, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const to = parseSettableMode(args.mode ?? "online");
    const r = await withAdminSession(args, (s) => s.change("datastore.release", args.name, () => releaseDatastore(s.db, args.name, to), { mode: to }));
    printResult(r, format, renderMode);
  },
});

const reindex = defineCommand({
  meta: { name: "reindex", description: "Rebuild the datastore's catalog from its files; says whether the result equals the catalog it replaced" },
  args: { ...nameArg, ...common },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const r = await withAdminSession(args, (s) => s.change("datastore.reindex", args.name, () => reindexDatastore(s.db, args.name)));
    printResult(r, format, renderReindex);
  },
});

const storeArg = { store: { type: "positional" as const, required: true as const, description: "datastore name" } };
const nsArg = { ns: { type: "positional" as const, required: true as const, description: "namespace, e.g. prod or prod/web (up to 8 levels)" } };

const namespace = defineCommand({
  meta: { name: "namespace", description: "Namespaces of a datastore: create, list, remove" },
  subCommands: {
    create: defineCommand({
      meta: { name: "create", description: "Create a namespace (and its missing parents)" },
      args: { ...storeArg, ...nsArg, ...common },
      async run({ args }) {
        const format = parseOutputFormat(args["output-format"]);
        const r = await withAdminSession(args, (s) => s.change("datastore.namespace.create", `${args.store}:${args.ns}`, () => createNamespace(s.db, args.store, args.ns)));
        printResult(r, format, (c) => `namespace ${c.ns} in datastore ${c.store} ${c.changed ? "created" : "already exists"}`);
      },
    }),
    list: defineCommand({
      meta: { name: "list", description: "List the namespaces of a datastore (below an optional parent)" },
      args: { ...storeArg, parent: { type: "positional", required: false, description: "list only below this namespace" }, ...common },
      async run({ args }) {
        const format = parseOutputFormat(args["output-format"]);
        const r = await withStateDb(args, (db) => listNamespaces(db, args.store, args.parent ?? ""));
        printResult(r, format, (l) => (l.length === 0 ? "no namespaces (only the root)" : table(["NAMESPACE", "DEPTH"], l.map((n) => [n.ns, n.depth]))));
      },
    }),
    remove: defineCommand({
      meta: { name: "remove", description: "Remove an empty namespace" },
      args: { ...storeArg, ...nsArg, ...common },
      async run({ args }) {
        const format = parseOutputFormat(args["output-format"]);
        const r = await withAdminSession(args, (s) => s.change("datastore.namespace.remove", `${args.store}:${args.ns}`, () => removeNamespace(s.db, args.store, args.ns)));
        printResult(r, format, (c) => `namespace ${c.ns} removed from datastore ${c.store}`);
      },
    }),
  },
});

export default defineCommand({
  meta: { name: "datastore", description: "Datastores of this node: create, list, show, update, remove, probe, stats, mode, quarantine, release, reindex, namespace" },
  subCommands: { create, list, show, update, remove, probe, stats, mode, quarantine, release, reindex, namespace },
});
