/**
 * Garbage collection and verification over the API: the same checks, refusals and reports as
 * `ironcore-backup gc start|status` and `verify start|status` (src/maintenance/start-request.ts,
 * status-report.ts). A start queues a task for the gc or verifier role and answers with its
 * UPID at once; the status routes show what runs, the last result and the next scheduled job.
 *
 * Privileges follow PBS: starting GC changes the store (Datastore.Modify on /datastore/<store>);
 * verification needs Datastore.Verify on the store, or on the namespace it is limited to; the
 * status routes show what `datastore stats` already shows to Datastore.Audit.
 */
import { z } from "zod";
import { requireDatastore } from "../../datastore/admin/index.ts";
import { StartOptionError, startGc, startVerify, verifyStartOptions, type StartOptionValues } from "../../maintenance/start-request.ts";
import { gcStatusReport, verifyStoreStatus } from "../../maintenance/status-report.ts";
import type { TaskRow } from "../../state/schema/index.ts";
import { taskEnv } from "../../tasks/env.ts";
import { taskStateOf } from "../../tasks/task-info.ts";
import type { ApiDeps } from "../app.ts";
import { ApiError } from "../errors.ts";
import { route, routeGroup } from "../route.ts";
import { namespaceSchema, onStore, storeParams } from "./datastore-params.ts";

const STORE = "/datastore/{store}";
const storeTarget = ({ params }: { params: { store: string } }) => params.store;

/** What a start answers: the task's UPID (follow it with `task log --follow`) and its state. */
function started(row: TaskRow): { upid: string; state: string } {
  return { upid: row.upid, state: taskStateOf(row) };
}

/** A bad option found by the shared checks, as the router's 400 naming the body field. */
async function withOptionErrors<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof StartOptionError)) throw err;
    const field = `body.${err.option}`;
    throw new ApiError(400, "invalid_request", `${field}: ${err.reason}`, { field, ...(err.hint ? { hint: err.hint } : {}) });
  }
}

const env = (deps: ApiDeps) => taskEnv(deps.config, deps.db);

const gcBody = z.strictObject({
  // Checked by gcStartOptions (whole, not negative), so the CLI and the API say the same.
  "grace-seconds": z.number().optional(),
});

/**
 * JSON types here; the values are then checked by the verify task's own parser (through
 * verifyStartOptions), issue by issue on the field at fault, so a job, `verify start` and this
 * route accept exactly the same options.
 */
const verifyBody = z
  .strictObject({
    ns: namespaceSchema.optional(),
    snapshot: z.string().optional(),
    "ignore-verified": z.boolean().optional(),
    "outdated-after": z.number().optional(),
    "verify-window-days": z.number().optional(),
    "max-concurrent-snapshots": z.number().optional(),
    "notification-mode": z.string().optional(),
  })
  .superRefine((body, ctx) => {
    try {
      verifyStartOptions(body as StartOptionValues);
    } catch (err) {
      if (!(err instanceof StartOptionError)) throw err;
      ctx.addIssue({ code: "custom", path: [err.option], message: err.hint ? `${err.reason} (${err.hint})` : err.reason });
    }
  });

export default routeGroup("datastore maintenance", [
  route({
    method: "POST",
    path: "/datastore/:store/gc",
    summary: "start garbage collection (a task of the gc role); answers with the UPID; refused on a quarantined, read-only or offline store",
    access: { priv: "Datastore.Modify", path: STORE },
    params: storeParams,
    body: gcBody,
    audit: { action: "datastore.gc", target: storeTarget, details: ({ body }) => ({ ...body }) },
    handler: ({ deps, params, body, auth }) =>
      onStore(deps.db, params.store, () =>
        withOptionErrors(async () => started(await startGc(env(deps), { store: params.store, authId: auth!.authId, options: body }))),
      ),
  }),
  route({
    method: "GET",
    path: "/datastore/:store/gc",
    summary: "garbage collection of a store: running phase and progress, queued tasks, last result (removed, pending, errors), next scheduled run",
    access: { priv: "Datastore.Audit", path: STORE },
    params: storeParams,
    handler: ({ deps, params }) => onStore(deps.db, params.store, () => gcStatusReport(env(deps), requireDatastore(deps.db, params.store))),
  }),
  route({
    method: "POST",
    path: "/datastore/:store/verify",
    summary: "start verification of a store, a namespace (ns) or one snapshot (a task of the verifier role); answers with the UPID",
    access: { priv: "Datastore.Verify", path: "/datastore/{store}/{ns}" },
    params: storeParams,
    body: verifyBody,
    audit: { action: "datastore.verify", target: storeTarget, details: ({ body }) => ({ ...body }) },
    handler: ({ deps, params, body, auth }) =>
      onStore(deps.db, params.store, () => withOptionErrors(() => started(startVerify(env(deps), { store: params.store, authId: auth!.authId, options: body })))),
  }),
  route({
    method: "GET",
    path: "/datastore/:store/verify",
    summary: "verification of a store: running tasks, last result (snapshots verified/failed/skipped, bad chunks), next scheduled run",
    access: { priv: "Datastore.Audit", path: STORE },
    params: storeParams,
    handler: ({ deps, params }) => verifyStoreStatus(env(deps), requireDatastore(deps.db, params.store)),
  }),
]);
