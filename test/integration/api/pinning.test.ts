import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { connect } from "../../../src/client/http.ts";
import { CertificateMismatchError } from "../../../src/client/trust.ts";
import { adminPassword, apiFingerprint } from "../../helpers/ibs.ts";
import { cliJson, startApiNode, type ApiNode, refusal } from "./api-fixture.ts";

let node: ApiNode;
const work = mkdtempSync(join(tmpdir(), "ibs-pin-"));
beforeAll(async () => {
  node = await startApiNode();
});
afterAll(() => node.proc.kill("SIGKILL"));

const admin = () => ({ host: "127.0.0.1", port: node.port, authId: "admin@ibs", password: adminPassword(node.dir) });

/** A private CA and a server certificate it signed for 127.0.0.1, as PEM files. */
async function makeCaSignedPair(): Promise<{ ca: string; cert: string; key: string }> {
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const caKeys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const leafKeys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 86_400_000);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01", name: "CN=IBS Test CA", notBefore, notAfter, signingAlgorithm: alg, keys: caKeys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: "02", subject: "CN=localhost", issuer: ca.subject, notBefore, notAfter, signingAlgorithm: alg,
    publicKey: leafKeys.publicKey, signingKey: caKeys.privateKey,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "ip", value: "127.0.0.1" }, { type: "dns", value: "localhost" }])],
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", leafKeys.privateKey)).toString("base64");
  const files = { ca: join(work, "ca.pem"), cert: join(work, "leaf.pem"), key: join(work, "leaf.key") };
  writeFileSync(files.ca, ca.toString("pem") + "\n");
  writeFileSync(files.cert, leaf.toString("pem") + "\n" + ca.toString("pem") + "\n");
  writeFileSync(files.key, `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`, { mode: 0o600 });
  return files;
}

describe("certificate pinning against a running api role", () => {
  test("the right fingerprint connects; a wrong one is refused showing both", async () => {
    const fp = apiFingerprint(node.dir);
    const ok = await connect({ ...admin(), fingerprint: fp, knownHostsFile: join(work, "kh-a") });
    expect((await ok.get<any>("/version")).version).toMatch(/^\d+\.\d+\.\d+/);

    const wrong = fp.replace(/^../, fp.startsWith("00") ? "11" : "00");
    const err = await refusal(connect({ ...admin(), fingerprint: wrong, knownHostsFile: join(work, "kh-a") }));
    expect(err).toBeInstanceOf(CertificateMismatchError);
    expect(err.message).toContain(wrong);
    expect(err.message).toContain(fp);
  });

  test("a regenerated certificate is refused until the pin is updated (option and known_hosts)", async () => {
    const oldFp = apiFingerprint(node.dir);
    const kh = join(work, "kh-b");
    await connect({ ...admin(), env: {}, knownHostsFile: kh, confirm: async () => true });

    const r = node.cli(["cert", "update"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("restart the api service");
    await node.restart();
    const newFp = apiFingerprint(node.dir);
    expect(newFp).not.toBe(oldFp);

    const byOption = await refusal(connect({ ...admin(), fingerprint: oldFp, knownHostsFile: kh }));
    expect(byOption).toBeInstanceOf(CertificateMismatchError);
    expect(byOption.message).toContain(oldFp);
    expect(byOption.message).toContain(newFp);
    expect(byOption.hint).toContain(`--fingerprint ${newFp}`);

    let asked = false;
    const byKnownHosts = await refusal(connect({ ...admin(), env: {}, knownHostsFile: kh, confirm: async () => (asked = true) }));
    expect(byKnownHosts).toBeInstanceOf(CertificateMismatchError);
    expect(byKnownHosts.message).toContain(`known_hosts (${kh})`);
    expect(asked).toBe(false);

    const updated = await connect({ ...admin(), fingerprint: newFp, knownHostsFile: kh });
    expect((await updated.get<any[]>("/access/users")).length).toBe(1);
    expect(cliJson(node, ["audit", "list"]).some((e: any) => e.action === "cert.update" && e.authId === "root@pam")).toBe(true);
  });

  test("an installed CA-signed certificate needs no pin where the CA is trusted", async () => {
    const files = await makeCaSignedPair();
    const r = node.cli(["cert", "install", "--cert", files.cert, "--key", files.key]);
    expect(r.code).toBe(0);
    await node.restart();
    const info = cliJson(node, ["cert", "info"]);
    expect(info.issuer).toContain("IBS Test CA");
    expect(info.selfSigned).toBe(false);

    // NODE_EXTRA_CA_CERTS is read at process start, so the client runs in a process of its own.
    const script = join(work, "client.ts");
    writeFileSync(
      script,
      `import { connect } from ${JSON.stringify(resolve(import.meta.dir, "../../../src/client/http.ts"))};
       try {
         const c = await connect({ host: "127.0.0.1", port: ${node.port}, authId: "admin@ibs", password: ${JSON.stringify(adminPassword(node.dir))},
           env: {}, knownHostsFile: ${JSON.stringify(join(work, "kh-c"))}, confirm: async () => false });
         const users = await c.get("/access/users");
         console.log(JSON.stringify({ mode: c.trust.mode, users: users.length }));
       } catch (e) { console.log(JSON.stringify({ error: e.message })); }`,
    );
    const run = (env: Record<string, string>) => {
      const p = Bun.spawnSync([process.execPath, script], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
      return JSON.parse(p.stdout.toString().trim().split("\n").pop()!);
    };
    expect(run({ NODE_EXTRA_CA_CERTS: files.ca })).toEqual({ mode: "ca-verified", users: 1 });
    const untrusted = run({});
    expect(untrusted.error).toContain("untrusted certificate");
    expect(untrusted.error).toContain(info.fingerprint);
  });
});
