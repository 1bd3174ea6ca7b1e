/**
 * Restore (reader) sessions, docs/protocol.md "Reader (restore) session". Opening one needs
 * Datastore.Read on the namespace, or Datastore.Backup and ownership of the group: the router
 * cannot express "either", so the route is `authenticated` and the session code checks
 * (backup-server/ownership.ts). A session's calls are bound to the auth-id that opened it.
 */
import { z } from "zod";
import { octets } from "../../backup-server/raw-body.ts";
import { openReaderSession, type ReaderSession } from "../../backup-server/reader-session.ts";
import { sessionRegistry } from "../../backup-server/session-registry.ts";
import { route, routeGroup } from "../route.ts";
import { digestParam, fileNameParam, sessionParam } from "./session-params.ts";

const use = <T>(deps: Parameters<typeof sessionRegistry>[0], id: string, authId: string, fn: (s: ReaderSession) => Promise<T>) =>
  sessionRegistry(deps).use<ReaderSession, T>(id, "reader", authId, fn);

export default routeGroup("reader", [
  route({
    method: "POST",
    path: "/reader",
    summary: "open a restore session on a snapshot (Datastore.Read, or Datastore.Backup as the group's owner)",
    access: "authenticated",
    body: z.strictObject({ store: z.string().min(1).max(64), ns: z.string().max(512).optional(), snapshot: z.string().min(1).max(200) }),
    audit: { action: "reader.open", target: ({ body }) => `${body.store}:${body.ns ? `${body.ns}:` : ""}${body.snapshot}` },
    handler: ({ deps, auth, body }) => openReaderSession(deps, auth!.authId, body),
  }),
  route({
    method: "GET",
    path: "/reader/:session/file/:name",
    summary: "a file of the snapshot; an index adds its chunks to what the session may fetch",
    access: "authenticated",
    params: z.strictObject({ session: sessionParam, name: fileNameParam }),
    handler: async ({ deps, auth, params }) => octets(await use(deps, params.session, auth!.authId, (s) => s.file(params.name))),
  }),
  route({
    method: "GET",
    path: "/reader/:session/chunk/:digest",
    summary: "a chunk referenced by an index opened in this session",
    access: "authenticated",
    params: z.strictObject({ session: sessionParam, digest: digestParam }),
    handler: async ({ deps, auth, params }) => octets(await use(deps, params.session, auth!.authId, (s) => s.chunk(params.digest))),
  }),
  route({
    method: "GET",
    path: "/reader/:session/watch",
    summary: "held open by the client while the session lives (a heartbeat line every 4 s); its connection closing ends the session",
    access: "authenticated",
    params: z.strictObject({ session: sessionParam }),
    handler: ({ deps, auth, params, c }) => sessionRegistry(deps).watch(params.session, "reader", auth!.authId, c.req.raw.signal),
  }),
  route({
    method: "DELETE",
    path: "/reader/:session",
    summary: "close a restore session",
    access: "authenticated",
    params: z.strictObject({ session: sessionParam }),
    audit: false,
    handler: async ({ deps, auth, params }) => {
      await sessionRegistry(deps).get<ReaderSession>(params.session, "reader", auth!.authId).close();
      return {};
    },
  }),
]);
