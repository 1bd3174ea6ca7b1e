/**
 * Backup (writer) sessions, docs/protocol.md "Writer (backup) session". Starting one needs
 * Datastore.Backup on the namespace; the session's own calls are bound to the auth-id that
 * started it (registry), so they need only authentication. Chunk, index and blob uploads are
 * not audited one by one (the start, finish and abort are, and the task log has the counts).
 */
import { z } from "zod";
import { startBackup } from "../../backup-server/backup-start.ts";
import { MAX_BLOB_BYTES, MAX_CHUNK_UPLOAD_BYTES, MAX_INDEX_BYTES, octets, readRawBody } from "../../backup-server/raw-body.ts";
import { sessionRegistry } from "../../backup-server/session-registry.ts";
import type { WriterSession } from "../../backup-server/writer-session.ts";
import { route, routeGroup } from "../route.ts";
import { digestParam, fileNameParam, sessionParam } from "./session-params.ts";

const session = z.strictObject({ session: sessionParam });

const use = <T>(deps: Parameters<typeof sessionRegistry>[0], id: string, authId: string, fn: (s: WriterSession) => Promise<T>) =>
  sessionRegistry(deps).use<WriterSession, T>(id, "backup", authId, fn);

export default routeGroup("backup", [
  route({
    method: "POST",
    path: "/backup",
    summary: "start a backup session (group lock, worker slot, owner and key checks)",
    access: { priv: "Datastore.Backup", path: "/datastore/{store}/{ns}" },
    body: z.strictObject({
      store: z.string().min(1).max(64),
      ns: z.string().max(512).optional(),
      backupType: z.enum(["vm", "ct", "host"]),
      backupId: z.string().min(1).max(128),
      backupTime: z.string().max(32).optional(),
      cryptMode: z.enum(["encrypt", "none"]),
      keyFingerprint: z.string().max(200).optional(),
    }),
    audit: {
      action: "backup.start",
      target: ({ body }) => `${body.store}:${body.ns ? `${body.ns}:` : ""}${body.backupType}/${body.backupId}`,
      details: ({ body }) => ({ cryptMode: body.cryptMode, keyFingerprint: body.keyFingerprint, backupTime: body.backupTime }),
    },
    handler: ({ deps, auth, body, c }) => startBackup(deps, auth!.authId, body, c.req.raw.signal),
  }),
  route({
    method: "GET",
    path: "/backup/:session/previous/:file",
    summary: "a file of the previous snapshot; an index adds its chunks to the session's known set",
    access: "authenticated",
    params: z.strictObject({ session: sessionParam, file: fileNameParam }),
    handler: async ({ deps, auth, params }) => octets(await use(deps, params.session, auth!.authId, (s) => s.previousFile(params.file))),
  }),
  route({
    method: "GET",
    path: "/backup/:session/previous-chunk/:digest",
    summary: "a chunk named by a previous-snapshot index this session downloaded",
    access: "authenticated",
    params: z.strictObject({ session: sessionParam, digest: digestParam }),
    handler: async ({ deps, auth, params }) => octets(await use(deps, params.session, auth!.authId, (s) => s.previousChunk(params.digest))),
  }),
  route({
    method: "POST",
    path: "/backup/:session/chunk/:digest",
    summary: "upload a chunk (blob bytes); the answer is the same whether the store had it or not",
    access: "authenticated",
    params: z.strictObject({ session: sessionParam, digest: digestParam }),
    audit: false,
    handler: async ({ deps, auth, params, c }) => {
      await use(deps, params.session, auth!.authId, async (s) => s.uploadChunk(params.digest, await readRawBody(c.req.raw, MAX_CHUNK_UPLOAD_BYTES, `chunk ${params.digest.slice(0, 12)}…`)));
      return {};
    },
  }),
  route({
    method: "POST",
    path: "/backup/:session/index/:name",
    summary: "upload an index (.fidx/.didx); every chunk it names must be known to the session",
    access: "authenticated",
    params: z.strictObject({ session: sessionParam, name: fileNameParam }),
    audit: false,
    handler: ({ deps, auth, params, c }) =>
      use(deps, params.session, auth!.authId, async (s) => s.uploadIndex(params.name, await readRawBody(c.req.raw, MAX_INDEX_BYTES, `index '${params.name}'`))),
  }),
  route({
    method: "POST",
    path: "/backup/:session/blob/:name",
    summary: "upload a blob file (.blob)",
    access: "authenticated",
    params: z.strictObject({ session: sessionParam, name: fileNameParam }),
    audit: false,
    handler: ({ deps, auth, params, c }) =>
      use(deps, params.session, auth!.authId, async (s) => s.uploadBlob(params.name, await readRawBody(c.req.raw, MAX_BLOB_BYTES, `blob '${params.name}'`))),
  }),
  route({
    method: "POST",
    path: "/backup/:session/finish",
    summary: "commit: the manifest (blob bytes) is written last and atomically",
    access: "authenticated",
    params: session,
    audit: { action: "backup.finish", target: ({ params }) => params.session },
    handler: ({ deps, auth, params, c }) =>
      use(deps, params.session, auth!.authId, async (s) => s.finish(await readRawBody(c.req.raw, MAX_BLOB_BYTES, "the manifest"))),
  }),
  route({
    method: "GET",
    path: "/backup/:session/watch",
    summary: "held open by the client while the session lives (a heartbeat line every 4 s); its connection closing aborts the session",
    access: "authenticated",
    params: session,
    handler: ({ deps, auth, params, c }) => sessionRegistry(deps).watch(params.session, "backup", auth!.authId, c.req.raw.signal),
  }),
  route({
    method: "DELETE",
    path: "/backup/:session",
    summary: "abort a backup session: nothing becomes visible",
    access: "authenticated",
    params: session,
    audit: { action: "backup.abort", target: ({ params }) => params.session },
    handler: async ({ deps, auth, params }) => {
      // Not through use(): an abort must work while other requests of the session are in flight.
      await sessionRegistry(deps).get<WriterSession>(params.session, "backup", auth!.authId).abort(`aborted by the client (${auth!.authId})`);
      return {};
    },
  }),
]);
