/**
 * Decides whether to trust a server's certificate, and how fetch must be told to:
 *  1. an explicit pin (`--fingerprint` / IBS_FINGERPRINT) must match, whatever else holds;
 *  2. else a certificate that verifies against the system trust store for this host is
 *     accepted as browsers would (CA-signed certificates need no pin);
 *  3. else the fingerprint remembered in known_hosts must match;
 *  4. else the user is asked (on a terminal) and the answer is remembered; without a
 *     terminal the connection is refused with the fingerprint and how to pin it.
 * A certificate that differs from a pin is never accepted silently: the error shows both
 * fingerprints and how to update the pin.
 */
import { IbsError } from "../util/errors.ts";
import { normalizeFingerprint } from "./fingerprint.ts";
import { lookupKnownHost, rememberKnownHost } from "./known-hosts.ts";
import type { PeerCertificate } from "./tls-probe.ts";

export interface FetchTls {
  ca?: string | string[];
  checkServerIdentity?: (host: string, cert: { fingerprint256?: string }) => Error | undefined;
}

export interface Trust {
  mode: "pinned" | "ca-verified";
  fingerprint: string;
  /** Where the pin came from. */
  source: "option" | "known_hosts" | "accepted" | "system-ca";
  /** Passed to fetch as `tls`; undefined: the default verification. */
  tls: FetchTls | undefined;
}

export type ConfirmCertificate = (q: { host: string; port: number; peer: PeerCertificate; knownHostsFile: string }) => Promise<boolean>;

export class CertificateMismatchError extends IbsError {
  constructor(
    readonly server: string,
    readonly expected: string,
    readonly actual: string,
    pinSource: string,
    hint: string,
  ) {
    super(
      `server ${server} presented a certificate with fingerprint ${actual}, but ${pinSource} pins ${expected}: refusing to connect (the certificate changed, or someone is intercepting the connection)`,
      1,
      hint,
    );
    this.name = "CertificateMismatchError";
  }
}

/** fetch options that accept exactly the pinned certificate. */
export function pinnedTls(peer: PeerCertificate, fingerprint: string): FetchTls {
  if (peer.selfSigned && peer.coversHost) {
    // `ca` replaces the trust store, so only this self-signed certificate verifies; unlike
    // checkServerIdentity it keeps keep-alive connections (measured: 1 connection for 10
    // requests against 10), so it is a strict pin at full speed.
    return { ca: peer.leafPem };
  }
  const check = (_host: string, cert: { fingerprint256?: string }) =>
    cert.fingerprint256 && normalizeFingerprint(cert.fingerprint256) === fingerprint ? undefined : new Error(`certificate fingerprint ${cert.fingerprint256} is not the pinned ${fingerprint}`);
  if (peer.selfSigned) return { ca: peer.leafPem, checkServerIdentity: check };
  // A pinned CA-issued certificate: Bun cannot trust a leaf alone, so trust the top of the
  // chain the server sent and pin the leaf in checkServerIdentity.
  const top = peer.chainPems[peer.chainPems.length - 1];
  if (peer.chainPems.length < 2) {
    throw new IbsError(
      `server certificate (${peer.subject}) is CA-issued but the server sends no issuer certificate and it does not verify against the system trust store`,
      1,
      "add the issuing CA to the system trust store (or NODE_EXTRA_CA_CERTS), or make the server send its full chain in api.pem",
    );
  }
  return { ca: top, checkServerIdentity: check };
}

export interface TrustOptions {
  host: string;
  port: number;
  peer: PeerCertificate;
  /** Explicit pin (CLI option or IBS_FINGERPRINT). */
  fingerprint?: string;
  knownHostsFile: string;
  confirm?: ConfirmCertificate;
}

export async function decideTrust(o: TrustOptions): Promise<Trust> {
  const server = `${o.host}:${o.port}`;
  const actual = o.peer.fingerprint;
  if (o.fingerprint) {
    const pin = normalizeFingerprint(o.fingerprint, "--fingerprint");
    if (pin !== actual) {
      throw new CertificateMismatchError(server, pin, actual, "--fingerprint (or IBS_FINGERPRINT)",
        `check the fingerprint on the server (ironcore-backup cert info); if the new one is right, pass --fingerprint ${actual} (or set IBS_FINGERPRINT)`);
    }
    return { mode: "pinned", fingerprint: actual, source: "option", tls: pinnedTls(o.peer, actual) };
  }
  if (o.peer.authorized && o.peer.coversHost) return { mode: "ca-verified", fingerprint: actual, source: "system-ca", tls: undefined };
  const known = lookupKnownHost(o.knownHostsFile, o.host, o.port);
  if (known) {
    if (known !== actual) {
      throw new CertificateMismatchError(server, known, actual, `known_hosts (${o.knownHostsFile})`,
        `check the fingerprint on the server (ironcore-backup cert info); if the new one is right, remove the line for ${server} from ${o.knownHostsFile} and connect again to accept it, or pass --fingerprint ${actual}`);
    }
    return { mode: "pinned", fingerprint: actual, source: "known_hosts", tls: pinnedTls(o.peer, actual) };
  }
  const accepted = o.confirm ? await o.confirm({ host: o.host, port: o.port, peer: o.peer, knownHostsFile: o.knownHostsFile }) : false;
  if (!accepted) {
    throw new IbsError(
      `server ${server} presented an untrusted certificate (${o.peer.authorizationError ?? "not verifiable"}) with fingerprint ${actual}, and no pin for it is known`,
      1,
      `compare it with \`ironcore-backup cert info\` on the server, then pass --fingerprint ${actual} (or set IBS_FINGERPRINT), or connect from a terminal to accept and remember it`,
    );
  }
  rememberKnownHost(o.knownHostsFile, o.host, o.port, actual);
  return { mode: "pinned", fingerprint: actual, source: "accepted", tls: pinnedTls(o.peer, actual) };
}

/** The interactive question, ssh style, on the terminal. */
export const askOnTerminal: ConfirmCertificate = async ({ host, port, peer, knownHostsFile }) => {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return false;
  process.stderr.write(
    [
      `The certificate of server ${host}:${port} is not trusted by this system (${peer.authorizationError ?? "unverified"}).`,
      `Subject:     ${peer.subject}`,
      `Valid until: ${peer.notAfter}`,
      `Fingerprint: ${peer.fingerprint}`,
      `Compare it with \`ironcore-backup cert info\` on the server.`,
      `Accept it and remember it in ${knownHostsFile}? (y/N) `,
    ].join("\n"),
  );
  const { createInterface } = await import("node:readline");
  const rl = createInterface({ input: process.stdin });
  const answer: string = await new Promise((resolve) => rl.once("line", resolve).once("close", () => resolve("")));
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
};
