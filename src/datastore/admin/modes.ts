/**
 * Datastore modes from the admin side. The mode is stored in the datastore's own
 * `.ibs/datastore.json` (so it travels with the disk) and enforced by the library
 * (src/datastore/datastore.ts): running roles pick a change up at their next operation.
 *
 *   online       everything allowed
 *   read-only    reads, restore and verify; no backups, prune, GC
 *   offline      nothing (e.g. before unmounting the disk)
 *   quarantined  like read-only, with a mandatory reason named in every refusal; GC refused
 *                with GC_QUARANTINE_REFUSAL. Set only by `quarantine`, left only by `release`,
 *                so a plain mode change cannot lift a quarantine by accident.
 */
import type { StateDb } from "../../state/db.ts";
import type { DatastoreMode } from "../datastore-config.ts";
import type { Datastore } from "../datastore.ts";
import { ModeError } from "../errors.ts";
import { conflict, DatastoreAdminError, invalid } from "./errors.ts";
import { withRegisteredStore } from "./open.ts";
import { requireDatastore } from "./registry.ts";

/** The modes `datastore mode` sets; quarantine has its own commands. */
export const SETTABLE_MODES = ["online", "read-only", "offline"] as const;
export type SettableMode = (typeof SETTABLE_MODES)[number];

export const GC_QUARANTINE_REFUSAL = "datastore is quarantined: do not run garbage collection until the root cause is established";
export const MAX_REASON_LENGTH = 256;

export interface ModeState {
  name: string;
  mode: DatastoreMode;
  reason: string | null;
  /** ISO 8601 time of the last mode change. */
  since: string | null;
  /** The mode before this change. */
  previous: DatastoreMode;
}

/** Thrown when GC is asked of a quarantined store; the API answers 409 `quarantined`. */
export class QuarantinedError extends ModeError {
  readonly httpStatus = 409;
  readonly code = "quarantined";
  constructor(store: string, reason: string | undefined) {
    super(GC_QUARANTINE_REFUSAL, `datastore ${store} was quarantined${reason ? ` (reason: ${reason})` : ""}; once the cause is resolved: ironcore-backup datastore release ${store}`);
    this.name = "QuarantinedError";
  }
}

/**
 * The check garbage collection calls before it marks or sweeps anything. Quarantined stores
 * are refused with GC_QUARANTINE_REFUSAL; read-only and offline stores with the library's
 * mode message (GC deletes chunks, so it is a write).
 */
export function assertGcAllowed(store: Pick<Datastore, "name" | "config" | "assert">): void {
  const { mode, mode_reason } = store.config;
  if (mode === "quarantined") throw new QuarantinedError(store.name, mode_reason);
  store.assert("write", "run garbage collection");
}

export function parseSettableMode(value: string): SettableMode {
  if ((SETTABLE_MODES as readonly string[]).includes(value)) return value as SettableMode;
  if (value === "quarantined" || value === "quarantine") {
    throw invalid("use 'datastore quarantine <name> --reason TEXT' to quarantine a datastore", "quarantine always needs a reason");
  }
  throw invalid(`unknown datastore mode '${value}'`, `choose one of: ${SETTABLE_MODES.join(", ")}`);
}

function validateReason(reason: string | undefined): string {
  const r = reason?.trim() ?? "";
  if (!r) throw invalid("quarantine needs a reason (--reason TEXT): it is shown to everyone whose write is refused");
  if (r.length > MAX_REASON_LENGTH) throw invalid(`the quarantine reason is ${r.length} characters long; the limit is ${MAX_REASON_LENGTH}`);
  if (/[\u0000-\u001f\u007f]/.test(r)) throw invalid("the quarantine reason must be one line without control characters");
  return r;
}

async function changeMode(db: StateDb, name: string, change: (store: Datastore) => Promise<DatastoreMode>): Promise<ModeState> {
  const entry = requireDatastore(db, name);
  return withRegisteredStore(entry, async (store) => {
    const previous = await change(store);
    const c = store.config;
    return { name, mode: c.mode, reason: c.mode_reason ?? null, since: c.mode_since ?? null, previous };
  }, { localOnly: true }); // a mode lives in .ibs/datastore.json: settable while an S3 store is unreachable
}

export async function setDatastoreMode(db: StateDb, name: string, mode: SettableMode, reason?: string): Promise<ModeState> {
  parseSettableMode(mode);
  const note = reason?.trim() || undefined;
  if (note && (note.length > MAX_REASON_LENGTH || /[\u0000-\u001f\u007f]/.test(note))) throw invalid(`--reason: one line of at most ${MAX_REASON_LENGTH} characters`);
  return changeMode(db, name, async (store) => {
    const previous = store.mode;
    if (previous === "quarantined") {
      throw conflict(
        `datastore ${name} is quarantined (reason: ${store.config.mode_reason ?? "none given"}): a mode change does not lift a quarantine`,
        `once the root cause is established: ironcore-backup datastore release ${name}${mode === "online" ? "" : ` --mode ${mode}`}`,
      );
    }
    await store.setMode(mode, note);
    return previous;
  });
}

export async function quarantineDatastore(db: StateDb, name: string, reason: string): Promise<ModeState> {
  const r = validateReason(reason);
  return changeMode(db, name, async (store) => {
    const previous = store.mode;
    await store.setMode("quarantined", r); // also replaces the reason of a store already quarantined
    return previous;
  });
}

/** Lifts a quarantine; the store goes `to` online (default), read-only or offline. */
export async function releaseDatastore(db: StateDb, name: string, to: SettableMode = "online"): Promise<ModeState> {
  parseSettableMode(to);
  return changeMode(db, name, async (store) => {
    const previous = store.mode;
    if (previous !== "quarantined") {
      throw new DatastoreAdminError(`datastore ${name} is not quarantined (mode ${previous})`, 409, "conflict", `to change its mode: ironcore-backup datastore mode ${name} <mode>`);
    }
    await store.setMode(to);
    return previous;
  });
}
