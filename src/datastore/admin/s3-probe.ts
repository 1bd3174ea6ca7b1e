/**
 * `datastore probe` of an S3 store: the S3 checks (probeS3: DNS, TCP, TLS, credentials,
 * bucket, the marker names this store's id, write/read/delete of a probe object, conditional
 * create, latency), then the local directory's checks (mounted, `.ibs/datastore.json` with the
 * registered id, writable, space), shown as `local-<check>`. One report, one line per finding.
 */
import { errorMessage } from "../../util/errors.ts";
import { probeS3 } from "../../s3/probe.ts";
import type { ProbeCheck, ProbeReport } from "./probe.ts";
import { probePath } from "./probe.ts";
import type { RegisteredDatastore } from "./registry.ts";
import { requireS3, s3EndpointOf } from "./s3-backend.ts";

export async function probeS3Datastore(entry: RegisteredDatastore): Promise<ProbeReport> {
  const s3 = requireS3(entry);
  const checks: ProbeCheck[] = [];
  let remote: ProbeReport["s3"] = { endpoint: s3.endpoint, url: "", bucket: s3.bucket, prefix: s3.prefix, marker: null, conditionalCreate: null, latencyMs: null };
  try {
    const endpoint = s3EndpointOf(entry);
    const r = await probeS3(endpoint, { bucket: s3.bucket, prefix: s3.prefix, expectedId: entry.storeId });
    checks.push(...r.checks);
    remote = { endpoint: r.endpoint, url: r.url, bucket: r.bucket, prefix: r.prefix, marker: r.marker, conditionalCreate: r.conditionalCreate, latencyMs: r.latencyMs };
  } catch (err) {
    // The endpoint's settings or secret cannot be read: nothing on the network can be checked.
    checks.push({ check: "endpoint", status: "fail", message: `S3 endpoint ${s3.endpoint}: ${errorMessage(err)}` });
  }
  const local = await probePath(entry.path, { name: entry.name, expectedId: entry.storeId });
  for (const c of local.checks) checks.push({ ...c, check: `local-${c.check}` as ProbeCheck["check"] });
  const failures = checks.filter((c) => c.status === "fail").length;
  return {
    ...local,
    ok: failures === 0,
    failures,
    warnings: checks.filter((c) => c.status === "warn").length,
    checks,
    s3: remote,
  };
}
