/** An in-process node for the backup-server unit tests: state db, one datastore, users with tokens, the API app. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { updateAcl } from "../../../src/access/acl.ts";
import { createToken } from "../../../src/access/tokens.ts";
import { createUser } from "../../../src/access/users.ts";
import { createApi, type ApiApp } from "../../../src/api/app.ts";
import { sessionRegistry } from "../../../src/backup-server/session-registry.ts";
import { loadConfig, type NodeConfig } from "../../../src/config/load.ts";
import { createDatastore } from "../../../src/datastore/admin/create.ts";
import { openServiceLog } from "../../../src/log/logger.ts";
import { openStateDb, type StateDb } from "../../../src/state/db.ts";
import type { Transport } from "./protocol-driver.ts";

export interface UnitNode {
  dir: string;
  config: NodeConfig;
  db: StateDb;
  api: ApiApp;
  storePath: string;
  /** A user with a token `<name>@ibs!t` (no privilege separation) holding the roles. */
  user(name: string, grants: { path: string; role: string }[], opts?: { password?: boolean }): Promise<Transport>;
  /** The user itself (password login, ticket and CSRF token), after user(..., { password: true }) made it. */
  asUser(name: string): Promise<Transport>;
  close(): Promise<void>;
}

export async function unitNode(opts: { slots?: number; queueTimeoutSec?: number; sessionTimeoutSec?: number; stores?: string[] } = {}): Promise<UnitNode> {
  const dir = mkdtempSync(join(tmpdir(), "ibs-bsrv-"));
  const base = loadConfig({ dataDir: dir });
  const config: NodeConfig = {
    ...base,
    node: "testnode",
    worker: { slots: opts.slots ?? 2, queueTimeoutSec: opts.queueTimeoutSec ?? 600 },
    backup: { sessionTimeoutSec: opts.sessionTimeoutSec ?? 600 },
  };
  const db = openStateDb(config.stateDb);
  for (const name of opts.stores ?? ["store1"]) await createDatastore(db, { name, path: join(dir, "stores", name) });
  const log = openServiceLog(config.logDir, "api");
  const api = createApi({ config, db, log, ticketKey: Buffer.alloc(32, 7) });
  return {
    dir,
    config,
    db,
    api,
    storePath: join(dir, "stores", "store1"),
    async user(name, grants, opts = {}) {
      const userid = `${name}@ibs`;
      await createUser(db, opts.password ? { userid, password: PASSWORD } : { userid });
      for (const g of grants) updateAcl(db, { path: g.path, authId: userid, role: g.role, propagate: true });
      const { secret } = createToken(db, `${userid}!t`, { privsep: false });
      return inProcess(api, `${userid}!t`, secret);
    },
    async asUser(name) {
      const r = await api.app.request("/api/v1/access/ticket", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: `${name}@ibs`, password: PASSWORD }),
      });
      if (!r.ok) throw new Error(`login of ${name}@ibs failed: ${await r.text()}`);
      const { ticket, CSRFPreventionToken } = (await r.json()) as { ticket: string; CSRFPreventionToken: string };
      return transport(api, { cookie: `IBSAuthCookie=${encodeURIComponent(ticket)}`, CSRFPreventionToken });
    },
    async close() {
      await sessionRegistry({ db, config, log }).closeAll("test ended");
      log.close();
      db.$client.close();
    },
  };
}

const PASSWORD = "correct horse battery staple";

export function inProcess(api: ApiApp, tokenid: string, secret: string): Transport {
  return transport(api, { authorization: `IBSAPIToken=${tokenid}:${secret}` });
}

function transport(api: ApiApp, auth: Record<string, string>): Transport {
  return (method, path, body) => {
    const headers: Record<string, string> = { ...auth };
    let payload: Uint8Array | string | undefined;
    if (body instanceof Uint8Array) {
      headers["content-type"] = "application/octet-stream";
      payload = body;
    } else if (body !== undefined) {
      headers["content-type"] = "application/json";
      payload = JSON.stringify(body);
    }
    return Promise.resolve(api.app.request(`/api/v1${path}`, { method, headers, body: payload }));
  };
}

export { sessionRegistry };
