/**
 * Reads a server's certificate without trusting it, so the client can compare its
 * fingerprint with a pin before any request is sent. Bun's fetch ignores
 * checkServerIdentity when verification is off (bun-probe.md §5), so pinning cannot be done
 * inside fetch alone: this handshake sends no application data and is closed at once.
 */
import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import tls from "node:tls";
import { IbsError } from "../util/errors.ts";
import { fingerprintOfDer } from "./fingerprint.ts";

export interface PeerCertificate {
  /** SHA-256 of the leaf, AA:BB:… */
  fingerprint: string;
  leafPem: string;
  /** The certificates the server sent or that verification found, leaf first. */
  chainPems: string[];
  subject: string;
  notAfter: string;
  selfSigned: boolean;
  /** The chain verifies against the system trust store (incl. NODE_EXTRA_CA_CERTS). */
  authorized: boolean;
  authorizationError: string | null;
  /** The certificate's SAN covers the host the client dialled. */
  coversHost: boolean;
}

export function toPem(der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
}

export function probeServerCertificate(host: string, port: number, timeoutMs = 10_000): Promise<PeerCertificate> {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: bare, port, rejectUnauthorized: false, ...(isIP(bare) ? {} : { servername: bare }) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new IbsError(`cannot connect to ${host}:${port}: no TLS handshake within ${timeoutMs / 1000} s`, 1, "check the address and port, and that the api service runs there"));
    }, timeoutMs);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      try {
        const peer = socket.getPeerCertificate(true);
        if (!peer?.raw) throw new IbsError(`server ${host}:${port} sent no certificate`);
        const chain: string[] = [];
        const seen = new Set<string>();
        for (let c: any = peer; c?.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
          seen.add(c.fingerprint256);
          chain.push(toPem(c.raw));
        }
        const x = new X509Certificate(peer.raw);
        resolve({
          fingerprint: fingerprintOfDer(peer.raw),
          leafPem: chain[0],
          chainPems: chain,
          subject: x.subject.split("\n").join(", "),
          notAfter: new Date(x.validTo).toISOString(),
          selfSigned: x.subject === x.issuer && x.verify(x.publicKey),
          authorized: socket.authorized,
          authorizationError: socket.authorizationError ? String(socket.authorizationError) : null,
          coversHost: tls.checkServerIdentity(bare, peer) === undefined,
        });
      } catch (err) {
        reject(err);
      } finally {
        socket.end();
      }
    });
    socket.once("error", (err: any) => {
      clearTimeout(timer);
      reject(new IbsError(`cannot connect to ${host}:${port}: ${err?.code ?? ""} ${err?.message ?? err}`.trim(), 1, "check the address and port, and that the api service runs there"));
    });
  });
}
