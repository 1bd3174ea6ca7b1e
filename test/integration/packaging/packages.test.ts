/**
 * The packages as an admin meets them: built by `bun packaging/build.ts`, linted (lintian,
 * rpmlint), installed into a Debian chroot made by debootstrap, upgraded, removed and purged;
 * the .rpm installed into a copy of that chroot with `rpm --root`. Tools that are missing make
 * the tests fail with the Debian package to install (.ci/run installs them).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROLE_NAMES } from "../../../src/roles/role.ts";
import { OWNERSHIP } from "../../../packaging/lib/layout.ts";
import { requireTool } from "../../../packaging/lib/tools.ts";
import { copyOf, inChroot, mustInChroot, ownerAndMode, spawnInChroot, startBaseSystem } from "./helpers/chroot.ts";
import { ROOT, testPackages, WORK_DIR, type TestPackages } from "./helpers/packages.ts";
import { freePort } from "../../helpers/ibs.ts";

const SERVICES = ROLE_NAMES.map((r) => `ironcore-backup-${r}.service`);
const UNITS = [...SERVICES, "ironcore-backup.target"];
const LONG = 240_000;

let base: Promise<string>;
let pkgs: TestPackages;

beforeAll(() => {
  // debootstrap downloads and unpacks while the binary and the packages build.
  try {
    base = startBaseSystem(join(WORK_DIR, "chroot"));
  } catch (err) {
    base = Promise.reject(err); // a missing tool fails the chroot tests, not the lint tests
  }
  base.catch(() => {}); // reported by the tests that await it
  pkgs = testPackages();
}, LONG);

afterAll(() => {
  // The chroot copies are ~250 MB each; the base system stays as a cache (helpers/chroot.ts).
  for (const d of ["deb-host", "rpm-host", "deb-ctrl"]) rmSync(join(WORK_DIR, d), { recursive: true, force: true });
}, LONG);

describe("lint", () => {
  test("lintian reports no errors and no warnings beyond the justified overrides", () => {
    requireTool("lintian");
    const r = Bun.spawnSync(["lintian", "--no-cfg", "--display-level", ">=warning", pkgs.deb], { stdout: "pipe", stderr: "pipe" });
    const tags = r.stdout.toString().split("\n").filter((l) => /^[EW]: /.test(l));
    expect(tags).toEqual([]);
    expect(r.exitCode).toBe(0);
  }, LONG);

  test("rpmlint reports no errors and no warnings beyond the justified filters", () => {
    requireTool("rpmlint");
    const r = Bun.spawnSync(["rpmlint", "-c", join(ROOT, "packaging", "rpm", "rpmlint.toml"), pkgs.rpm], { stdout: "pipe", stderr: "pipe" });
    const out = r.stdout.toString();
    expect(out.split("\n").filter((l) => / [EW]: /.test(l))).toEqual([]);
    expect(out).toContain("0 errors, 0 warnings");
    expect(r.exitCode).toBe(0);
  }, LONG);
});

describe("package metadata", () => {
  test("the .deb is version <version>-1 for amd64 with its dependencies and conffiles", () => {
    const field = (f: string) => Bun.spawnSync(["dpkg-deb", "-f", pkgs.deb, f]).stdout.toString().trim();
    expect(field("Version")).toBe(`${pkgs.version}-1`);
    expect(field("Architecture")).toBe("amd64");
    expect(field("Depends")).toMatch(/^libc6 \(>= 2\.\d+\), adduser, init-system-helpers/);
    const conffiles = Bun.spawnSync(["dpkg-deb", "--ctrl-tarfile", pkgs.deb]).stdout;
    const dir = join(WORK_DIR, "deb-ctrl");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    Bun.spawnSync(["tar", "-x", "-C", dir], { stdin: conffiles });
    expect(readFileSync(join(dir, "conffiles"), "utf8").trim().split("\n").sort()).toEqual(["/etc/ironcore-backup/ironcore.toml", "/etc/logrotate.d/ironcore-backup"]);
  });

  test("the .rpm is release 1 for x86_64; config is noreplace and the folders belong to the service user", () => {
    requireTool("rpm");
    const q = (fmt: string) => Bun.spawnSync(["rpm", "-qp", "--qf", fmt, pkgs.rpm], { stderr: "pipe" }).stdout.toString();
    expect(q("%{VERSION}-%{RELEASE}.%{ARCH}")).toBe(`${pkgs.version}-1.x86_64`);
    const files = new Map(
      q("[%{FILENAMES} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEMODES:octal} %{FILEFLAGS:fflags}\n]")
        .trim().split("\n").map((l) => { const [path, ...rest] = l.split(" "); return [path!, rest.join(" ").trim()] as const; }),
    );
    expect(files.get("/etc/ironcore-backup/ironcore.toml")).toBe("root:ironcore-backup 100640 cn");
    expect(files.get("/etc/logrotate.d/ironcore-backup")).toBe("root:root 100644 cn");
    expect(files.get("/usr/bin/ironcore-backup")).toBe("root:root 100755");
    for (const o of OWNERSHIP.filter((x) => x.directory)) {
      expect(files.get(o.path)).toBe(`${o.user}:${o.group} ${(0o40000 | o.mode).toString(8)}`);
    }
    for (const u of UNITS) expect(files.has(`/usr/lib/systemd/system/${u}`)).toBe(true);
  });
});

describe("bash completion", () => {
  test("completes commands, the roles of `run` and options from the binary's own help", () => {
    const script = join(ROOT, "packaging", "files", "ironcore-backup.bash");
    const complete = (...words: string[]) => {
      const r = Bun.spawnSync(["bash", "-c", `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _ironcore_backup; printf '%s\\n' "\${COMPREPLY[@]}"`, "complete", script, pkgs.binary, ...words], { stdout: "pipe", stderr: "pipe" });
      expect(r.stderr.toString()).toBe("");
      return r.stdout.toString().trim().split("\n").filter(Boolean).sort();
    };
    expect(complete("")).toEqual(expect.arrayContaining(["run", "status"]));
    expect(complete("ru")).toEqual(["run"]);
    expect(complete("run", "")).toEqual([...ROLE_NAMES, "all"].sort());
    expect(complete("run", "--config", "/etc/x", "wo")).toEqual(["worker"]);
    expect(complete("status", "--")).toEqual(expect.arrayContaining(["--services", "--output-format", "--config", "--data-dir"]));
  });
});

describe("the .deb on a Debian system (debootstrap chroot)", () => {
  let root = "";
  let owned: string[] = [];
  const calls = () => (existsSync(join(root, "tmp/systemd-calls")) ? readFileSync(join(root, "tmp/systemd-calls"), "utf8") : "");
  const dpkg = (args: string[], env: Record<string, string> = {}) => mustInChroot(root, ["dpkg", ...args], { env });
  const gone = (p: string) => !existsSync(join(root, p)) && !isSymlink(join(root, p));

  beforeAll(async () => {
    root = copyOf(await base, join(WORK_DIR, "deb-host"));
    copyFileSync(pkgs.deb, join(root, "tmp/ironcore-backup.deb"));
    // A stand-in that records which units the maintainer scripts start, stop or restart (no
    // systemd runs in a chroot); it comes first on PATH. Enabling uses the real tools.
    writeFileSync(join(root, "usr/local/sbin/deb-systemd-invoke"), `#!/bin/sh\necho "deb-systemd-invoke $*" >> /tmp/systemd-calls\n`, { mode: 0o755 });
  }, LONG);

  test("installs: binary, units enabled but not started, user, owners", () => {
    const r = dpkg(["-i", "/tmp/ironcore-backup.deb"]);
    expect(r.stderr).not.toMatch(/warning|error/i);
    expect(mustInChroot(root, ["ironcore-backup", "--version"]).stdout).toStartWith(`ironcore-backup ${pkgs.version} (commit `);

    const passwd = readFileSync(join(root, "etc/passwd"), "utf8").split("\n").find((l) => l.startsWith("ironcore-backup:"));
    expect(passwd).toMatch(/^ironcore-backup:x:\d+:\d+:[^:]*:\/var\/lib\/ironcore-backup:\/usr\/sbin\/nologin$/);
    for (const o of OWNERSHIP) expect(`${o.path} ${ownerAndMode(root, o.path)}`).toBe(`${o.path} ${o.user}:${o.group} ${o.mode.toString(8)}`);

    for (const s of SERVICES) expect(isSymlink(join(root, "etc/systemd/system/ironcore-backup.target.wants", s))).toBe(true);
    expect(isSymlink(join(root, "etc/systemd/system/multi-user.target.wants/ironcore-backup.target"))).toBe(true);
    expect(calls()).toBe(""); // no systemd running: nothing started
    // The files (not folders, which other packages share) the package owns, for the purge test.
    owned = dpkg(["-L", "ironcore-backup"]).stdout.trim().split("\n").filter((p) => !statSync(join(root, p)).isDirectory());
    expect(owned).toContain("/usr/bin/ironcore-backup");
  }, LONG);

  test("systemd-analyze verify accepts every unit; offline security exposure stays low", () => {
    const r = inChroot(root, ["/usr/bin/systemd-analyze", "verify", "--man=no", ...UNITS.map((u) => `/lib/systemd/system/${u}`)]);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
    for (const s of SERVICES) {
      const sec = mustInChroot(root, ["/usr/bin/systemd-analyze", "security", "--offline=true", "--man=no", `/lib/systemd/system/${s}`]).stdout;
      const level = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(sec)?.[1]);
      // Measured 3.2 ("OK"); the limit leaves room for small changes, not for losing the sandbox.
      expect(level <= 3.5 ? s : `${s}: exposure ${level}`).toBe(s);
    }
  }, LONG);

  test("the api role runs as the service user with the packaged config and folders; logrotate rotates its log", async () => {
    // The admin's one edit: a free loopback port, so the test never meets another server.
    const config = join(root, "etc/ironcore-backup/ironcore.toml");
    writeFileSync(config, readFileSync(config, "utf8").replace('# listen = "0.0.0.0:8007"', `listen = "127.0.0.1:${freePort()}"`));
    // As its unit starts it: the service user, UMask=0027, ExecStart=/usr/bin/ironcore-backup run api.
    const role = spawnInChroot(root, ["sh", "-c", "umask 0027 && exec /usr/bin/ironcore-backup run api --quiet"], { user: "ironcore-backup:ironcore-backup" });
    const log = join(root, "var/log/ironcore-backup/api.log");
    const deadline = Date.now() + 30_000;
    while (!(existsSync(log) && readFileSync(log, "utf8").includes("service started")) && Date.now() < deadline) {
      if (role.exitCode !== null) break;
      await Bun.sleep(100);
    }
    role.kill("SIGTERM");
    const code = await role.exited;
    const stderr = await new Response(role.stderr).text();
    const logText = existsSync(log) ? readFileSync(log, "utf8") : "(no log)";
    // One comparison that shows everything when it fails.
    expect({ code, started: logText.includes("service started"), stderr, log: logText }).toMatchObject({ code: 0, started: true, stderr: expect.not.stringMatching(/error|denied/i) });
    expect(ownerAndMode(root, "/var/log/ironcore-backup/api.log")).toBe("ironcore-backup:adm 640");
    expect(ownerAndMode(root, "/var/lib/ironcore-backup/state.db")).toBe("ironcore-backup:ironcore-backup 640");
    // It made its TLS key in the config folder, which only root and the service group enter.
    expect(ownerAndMode(root, "/etc/ironcore-backup/api.key")).toBe("ironcore-backup:ironcore-backup 600");

    mustInChroot(root, ["logrotate", "--force", "/etc/logrotate.d/ironcore-backup"]);
    expect(readFileSync(join(root, "var/log/ironcore-backup/api.log.1"), "utf8")).toContain("service started");
    expect(readFileSync(log, "utf8")).toBe("");
  }, LONG);

  test("upgrade keeps the edited config and a disabled role, and restarts only running roles", () => {
    const config = join(root, "etc/ironcore-backup/ironcore.toml");
    writeFileSync(config, readFileSync(config, "utf8").replace('# node = "backup1"', 'node = "backup1"'));
    mustInChroot(root, ["/usr/bin/systemctl", "disable", "ironcore-backup-sync.service"]);
    mkdirSync(join(root, "run/systemd/system"), { recursive: true }); // as if booted with systemd
    dpkg(["-i", "/tmp/ironcore-backup.deb"]);

    expect(readFileSync(config, "utf8")).toContain('\nnode = "backup1"');
    expect(ownerAndMode(root, "/etc/ironcore-backup/ironcore.toml")).toBe("root:ironcore-backup 640");
    expect(isSymlink(join(root, "etc/systemd/system/ironcore-backup.target.wants/ironcore-backup-sync.service"))).toBe(false);
    expect(isSymlink(join(root, "etc/systemd/system/ironcore-backup.target.wants/ironcore-backup-api.service"))).toBe(true);
    expect(calls()).toContain(`deb-systemd-invoke try-restart ${SERVICES.join(" ")}`);
    expect(calls()).not.toContain(" start ");
  }, LONG);

  test("remove stops the roles and keeps config, node state, logs and datastores", () => {
    mkdirSync(join(root, "var/lib/ironcore-backup/datastores/local/.chunks/0000"), { recursive: true });
    writeFileSync(join(root, "var/lib/ironcore-backup/datastores/local/.chunks/0000/chunk"), "backup data");
    dpkg(["-r", "ironcore-backup"]);
    expect(calls()).toContain(`deb-systemd-invoke stop ironcore-backup.target ${SERVICES.join(" ")}`);
    expect(gone("usr/bin/ironcore-backup")).toBe(true);
    expect(gone("lib/systemd/system/ironcore-backup-api.service")).toBe(true);
    for (const kept of [
      "etc/ironcore-backup/ironcore.toml",
      "var/lib/ironcore-backup/state.db",
      "var/log/ironcore-backup/api.log.1",
      "var/lib/ironcore-backup/datastores/local/.chunks/0000/chunk",
    ]) {
      expect(`${kept} ${existsSync(join(root, kept))}`).toBe(`${kept} true`);
    }
  }, LONG);

  test("purge removes config, logs, node state and unit links, and keeps the datastore", () => {
    const r = dpkg(["-P", "ironcore-backup"]);
    expect(r.stderr).toContain("kept /var/lib/ironcore-backup");
    for (const p of owned) expect(`${p} ${gone(p)}`).toBe(`${p} true`);
    for (const p of ["etc/ironcore-backup", "usr/share/doc/ironcore-backup", "var/log/ironcore-backup", "var/lib/ironcore-backup/state.db", "etc/systemd/system/ironcore-backup.target.wants", "etc/systemd/system/multi-user.target.wants/ironcore-backup.target"]) {
      expect(`${p} ${gone(p)}`).toBe(`${p} true`);
    }
    expect(readFileSync(join(root, "var/lib/ironcore-backup/datastores/local/.chunks/0000/chunk"), "utf8")).toBe("backup data");
    expect(mustInChroot(root, ["dpkg-statoverride", "--list"]).stdout).not.toContain("ironcore-backup");
    expect(inChroot(root, ["dpkg", "-s", "ironcore-backup"]).code).not.toBe(0);
  }, LONG);

  test("a fresh install starts the roles when IBS_START_ON_INSTALL=yes", () => {
    rmSync(join(root, "tmp/systemd-calls"), { force: true });
    dpkg(["-i", "/tmp/ironcore-backup.deb"], { IBS_START_ON_INSTALL: "yes" });
    expect(calls()).toContain(`deb-systemd-invoke start ironcore-backup.target ${SERVICES.join(" ")}`);
    expect(calls()).not.toContain("try-restart");
  }, LONG);
});

describe("the .rpm installed with rpm --root into a Debian chroot", () => {
  let root = "";
  const rpm = (args: string[]) => {
    // rpm runs on the host and chroots for its scriptlets; /proc is mounted for the binary.
    const r = Bun.spawnSync(["unshare", "--mount", "--propagation", "private", "sh", "-c", 'mount -t proc proc "$0/proc" && exec rpm --root "$0" "$@"', root, ...args], { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`rpm ${args.join(" ")}: exit ${r.exitCode}\n${r.stdout}${r.stderr}`);
    return r.stdout.toString() + r.stderr.toString();
  };

  beforeAll(async () => {
    root = copyOf(await base, join(WORK_DIR, "rpm-host"));
    rpm(["--initdb"]);
  }, LONG);

  test("installs: scriptlets create the user, enable the units; the unstripped binary runs", () => {
    // --nodeps: glibc and systemd are there, but Debian's dpkg database is not rpm's.
    rpm(["-i", "--nodeps", pkgs.rpm]);
    expect(mustInChroot(root, ["ironcore-backup", "--version"]).stdout).toStartWith(`ironcore-backup ${pkgs.version} (commit `);
    expect(readFileSync(join(root, "etc/passwd"), "utf8")).toMatch(/^ironcore-backup:x:\d+:\d+:Ironcore Backup services:\/var\/lib\/ironcore-backup:\/sbin\/nologin$/m);
    for (const o of OWNERSHIP) expect(`${o.path} ${ownerAndMode(root, o.path)}`).toBe(`${o.path} ${o.user}:${o.group} ${o.mode.toString(8)}`);
    for (const s of SERVICES) expect(isSymlink(join(root, "etc/systemd/system/ironcore-backup.target.wants", s))).toBe(true);
  }, LONG);

  test("erase keeps the node state and an edited config (as .rpmsave)", () => {
    const config = join(root, "etc/ironcore-backup/ironcore.toml");
    writeFileSync(config, readFileSync(config, "utf8") + "\n# edited by the admin\n");
    writeFileSync(join(root, "var/lib/ironcore-backup/state.db"), "node state");
    rpm(["-e", "--nodeps", "ironcore-backup"]);
    expect(existsSync(join(root, "usr/bin/ironcore-backup"))).toBe(false);
    expect(readFileSync(`${config}.rpmsave`, "utf8")).toContain("# edited by the admin");
    expect(readFileSync(join(root, "var/lib/ironcore-backup/state.db"), "utf8")).toBe("node state");
    expect(isSymlink(join(root, "etc/systemd/system/ironcore-backup.target.wants/ironcore-backup-api.service"))).toBe(false);
  }, LONG);
});

function isSymlink(p: string): boolean {
  return lstatSync(p, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
}
