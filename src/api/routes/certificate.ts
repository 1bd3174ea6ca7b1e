/** The node's TLS certificate as clients see it (subject, validity, fingerprint to pin). */
import { readCertificateInfo } from "../tls/certificate.ts";
import { route, routeGroup } from "../route.ts";

export default routeGroup("certificate", [
  route({
    method: "GET",
    path: "/system/certificate",
    summary: "the API's TLS certificate: subject, SAN, validity, SHA-256 fingerprint",
    access: { priv: "Sys.Audit", path: "/system/certificates" },
    handler: ({ deps }) => readCertificateInfo(deps.config.tls.cert),
  }),
]);
