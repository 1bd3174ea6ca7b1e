import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { firstStartBanner } from "../../../src/cli/banner.ts";
import { loadConfig } from "../../../src/config/load.ts";
import { adminPassword, apiClient, apiFetch, apiFingerprint } from "../../helpers/ibs.ts";
import { cliJson, startApiNode, type ApiNode, refusal } from "./api-fixture.ts";

let node: ApiNode;
beforeAll(async () => {
  node = await startApiNode();
});
afterAll(() => node.proc.kill("SIGKILL"));

describe("first start of the api role", () => {
  test("makes a certificate, a key and an admin password file, all private where they must be", () => {
    const mode = (f: string) => statSync(join(node.dir, f)).mode & 0o777;
    expect(mode("api.key")).toBe(0o600);
    expect(mode("ticket.key")).toBe(0o600);
    expect(mode("initial-admin-password")).toBe(0o600);
    expect(adminPassword(node.dir)).toMatch(/^[A-Za-z0-9]{24}$/);
    expect(readFileSync(join(node.dir, "api.pem"), "utf8")).toStartWith("-----BEGIN CERTIFICATE-----");
  });

  test("logs the SHA-256 fingerprint that `cert info` shows and the server presents; never the password", () => {
    const fp = apiFingerprint(node.dir);
    const log = readFileSync(join(node.dir, "log", "api.log"), "utf8");
    const lines = log.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.find((l) => l.msg === "TLS certificate")?.fingerprint).toBe(fp);
    expect(lines.find((l) => l.msg === "listening")?.url).toBe(`https://127.0.0.1:${node.port}`);
    expect(log).not.toContain(adminPassword(node.dir));

    const info = cliJson(node, ["cert", "info"]);
    expect(info.fingerprint).toBe(fp);
    expect(info.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(info.san).toContain("IP Address:127.0.0.1");
    expect(Date.parse(info.notAfter) - Date.now()).toBeGreaterThan(9 * 365 * 86_400_000);
    const text = node.cli(["cert", "info"]).stdout;
    for (const word of ["subject", "not before", "not after", "fingerprint", fp]) expect(text).toContain(word);
  });

  test("serves HTTPS only: plain HTTP on the port gets no API answer", async () => {
    const plain = await fetch(`http://127.0.0.1:${node.port}/api/v1/version`).then((r) => r.status, (e) => String(e?.code ?? e));
    expect(plain).not.toBe(200);
  });

  test("unauthenticated requests get 401 in the one error shape", async () => {
    const r = await apiFetch(node.dir, node.port, "/api/v1/access/users");
    expect(r.status).toBe(401);
    const body = (await r.json()) as any;
    expect(body.error.code).toBe("unauthorized");
    expect(Object.keys(body.error).sort()).toEqual(["code", "details", "message"]);
  });

  test("admin@ibs logs in with the initial password; `user passwd` changes it and removes the file", async () => {
    const admin = await apiClient(node.dir, node.port);
    const users = await admin.get<{ userid: string }[]>("/access/users");
    expect(users.map((u) => u.userid)).toEqual(["admin@ibs"]);
    const old = adminPassword(node.dir);

    const r = node.cli(["user", "passwd", "admin@ibs", "--password-stdin"], { stdin: "a-new-admin-password\n" });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("initial password file was removed");
    expect(existsSync(join(node.dir, "initial-admin-password"))).toBe(false);

    const refused = await refusal(apiClient(node.dir, node.port, { authId: "admin@ibs", password: old }));
    expect(refused.status).toBe(401);
    const again = await apiClient(node.dir, node.port, { authId: "admin@ibs", password: "a-new-admin-password" });
    expect((await again.get<any>("/access/permissions")).privileges).toContain("Permissions.Modify");
  });

  test("the console showed the password; the banner shows the https URL, fingerprint and password file", async () => {
    const fp = apiFingerprint(node.dir);
    const { code, stderr } = await node.stop();
    expect(code).toBe(0);
    expect(stderr).toMatch(/Password:\s+[A-Za-z0-9]{24}/);
    expect(stderr).toContain(join(node.dir, "initial-admin-password"));
    // `run` prints the banner through consola; read it from the function itself.
    writeFileSync(join(node.dir, "initial-admin-password"), "x\n", { mode: 0o600 });
    const banner = firstStartBanner(loadConfig({ dataDir: node.dir }));
    expect(banner).toContain(`https://127.0.0.1:${node.port}/api/v1/version`);
    expect(banner).toContain(fp);
    expect(banner).toContain(`initial password in ${join(node.dir, "initial-admin-password")}`);
  });
});
