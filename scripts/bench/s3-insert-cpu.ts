/**
 * Benchmark (not a test): our own CPU per chunk insert into an S3 datastore backend, against
 * s3rver on loopback (run by Bun, so that it answers quickly), for both create paths:
 * `PUT If-None-Match: *` (stores that honour it) and HEAD, create lock, PUT (stores that
 * ignore it, as s3rver does). It is what the server spends per new chunk of a backup beyond a
 * local store's file write (docs/benchmarks.md, S3 section, session 6).
 *
 *   bun scripts/bench/s3-insert-cpu.ts [inserts=400] [chunk KiB=400]
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openS3Backend } from "../../src/datastore/backends/s3.ts";
import { s3EndpointConfig, S3RVER_KEY, startS3rver } from "../../test/helpers/s3.ts";

const inserts = Number(process.argv[2] ?? 400);
const chunkKiB = Number(process.argv[3] ?? 400);
if (!Number.isInteger(inserts) || inserts < 8 || !Number.isInteger(chunkKiB) || chunkKiB < 1) {
  console.error("usage: bun scripts/bench/s3-insert-cpu.ts [inserts >= 8] [chunk KiB >= 1]");
  process.exit(2);
}
const IN_FLIGHT = 8;
const s3 = await startS3rver({ runtime: "bun" });
const cacheDirs: string[] = [];
try {
  await s3.createBucket("insert-cpu");
  const blob = randomBytes(chunkKiB * 1024);
  // The first round warms up (JIT, connections); the second of each path is the one to read.
  for (const mode of ["off", "on", "off", "on"] as const) {
    const cacheDir = mkdtempSync(join(tmpdir(), "ibs-insert-cpu-"));
    cacheDirs.push(cacheDir);
    const endpoint = { ...s3EndpointConfig(s3.endpoint, { name: `cpu-${mode}`, conditionalCreate: mode }), secretAccessKey: S3RVER_KEY };
    const backend = await openS3Backend(endpoint, "insert-cpu", `p-${randomBytes(4).toString("hex")}`, { cacheDir, cacheSize: 0 });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < inserts; i += IN_FLIGHT) {
      await Promise.all(
        Array.from({ length: Math.min(IN_FLIGHT, inserts - i) }, () => {
          const digest = randomBytes(32).toString("hex");
          return backend.putIfAbsent(`.chunks/${digest.slice(0, 4)}/${digest}`, blob);
        }),
      );
    }
    const cpu = process.cpuUsage(cpu0);
    const path = mode === "on" ? "PUT If-None-Match" : "HEAD + create lock + PUT";
    console.log(`${path.padEnd(26)} ${inserts} x ${chunkKiB} KiB: ${(((cpu.user + cpu.system) / 1000) / inserts).toFixed(3)} ms CPU per insert (user ${(cpu.user / 1000 / inserts).toFixed(3)}, system ${(cpu.system / 1000 / inserts).toFixed(3)}), ${((performance.now() - t0) / inserts).toFixed(2)} ms wall`);
    await backend.close();
  }
} finally {
  await s3.stop();
  for (const d of cacheDirs) rmSync(d, { recursive: true, force: true });
}
