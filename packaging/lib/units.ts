/**
 * The systemd units: one service per role, rendered from one template so the hardening is the
 * same everywhere, and the target that groups them. Role names come from the code that runs
 * them (src/roles/role.ts), so a new role gets a unit without touching the packaging.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROLE_NAMES, unitName, type RoleName } from "../../src/roles/role.ts";

export const TARGET_UNIT = "ironcore-backup.target";

/** What each role does, for the unit's Description= (systemctl status shows it). */
const ROLE_SUMMARIES: Record<RoleName, string> = {
  api: "HTTPS API for backup clients, administrators and remotes",
  scheduler: "starts gc, verify, prune, sync and tape jobs at their calendar times",
  worker: "runs backup, restore and maintenance tasks in bounded worker slots",
  verifier: "verifies snapshots and the chunks they reference",
  gc: "garbage collection of chunks no snapshot references",
  sync: "replicates datastores to and from remotes",
  notify: "delivers notifications to their targets",
};

/** Paths a role may write besides the node state and logs, and why (written into the unit). */
const EXTRA_WRITABLE: Partial<Record<RoleName, { paths: string[]; why: string }>> = {
  api: { paths: ["/etc/ironcore-backup"], why: "The api role writes its TLS certificate and key to /etc/ironcore-backup on first start." },
};

export interface UnitFile {
  name: string;
  text: string;
}

export function serviceUnitNames(): string[] {
  return ROLE_NAMES.map((r) => `${unitName(r)}.service`);
}

/** Every unit the packages install: the seven role services, then the target. */
export function renderUnits(packagingDir: string): UnitFile[] {
  const template = readFileSync(join(packagingDir, "units", "role.service.in"), "utf8");
  const services = ROLE_NAMES.map((role) => {
    const name = `${unitName(role)}.service`;
    const extra = EXTRA_WRITABLE[role];
    const text = fill(template, {
      ROLE: role,
      UNIT: name,
      SUMMARY: ROLE_SUMMARIES[role],
      EXTRA_RW: extra ? ` ${extra.paths.join(" ")}` : "",
      EXTRA_RW_WHY: extra ? `\n# ${extra.why}` : "",
    });
    return { name, text };
  });
  return [...services, { name: TARGET_UNIT, text: readFileSync(join(packagingDir, "units", TARGET_UNIT), "utf8") }];
}

/** Replaces @KEY@ placeholders; a placeholder left without a value is a packaging bug. */
export function fill(template: string, values: Record<string, string>): string {
  const out = template.replace(/@([A-Z_]+)@/g, (whole, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`template placeholder ${whole} has no value`);
    return v;
  });
  return out;
}
