/**
 * `ironcore-backup cert info|update|install`: the api role's TLS certificate. The api role
 * reads the certificate at start, so `update` and `install` tell the admin to restart it.
 */
import { existsSync } from "node:fs";
import { defineCommand } from "citty";
import { createSelfSignedPair, installCertificate, readCertificateInfo, readSuppliedPair, type CertificateInfo } from "../api/tls/certificate.ts";
import { IbsError } from "../util/errors.ts";
import { withAdminSession } from "./admin-session.ts";
import { nodeArgs, nodeConfig } from "./common.ts";
import { outputFormatArg, parseOutputFormat, printResult, table } from "./output.ts";

export function renderCertificate(c: CertificateInfo): string {
  return table(
    ["certificate", c.path],
    [
      ["subject", c.subject],
      ["issuer", c.issuer + (c.selfSigned ? " (self-signed)" : "")],
      ["not before", c.notBefore],
      ["not after", c.notAfter],
      ["public key", c.publicKey],
      ["SAN", c.san.join(", ")],
      ["fingerprint", c.fingerprint],
    ],
  );
}

const RESTART = "restart the api service to serve it (systemctl restart ironcore-backup-api, or restart `ironcore-backup run all`); clients that pinned the old fingerprint will refuse it until they pin the new one";

const info = defineCommand({
  meta: { name: "info", description: "Show the API certificate: subject, validity and SHA-256 fingerprint" },
  args: { ...outputFormatArg, ...nodeArgs },
  run({ args }) {
    const config = nodeConfig(args);
    printResult(readCertificateInfo(config.tls.cert), parseOutputFormat(args["output-format"]), renderCertificate);
  },
});

const update = defineCommand({
  meta: { name: "update", description: "Make a new self-signed certificate and key (changes the fingerprint)" },
  args: { force: { type: "boolean", description: "also replace a certificate that is not self-signed (one an admin installed)", default: false }, ...outputFormatArg, ...nodeArgs },
  run: ({ args }) =>
    withAdminSession(args, async (s) => {
      const paths = s.config.tls;
      const old = existsSync(paths.cert) ? readCertificateInfo(paths.cert) : null;
      if (old && !old.selfSigned && !args.force) {
        throw new IbsError(`certificate ${paths.cert} was issued by ${old.issuer}, not self-signed: not replacing it`, 1, "pass --force to replace it with a self-signed one anyway");
      }
      const c = await s.change("cert.update", paths.cert, () => createSelfSignedPair(paths, { nodeName: s.config.node, listenHost: s.config.listen.host }), {
        old_fingerprint: old?.fingerprint ?? null,
      });
      printResult(c, parseOutputFormat(args["output-format"]), () => `${renderCertificate(c)}\n\nnew certificate written; ${RESTART}`);
    }),
});

const install = defineCommand({
  meta: { name: "install", description: "Install your own certificate (PEM, with its chain) and private key" },
  args: {
    cert: { type: "string", description: "certificate file (PEM; leaf first, then intermediates)", required: true },
    key: { type: "string", description: "private key file (PEM, unencrypted)", required: true },
    ...outputFormatArg,
    ...nodeArgs,
  },
  run: ({ args }) => {
    const supplied = readSuppliedPair(args.cert, args.key); // before the session: see readSuppliedPair
    return withAdminSession(args, async (s) => {
      const c = await s.change("cert.install", s.config.tls.cert, () => installCertificate(s.config.tls, supplied));
      printResult(c, parseOutputFormat(args["output-format"]), () => `${renderCertificate(c)}\n\ncertificate installed; ${RESTART}`);
    });
  },
});

export default defineCommand({
  meta: { name: "cert", description: "The API's TLS certificate: info, update (new self-signed), install (your own)" },
  subCommands: { info, update, install },
});
