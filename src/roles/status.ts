/**
 * What `status --services` reports: for each role, what its heartbeat says, checked against
 * the process table on this host (a pid that is gone, or a heartbeat older than three
 * intervals, means the role died without a clean shutdown), and what systemd says where it runs.
 */
import { existsSync } from "node:fs";
import type { NodeConfig } from "../config/load.ts";
import type { StateDb } from "../state/db.ts";
import { roleHeartbeats } from "../state/schema/index.ts";
import { processAlive } from "../util/proc.ts";
import { ROLE_NAMES, unitName, type RoleName } from "./role.ts";

export type ServiceState = "active (running)" | "inactive (dead)" | "failed";

export interface ServiceStatus {
  service: string;
  role: RoleName;
  node: string;
  state: ServiceState;
  pid: number | null;
  version: string | null;
  /** ISO time of the last state change: start, clean stop or last heartbeat before failing. */
  since: string | null;
  lastSeen: string | null;
  reason: string | null;
  systemd?: { activeState: string; subState: string; mainPid: number } | null;
}

export function serviceStatuses(config: NodeConfig, db: StateDb, now = Date.now()): ServiceStatus[] {
  const rows = db.select().from(roleHeartbeats).all();
  const staleAfter = config.heartbeatIntervalSec * 3 * 1000;
  const systemd = systemdAvailable();
  const out: ServiceStatus[] = [];
  const nodes = [config.node, ...new Set(rows.map((r) => r.node).filter((n) => n !== config.node))];
  for (const node of nodes) {
    for (const role of ROLE_NAMES) {
      const row = rows.find((r) => r.node === node && r.role === role);
      if (!row && node !== config.node) continue;
      const base = { service: unitName(role), role, node };
      if (!row) {
        out.push({ ...base, state: "inactive (dead)", pid: null, version: null, since: null, lastSeen: null, reason: "never started" });
        continue;
      }
      const iso = (ms: number | null) => (ms ? new Date(ms).toISOString() : null);
      let state: ServiceState;
      let reason: string | null = null;
      let since = row.startedAt;
      if (row.state === "stopped") {
        state = "inactive (dead)";
        since = row.stoppedAt ?? row.lastSeen;
      } else if (row.state === "failed") {
        state = "failed";
        since = row.stoppedAt ?? row.lastSeen;
        reason = row.error;
      } else if (node === config.node && !processAlive(row.pid, row.pstart)) {
        state = "failed";
        since = row.lastSeen;
        reason = `process ${row.pid} is gone without a clean shutdown (killed or crashed)`;
      } else if (now - row.lastSeen > staleAfter) {
        state = "failed";
        since = row.lastSeen;
        reason = `no heartbeat for ${Math.round((now - row.lastSeen) / 1000)} s`;
      } else {
        state = "active (running)";
      }
      out.push({
        ...base,
        state,
        pid: state === "active (running)" ? row.pid : null,
        version: row.version,
        since: iso(since),
        lastSeen: iso(row.lastSeen),
        reason,
        ...(systemd && node === config.node ? { systemd: systemdUnit(unitName(role)) } : {}),
      });
    }
  }
  return out;
}

function systemdAvailable(): boolean {
  return existsSync("/run/systemd/system") && Bun.which("systemctl") !== null;
}

function systemdUnit(unit: string): ServiceStatus["systemd"] {
  const r = Bun.spawnSync(["systemctl", "show", "--property=ActiveState,SubState,MainPID", `${unit}.service`], { stderr: "ignore" });
  if (!r.success) return null;
  const props = Object.fromEntries(r.stdout.toString().trim().split("\n").map((l) => l.split("=", 2) as [string, string]));
  return { activeState: props.ActiveState ?? "unknown", subState: props.SubState ?? "unknown", mainPid: Number(props.MainPID ?? 0) };
}
