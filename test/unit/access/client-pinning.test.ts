/**
 * The client's trust decisions and its TLS options, against a real TLS server in this
 * process (the end-to-end runs against `run api` are in test/integration/api/).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSelfSigned } from "../../../src/api/tls/certificate.ts";
import { connect } from "../../../src/client/http.ts";
import { forgetKnownHost, hostKey, lookupKnownHost, readKnownHosts, rememberKnownHost } from "../../../src/client/known-hosts.ts";
import { probeServerCertificate } from "../../../src/client/tls-probe.ts";
import { CertificateMismatchError, decideTrust } from "../../../src/client/trust.ts";

let server: ReturnType<typeof Bun.serve>;
let fingerprint: string;
let tlsPair: { cert: string; key: string };
const dir = mkdtempSync(join(tmpdir(), "ibs-client-"));

beforeAll(async () => {
  const { certPem, keyPem } = await generateSelfSigned({ commonName: "test", dns: ["localhost"], ips: ["127.0.0.1"] });
  tlsPair = { cert: certPem, key: keyPem };
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: certPem, key: keyPem },
    // Answers with the client's source port: one port for many requests means one connection.
    fetch: (req, srv) => Response.json({ port: srv.requestIP(req)?.port, auth: req.headers.get("authorization") }),
  });
  fingerprint = (await probeServerCertificate("127.0.0.1", server.port!)).fingerprint;
});
afterAll(() => server.stop(true));

const base = () => ({ host: "127.0.0.1", port: server.port!, authId: "u@ibs!t", secret: "s3cret-value-0123456789" });

describe("connect()", () => {
  test("the right pin connects and keeps one keep-alive connection (ca-only pin, SAN covers the host)", async () => {
    const client = await connect({ ...base(), fingerprint: fingerprint.toLowerCase(), knownHostsFile: join(dir, "kh1") });
    expect(client.trust).toMatchObject({ mode: "pinned", source: "option" });
    expect(client.trust.tls?.checkServerIdentity).toBeUndefined();
    const ports = new Set<number>();
    for (let i = 0; i < 8; i++) ports.add(((await client.get("/x")) as any).port);
    expect(ports.size).toBe(1);
    expect(((await client.get("/x")) as any).auth).toBe("IBSAPIToken=u@ibs!t:s3cret-value-0123456789");
  });

  test("a wrong pin refuses before any request, showing both fingerprints and what to do", async () => {
    const wrong = "AA:" + fingerprint.slice(3);
    const err = await connect({ ...base(), fingerprint: wrong, knownHostsFile: join(dir, "kh2") }).catch((e: any) => e);
    expect(err).toBeInstanceOf(CertificateMismatchError);
    expect(err.message).toContain(wrong);
    expect(err.message).toContain(fingerprint);
    expect(err.hint).toContain(`--fingerprint ${fingerprint}`);
  });

  test("IBS_FINGERPRINT is the pin when no option is given", async () => {
    const err = await connect({ ...base(), env: { IBS_FINGERPRINT: "00".repeat(32), HOME: dir }, knownHostsFile: join(dir, "kh3") }).catch((e: any) => e);
    expect(err).toBeInstanceOf(CertificateMismatchError);
    const ok = await connect({ ...base(), env: { IBS_FINGERPRINT: fingerprint, HOME: dir }, knownHostsFile: join(dir, "kh3") });
    expect(ok.trust.fingerprint).toBe(fingerprint);
  });

  test("an unknown self-signed certificate: refused without a terminal, remembered once accepted", async () => {
    const kh = join(dir, "kh4");
    const refused = await connect({ ...base(), env: {}, knownHostsFile: kh, confirm: async () => false }).catch((e: any) => e);
    expect(refused.message).toContain(`fingerprint ${fingerprint}`);
    expect(refused.hint).toContain("--fingerprint");

    let asked = 0;
    const accepted = await connect({ ...base(), env: {}, knownHostsFile: kh, confirm: async () => (asked++, true) });
    expect(accepted.trust.source).toBe("accepted");
    expect(statSync(kh).mode & 0o777).toBe(0o600);
    expect(lookupKnownHost(kh, "127.0.0.1", server.port!)).toBe(fingerprint);
    const again = await connect({ ...base(), env: {}, knownHostsFile: kh, confirm: async () => (asked++, true) });
    expect(again.trust.source).toBe("known_hosts");
    expect(asked).toBe(1);
  });

  test("a remembered fingerprint that no longer matches is refused, never re-asked", async () => {
    const kh = join(dir, "kh5");
    rememberKnownHost(kh, "127.0.0.1", server.port!, "11".repeat(32));
    const err = await connect({ ...base(), env: {}, knownHostsFile: kh, confirm: async () => true }).catch((e: any) => e);
    expect(err).toBeInstanceOf(CertificateMismatchError);
    expect(err.message).toContain("11:11:11");
    expect(err.message).toContain(fingerprint);
    expect(err.hint).toContain(kh);
    expect(lookupKnownHost(kh, "127.0.0.1", server.port!)).toBe("11".repeat(32).match(/../g)!.join(":"));
  });

  test("errors from the server carry its message, code and status", async () => {
    const s = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: tlsPair,
      fetch: () => Response.json({ error: { code: "forbidden", message: "permission check failed: Sys.Audit on /system is required", details: {} } }, { status: 403 }),
    });
    try {
      const c = await connect({ ...base(), port: s.port!, fingerprint, knownHostsFile: join(dir, "kh6") });
      const err: any = await c.get("/system").catch((e: unknown) => e);
      expect(err.status).toBe(403);
      expect(err.code).toBe("forbidden");
      expect(err.message).toContain("permission check failed: Sys.Audit on /system is required");
    } finally {
      s.stop(true);
    }
  });
});

describe("trust decisions", () => {
  const peer = (over: object = {}) => ({
    fingerprint: "AB".repeat(32).match(/../g)!.join(":"),
    leafPem: "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
    chainPems: ["leaf"],
    subject: "CN=x",
    notAfter: "2036-01-01T00:00:00.000Z",
    selfSigned: true,
    authorized: false,
    authorizationError: "DEPTH_ZERO_SELF_SIGNED_CERT",
    coversHost: true,
    ...over,
  });

  test("a CA-verified certificate needs no pin; a pin still has to match it", async () => {
    const kh = join(dir, "kh7");
    const ca = await decideTrust({ host: "h", port: 1, peer: peer({ authorized: true, selfSigned: false, authorizationError: null }), knownHostsFile: kh });
    expect(ca).toMatchObject({ mode: "ca-verified", tls: undefined });
    await expect(decideTrust({ host: "h", port: 1, peer: peer({ authorized: true }), fingerprint: "CD".repeat(32), knownHostsFile: kh })).rejects.toThrow(CertificateMismatchError);
  });

  test("a SAN that does not cover the host falls back to a fingerprint check per connection", async () => {
    const t = await decideTrust({ host: "h", port: 1, peer: peer({ coversHost: false }), fingerprint: "AB".repeat(32), knownHostsFile: join(dir, "kh8") });
    expect(typeof t.tls?.checkServerIdentity).toBe("function");
    expect(t.tls!.checkServerIdentity!("h", { fingerprint256: t.fingerprint })).toBeUndefined();
    expect(t.tls!.checkServerIdentity!("h", { fingerprint256: "CD".repeat(32).match(/../g)!.join(":") })).toBeInstanceOf(Error);
  });

  test("known_hosts keeps one line per server and survives junk lines", () => {
    const kh = join(dir, "kh9");
    rememberKnownHost(kh, "Backup.Example", 8007, "ab".repeat(32));
    rememberKnownHost(kh, "fd00::1", 8007, "cd".repeat(32));
    rememberKnownHost(kh, "backup.example", 8007, "ef".repeat(32));
    writeFileSync(kh, readFileSync(kh, "utf8") + "garbage line\n");
    expect([...readKnownHosts(kh).keys()]).toEqual(["backup.example:8007", "[fd00::1]:8007"]);
    expect(lookupKnownHost(kh, "BACKUP.example", 8007)).toStartWith("EF:EF");
    expect(hostKey("[FD00::1]", 8007)).toBe("[fd00::1]:8007");
    expect(forgetKnownHost(kh, "backup.example", 8007)).toBe(true);
    expect(lookupKnownHost(kh, "backup.example", 8007)).toBeUndefined();
  });
});
