/**
 * The packaging's own files, checked without building anything: the default config documents
 * every key the node accepts, every role gets a hardened unit, and the maintainer scripts
 * render to valid shell.
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { configSchema } from "../../../src/config/schema.ts";
import { readConfigFile } from "../../../src/config/load.ts";
import { ROLE_NAMES } from "../../../src/roles/role.ts";
import { renderScript } from "../../../packaging/lib/deb.ts";
import { buildLayout, LOG_DIR, OWNERSHIP } from "../../../packaging/lib/layout.ts";
import { readMeta } from "../../../packaging/lib/meta.ts";
import { renderUnits } from "../../../packaging/lib/units.ts";

const PACKAGING = resolve(import.meta.dir, "..", "..", "..", "packaging");
const defaultConfig = () => readFileSync(join(PACKAGING, "files", "ironcore.toml"), "utf8");

/** "section.key" for every key of the node config schema ("node" for top-level keys). */
function schemaKeys(): string[] {
  const keys: string[] = [];
  for (const [name, field] of Object.entries(configSchema.shape)) {
    const inner = "unwrap" in field && typeof field.unwrap === "function" ? field.unwrap() : field;
    if (inner && typeof inner === "object" && "shape" in inner) keys.push(...Object.keys(inner.shape as object).map((k) => `${name}.${k}`));
    else keys.push(name);
  }
  return keys;
}

/** "section.key" for every commented-out `# key = value` line of the default config. */
function commentedKeys(text: string): string[] {
  const keys: string[] = [];
  let section = "";
  for (const line of text.split("\n")) {
    const header = /^\[([a-z_]+)\]$/.exec(line);
    if (header) section = header[1]!;
    const key = /^# ([a-z_]+) = /.exec(line);
    if (key) keys.push(section ? `${section}.${key[1]}` : key[1]!);
  }
  return keys;
}

describe("default /etc/ironcore-backup/ironcore.toml", () => {
  test("documents every key of the node config, each commented out", () => {
    const text = defaultConfig();
    expect(commentedKeys(text).sort()).toEqual(schemaKeys().sort());
    // As shipped, nothing is set: every default applies.
    const dir = mkdtempSync(join(tmpdir(), "ibs-pkg-cfg-"));
    writeFileSync(join(dir, "as-shipped.toml"), text);
    expect(readConfigFile(join(dir, "as-shipped.toml"))).toEqual(configSchema.parse({}));
  });

  test("every example value is valid when uncommented", () => {
    const dir = mkdtempSync(join(tmpdir(), "ibs-pkg-cfg-"));
    const file = join(dir, "uncommented.toml");
    writeFileSync(file, defaultConfig().replace(/^# ([a-z_]+ = )/gm, "$1"));
    const parsed = readConfigFile(file);
    expect(parsed.api.listen).toBe("0.0.0.0:8007");
    expect(parsed.paths.state_dir).toBe("/var/lib/ironcore-backup");
    expect(parsed.paths.log_dir).toBe(LOG_DIR);
  });
});

describe("systemd units", () => {
  const units = renderUnits(PACKAGING);
  const unit = (name: string) => units.find((u) => u.name === name)!.text;

  test("one service per role plus the target", () => {
    expect(units.map((u) => u.name)).toEqual([...ROLE_NAMES.map((r) => `ironcore-backup-${r}.service`), "ironcore-backup.target"]);
    expect(unit("ironcore-backup.target")).toContain("WantedBy=multi-user.target");
  });

  test.each([...ROLE_NAMES])("the %s unit runs its role hardened, as the service user, restarting on failure", (role) => {
    const text = unit(`ironcore-backup-${role}.service`);
    const lines = new Set(text.split("\n"));
    for (const line of [
      `ExecStart=/usr/bin/ironcore-backup run ${role}`,
      "User=ironcore-backup",
      "Group=ironcore-backup",
      "Restart=on-failure",
      "ProtectSystem=strict",
      "NoNewPrivileges=yes",
      "PrivateTmp=yes",
      "CapabilityBoundingSet=",
      "PartOf=ironcore-backup.target",
      "WantedBy=ironcore-backup.target",
    ]) {
      expect(lines.has(line)).toBe(true);
    }
    const rw = text.split("\n").find((l) => l.startsWith("ReadWritePaths="))!.slice("ReadWritePaths=".length).split(" ");
    expect(rw).toEqual(role === "api" ? ["/var/lib/ironcore-backup", LOG_DIR, "/etc/ironcore-backup"] : ["/var/lib/ironcore-backup", LOG_DIR]);
    expect(text).not.toMatch(/@[A-Z_]+@/);
  });
});

describe("maintainer scripts and logrotate", () => {
  const meta = readMeta(resolve(PACKAGING, ".."));
  const layout = buildLayout("deb", { packagingDir: PACKAGING, binary: "/usr/bin/true", meta });

  test.each(["postinst", "prerm", "postrm"])("%s renders to valid POSIX shell naming every unit", (name) => {
    const script = renderScript(join(PACKAGING, "debian", name), layout);
    expect(script).not.toMatch(/@[A-Z_]+@/);
    for (const role of ROLE_NAMES) expect(script).toContain(`ironcore-backup-${role}.service`);
    const dir = mkdtempSync(join(tmpdir(), "ibs-pkg-sh-"));
    writeFileSync(join(dir, name), script);
    const r = Bun.spawnSync(["sh", "-n", join(dir, name)], { stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });

  test("postinst records the owner and mode of every folder the services write", () => {
    const script = renderScript(join(PACKAGING, "debian", "postinst"), layout);
    for (const o of OWNERSHIP) expect(script).toContain(`set_owner ${o.user} ${o.group} ${o.mode.toString(8).padStart(4, "0")} ${o.path}`);
  });

  test("logrotate rotates as the owner of the log folder", () => {
    const text = readFileSync(join(PACKAGING, "files", "logrotate"), "utf8");
    const logs = OWNERSHIP.find((o) => o.path === LOG_DIR)!;
    expect(text).toContain(`${LOG_DIR}/*.log {`);
    expect(text).toContain(`su ${logs.user} ${logs.group}`);
  });
});
