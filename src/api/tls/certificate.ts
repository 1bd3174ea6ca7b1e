/**
 * The api role's TLS certificate: `api.pem` (certificate, maybe followed by its chain) and
 * `api.key` (private key, 0600) in the config dir, or wherever `[tls]` in the node config
 * points. On first start the node makes a self-signed ECDSA P-256 certificate valid for ten
 * years (a pinned certificate that expires locks every client out, so it lives long), whose
 * SAN lists the host names and addresses a client may dial. An admin may install a
 * CA-signed pair instead (`cert install`); its chain then verifies without a pin.
 *
 * Reading (info, fingerprint) uses node:crypto; only generation loads @peculiar/x509, lazily,
 * because it costs ~70 ms of start-up.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { hostname, networkInterfaces } from "node:os";
import { dirname } from "node:path";
import { isIP } from "node:net";
import { fingerprintOfDer } from "../../client/fingerprint.ts";
import { IbsError } from "../../util/errors.ts";

export interface CertPaths {
  cert: string;
  key: string;
}

export interface CertificateInfo {
  path: string;
  subject: string;
  issuer: string;
  selfSigned: boolean;
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the leaf, AA:BB:… */
  fingerprint: string;
  san: string[];
  publicKey: string;
  serial: string;
}

export const CERT_VALID_DAYS = 3650;

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM file, leaf first. */
export function splitPemChain(pem: string): string[] {
  return pem.match(PEM_CERT) ?? [];
}

function leafOf(pem: string, where: string): X509Certificate {
  const first = splitPemChain(pem)[0];
  if (!first) throw new IbsError(`certificate ${where}: no PEM certificate in the file`, 1, "the file must start with -----BEGIN CERTIFICATE-----");
  try {
    return new X509Certificate(first);
  } catch (err) {
    throw new IbsError(`certificate ${where}: cannot parse it: ${(err as Error).message}`);
  }
}

export function certificateInfoFromPem(pem: string, path: string): CertificateInfo {
  const c = leafOf(pem, path);
  const details = c.publicKey.asymmetricKeyDetails ?? {};
  const type = c.publicKey.asymmetricKeyType ?? "unknown";
  const publicKey =
    type === "ec" ? `EC ${details.namedCurve === "prime256v1" ? "P-256" : details.namedCurve}` : type === "rsa" ? `RSA ${details.modulusLength}` : type;
  return {
    path,
    subject: c.subject.split("\n").join(", "),
    issuer: c.issuer.split("\n").join(", "),
    selfSigned: c.subject === c.issuer && c.verify(c.publicKey),
    notBefore: new Date(c.validFrom).toISOString(),
    notAfter: new Date(c.validTo).toISOString(),
    fingerprint: fingerprintOfDer(c.raw),
    san: (c.subjectAltName ?? "").split(/,\s*/).filter(Boolean),
    publicKey,
    serial: c.serialNumber,
  };
}

export function readCertificateInfo(path: string): CertificateInfo {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (err: any) {
    const why = err?.code === "ENOENT" ? "does not exist (the api role creates it at first start)" : err?.message;
    throw new IbsError(`certificate ${path}: ${why}`);
  }
  return certificateInfoFromPem(pem, path);
}

/** Refuses a key that does not belong to the certificate, naming both files. */
export function checkKeyPair(certPem: string, keyPem: string, where: CertPaths): void {
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new IbsError(`private key ${where.key}: cannot parse it: ${(err as Error).message}`, 1, "expected an unencrypted PEM private key");
  }
  if (!leafOf(certPem, where.cert).checkPrivateKey(key)) {
    throw new IbsError(`private key ${where.key} does not belong to certificate ${where.cert}`, 1, "install the key that was made with this certificate, or run `ironcore-backup cert update` for a new self-signed pair");
  }
}

/** The names and addresses the certificate should be valid for. */
export function defaultSubjectNames(nodeName: string, listenHost?: string): { dns: string[]; ips: string[] } {
  const dns = new Set<string>(["localhost"]);
  const ips = new Set<string>(["127.0.0.1", "::1"]);
  const host = hostname();
  for (const n of [host, host.split(".")[0], nodeName]) if (n && !isIP(n)) dns.add(n.toLowerCase());
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      // Link-local addresses need a zone id and are never dialled by a backup client.
      if (!a.address.startsWith("fe80:")) ips.add(a.address);
    }
  }
  if (listenHost && listenHost !== "0.0.0.0" && listenHost !== "::") (isIP(listenHost) ? ips : dns).add(listenHost);
  return { dns: [...dns], ips: [...ips] };
}

export async function generateSelfSigned(opts: { commonName: string; dns: string[]; ips: string[]; days?: number }): Promise<{ certPem: string; keyPem: string }> {
  // @peculiar/x509 uses tsyringe, which needs the Reflect metadata API loaded first.
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f; // a positive serial number, as RFC 5280 asks
  const notBefore = new Date(Date.now() - 60_000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Buffer.from(serial).toString("hex"),
    name: `CN=${opts.commonName.replace(/[,=+<>#;"\\]/g, "_")}, O=Ironcore Backup, OU=${crypto.randomUUID()}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (opts.days ?? CERT_VALID_DAYS) * 86_400_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...opts.dns.map((value) => ({ type: "dns" as const, value })),
        ...opts.ips.map((value) => ({ type: "ip" as const, value })),
      ]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey)).toString("base64");
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join("\n")}\n-----END PRIVATE KEY-----\n`;
  return { certPem: cert.toString("pem") + "\n", keyPem };
}

function writeAtomic(path: string, data: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** Writes the key (0600) before the certificate, so a certificate on disk always has its key. */
export function writeCertificatePair(paths: CertPaths, certPem: string, keyPem: string): void {
  writeAtomic(paths.key, keyPem, 0o600);
  writeAtomic(paths.cert, certPem, 0o644);
}

export interface NodeCertOptions {
  nodeName: string;
  listenHost?: string;
}

export async function createSelfSignedPair(paths: CertPaths, opts: NodeCertOptions): Promise<CertificateInfo> {
  const names = defaultSubjectNames(opts.nodeName, opts.listenHost);
  const { certPem, keyPem } = await generateSelfSigned({ commonName: hostname() || opts.nodeName, ...names });
  writeCertificatePair(paths, certPem, keyPem);
  return certificateInfoFromPem(certPem, paths.cert);
}

/**
 * What the api role serves: the existing pair if there is one (checked to belong together),
 * otherwise a new self-signed pair. A certificate without its key (or the reverse) is an
 * error, never silently replaced: the admin may have installed it.
 */
export async function ensureCertificate(paths: CertPaths, opts: NodeCertOptions): Promise<{ info: CertificateInfo; certPem: string; keyPem: string; created: boolean }> {
  const haveCert = existsSync(paths.cert);
  const haveKey = existsSync(paths.key);
  let created = false;
  if (!haveCert && !haveKey) {
    await createSelfSignedPair(paths, opts);
    created = true;
  } else if (!haveCert || !haveKey) {
    const missing = haveCert ? paths.key : paths.cert;
    throw new IbsError(`TLS ${haveCert ? "key" : "certificate"} ${missing} is missing (the other file exists)`, 1,
      "restore the file, install a pair with `ironcore-backup cert install`, or run `ironcore-backup cert update` for a new self-signed pair");
  }
  const certPem = readFileSync(paths.cert, "utf8");
  const keyPem = readFileSync(paths.key, "utf8");
  checkKeyPair(certPem, keyPem, paths);
  return { info: certificateInfoFromPem(certPem, paths.cert), certPem, keyPem, created };
}

/** An admin-supplied certificate (with its chain) and key, as read from their files. */
export interface SuppliedPair {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

/**
 * Reads the files of `cert install`. Separate from installing: the command reads them as the
 * user who ran it (root may own them, as /etc/letsencrypt), before it continues as the node's
 * service user to write the node's files (util/state-owner.ts).
 */
export function readSuppliedPair(certFile: string, keyFile: string): SuppliedPair {
  const read = (f: string, what: string) => {
    try {
      return readFileSync(f, "utf8");
    } catch (err) {
      throw new IbsError(`${what} ${f}: cannot read it: ${(err as Error).message}`);
    }
  };
  return { certFile, keyFile, certPem: read(certFile, "certificate"), keyPem: read(keyFile, "private key") };
}

/** Installs an admin-supplied certificate (with its chain) and key, after checking they match. */
export function installCertificate(paths: CertPaths, { certFile, keyFile, certPem, keyPem }: SuppliedPair): CertificateInfo {
  const info = certificateInfoFromPem(certPem, certFile);
  checkKeyPair(certPem, keyPem, { cert: certFile, key: keyFile });
  if (Date.parse(info.notAfter) <= Date.now()) throw new IbsError(`certificate ${certFile} expired on ${info.notAfter}`);
  writeCertificatePair(paths, splitPemChain(certPem).join("\n") + "\n", keyPem);
  return { ...info, path: paths.cert };
}
