/**
 * Benchmark (not a test): backup and restore of a ~200 MiB tree to an S3 datastore (s3rver on
 * loopback, no chunk cache, so every restore read goes to the store) beside the local store of
 * the same `run all` node. Prints throughput S3/local and requests per GiB stored.
 *
 *   bun scripts/bench/s3-vs-local.ts [MiB]
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { ibsBinary } from "../../test/helpers/ibs.ts";
import { S3RVER_KEY, startS3rver, uniqueBucket } from "../../test/helpers/s3.ts";
import { diffTrees, startBackupNode } from "../../test/integration/backup/backup-fixture.ts";

const MIB = 1024 * 1024;
const total = Number(process.argv[2] ?? 200) * MIB;

async function run(args: string[], env: Record<string, string>): Promise<string> {
  const p = Bun.spawn([ibsBinary(), ...args], { env: { ...process.env, NO_COLOR: "1", ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${args.join(" ")}: exit ${code}: ${err}`);
  return out;
}

const s3 = await startS3rver();
const node = await startBackupNode();
try {
  const bucket = uniqueBucket("bench");
  await s3.createBucket(bucket);
  const admin = (args: string[]) => run([...args, "--data-dir", node.dir], {});
  await admin(["s3", "endpoint", "create", "loop", "--endpoint", s3.endpoint, "--access-key-id", S3RVER_KEY, "--secret-access-key", S3RVER_KEY, "--path-style"]);
  await admin(["datastore", "create", "offsite", "--backend", "s3", "--s3-endpoint", "loop", "--bucket", bucket, "--cache-dir", join(node.dir, "cache"), "--cache-size", "0"]);

  // 3/4 incompressible, 1/4 compressible text, in files of 1..8 MiB.
  const src = join(node.dir, "src");
  fs.mkdirSync(src);
  let made = 0;
  for (let i = 0; made < total; i++) {
    const size = Math.min(total - made, (1 + (i % 8)) * MIB);
    const data = i % 4 === 3 ? Buffer.from(`line ${i} of some compressible text, repeated\n`.repeat(Math.ceil(size / 40))).subarray(0, size) : Buffer.from(crypto.getRandomValues(new Uint8Array(size)));
    fs.writeFileSync(join(src, `f${i}.bin`), data);
    made += size;
  }

  const results: Record<string, { backupS: number; restoreS: number }> = {};
  for (const store of ["local", "offsite"]) {
    const env = { ...node.env, IBS_REPOSITORY: `admin@ibs@127.0.0.1:${node.port}:${store}` };
    const before = JSON.parse(await admin(["datastore", "stats", store, "--output-format", "json"]));
    let t = performance.now();
    const s = JSON.parse(await run(["backup", `root.ibsar:${src}`, "--crypt-mode", "none", "--backup-type", "host", "--backup-id", "bench", "--output-format", "json"], env));
    const backupS = (performance.now() - t) / 1000;
    const out = join(node.dir, `restored-${store}`);
    t = performance.now();
    await run(["restore", s.snapshot, "root.ibsar", out], env);
    const restoreS = (performance.now() - t) / 1000;
    if (diffTrees(src, out).length > 0) throw new Error(`${store}: restored tree differs`);
    results[store] = { backupS, restoreS };
    if (store === "offsite") {
      await Bun.sleep(6000); // the server flushes its counters every 5 s
      const after = JSON.parse(await admin(["datastore", "stats", store, "--output-format", "json"]));
      const stored = after.content.storedBytes / 1024 ** 3;
      const req = (k: string) => after.s3.requests[k].requests - (before.s3?.requests[k].requests ?? 0);
      console.log(`stored ${(after.content.storedBytes / MIB).toFixed(1)} MiB in ${after.content.chunks} chunks`);
      console.log(`requests (backup + restore): ${["PUT", "GET", "HEAD", "LIST", "DELETE"].map((k) => `${k} ${req(k)}`).join(", ")}; per GiB stored: ${["PUT", "GET", "HEAD"].map((k) => `${k} ${(req(k) / stored).toFixed(0)}`).join(", ")}`);
    }
  }
  const mibps = (s: number) => (total / MIB / s).toFixed(0);
  for (const [store, r] of Object.entries(results)) console.log(`${store}: backup ${r.backupS.toFixed(2)} s (${mibps(r.backupS)} MiB/s), restore ${r.restoreS.toFixed(2)} s (${mibps(r.restoreS)} MiB/s)`);
  console.log(`S3/local throughput: backup ${(results.local!.backupS / results.offsite!.backupS).toFixed(2)}, restore ${(results.local!.restoreS / results.offsite!.restoreS).toFixed(2)}`);
} finally {
  await node.stop();
  await s3.stop();
}
