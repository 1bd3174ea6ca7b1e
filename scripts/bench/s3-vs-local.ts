/**
 * Benchmark (not a test): backup and restore of a ~200 MiB tree to an S3 datastore (s3rver on
 * loopback, no chunk cache, so every restore read is a GET) beside the local store of the same
 * `run all` node. Prints throughput S3/local, requests per GiB stored, and where the CPU went.
 *
 *   bun scripts/bench/s3-vs-local.ts [MiB] [rounds]
 *
 * Each round writes a fresh tree (new random bytes, a round tag in the text files, so that no
 * chunk of an earlier round deduplicates), then backs it up and restores it to the local
 * store and to the S3 store, in alternating order (local first in odd rounds), so that both
 * stores see the same drift in machine load. Restored trees are compared with the source.
 *
 * Per phase it prints the CPU seconds of the server (`run all`), of the S3 server and of the
 * client process, and the 1-minute load average: on a shared 2-core machine a ratio only means
 * something next to them. IBS_TEST_BIN runs another binary (e.g. a build of another tree).
 *
 * Another S3-compatible server instead of s3rver (path style):
 *   IBS_BENCH_S3_ENDPOINT=http://127.0.0.1:9000 IBS_BENCH_S3_KEY=... IBS_BENCH_S3_SECRET=...
 *   IBS_BENCH_S3_BUCKET=existing-bucket IBS_BENCH_S3_PID=<its pid, for its CPU> bun scripts/bench/s3-vs-local.ts
 * Without IBS_BENCH_S3_BUCKET a fresh bucket is created with an unsigned PUT (s3rver-like servers).
 * IBS_BENCH_S3_ENDPOINT=memory runs an in-memory S3 stand-in inside this process instead
 * (startMemoryS3 below): what the IBS side costs when the store costs almost nothing.
 */
import * as fs from "node:fs";
import { join } from "node:path";
import { ibsBinary } from "../../test/helpers/ibs.ts";
import { S3RVER_KEY, startS3rver, uniqueBucket } from "../../test/helpers/s3.ts";
import { diffTrees, startBackupNode } from "../../test/integration/backup/backup-fixture.ts";

const MIB = 1024 * 1024;
const total = Number(process.argv[2] ?? 200) * MIB;
const rounds = Number(process.argv[3] ?? 1);
const TICK = 100; // USER_HZ: /proc CPU times are in 1/100 s

/** utime + stime of a live process, in seconds (0 when it is gone); this process: the memory store's. */
function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  if (pid === process.pid) return (process.cpuUsage().user + process.cpuUsage().system) / 1e6;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / TICK;
  } catch {
    return 0;
  }
}

const load1 = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0]!;

interface Phase {
  seconds: number;
  serverCpu: number;
  storeCpu: number;
  clientCpu: number;
  load: string;
}

async function run(args: string[], env: Record<string, string>): Promise<{ out: string; cpu: number }> {
  const p = Bun.spawn([ibsBinary(), ...args], { env: { ...process.env, NO_COLOR: "1", ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${args.join(" ")}: exit ${code}: ${err}`);
  const usage = p.resourceUsage();
  return { out, cpu: usage ? Number(usage.cpuTime.total) / 1e6 : 0 };
}

function makeTree(dir: string, tag: string): void {
  // 3/4 incompressible, 1/4 compressible text, in files of 1..8 MiB.
  fs.mkdirSync(dir);
  let made = 0;
  for (let i = 0; made < total; i++) {
    const size = Math.min(total - made, (1 + (i % 8)) * MIB);
    const data = i % 4 === 3 ? Buffer.from(`line ${i} of round ${tag}: some compressible text, repeated\n`.repeat(Math.ceil(size / 40))).subarray(0, size) : Buffer.from(crypto.getRandomValues(new Uint8Array(size)));
    fs.writeFileSync(join(dir, `f${i}.bin`), data);
    made += size;
  }
}

const memory = process.env.IBS_BENCH_S3_ENDPOINT === "memory" ? startMemoryS3() : null;
const external = memory?.endpoint ?? process.env.IBS_BENCH_S3_ENDPOINT;
const s3 = external
  ? {
      endpoint: external,
      async createBucket(name: string) {
        const r = await fetch(`${external}/${name}`, { method: "PUT" });
        if (!r.ok) throw new Error(`create bucket ${name} on ${external}: ${r.status} (set IBS_BENCH_S3_BUCKET to an existing bucket)`);
      },
      async stop() {
        memory?.stop();
      },
    }
  : await startS3rver();
const storeName = memory ? "memory store" : external ? "store" : "s3rver";
const node = await startBackupNode();
try {
  const s3pid = memory ? process.pid : external ? Number(process.env.IBS_BENCH_S3_PID ?? 0) || undefined : "pid" in s3 ? s3.pid : undefined;
  const bucket = process.env.IBS_BENCH_S3_BUCKET ?? uniqueBucket("bench");
  if (!process.env.IBS_BENCH_S3_BUCKET) await s3.createBucket(bucket);
  const admin = async (args: string[]) => (await run([...args, "--data-dir", node.dir], {})).out;
  const accessKey = process.env.IBS_BENCH_S3_KEY ?? S3RVER_KEY;
  const secretKey = process.env.IBS_BENCH_S3_SECRET ?? S3RVER_KEY;
  await admin(["s3", "endpoint", "create", "loop", "--endpoint", s3.endpoint, "--access-key-id", accessKey, "--secret-access-key", secretKey, "--path-style"]);
  await admin(["datastore", "create", "offsite", "--backend", "s3", "--s3-endpoint", "loop", "--bucket", bucket, "--cache-dir", join(node.dir, "cache"), "--cache-size", "0"]);
  const statsBefore = JSON.parse(await admin(["datastore", "stats", "offsite", "--output-format", "json"]));

  /** Runs `fn` and measures wall time, and the CPU of the server and the S3 server meanwhile. */
  async function phase(fn: () => Promise<number>): Promise<Phase> {
    const server0 = cpuSeconds(node.proc.pid);
    const store0 = cpuSeconds(s3pid);
    const t = performance.now();
    const clientCpu = await fn();
    return { seconds: (performance.now() - t) / 1000, serverCpu: cpuSeconds(node.proc.pid) - server0, storeCpu: cpuSeconds(s3pid) - store0, clientCpu, load: load1() };
  }

  const results: { round: number; store: string; backup: Phase; restore: Phase }[] = [];
  for (let round = 1; round <= rounds; round++) {
    const src = join(node.dir, `src-${round}`);
    makeTree(src, `${round}-${Date.now()}`);
    for (const store of round % 2 === 1 ? ["local", "offsite"] : ["offsite", "local"]) {
      const env = { ...node.env, IBS_REPOSITORY: `admin@ibs@127.0.0.1:${node.port}:${store}` };
      let snapshot = "";
      const backup = await phase(async () => {
        const r = await run(["backup", `root.ibsar:${src}`, "--crypt-mode", "none", "--backup-type", "host", "--backup-id", `bench-${round}`, "--output-format", "json"], env);
        snapshot = JSON.parse(r.out).snapshot;
        return r.cpu;
      });
      const out = join(node.dir, `restored-${store}-${round}`);
      const restore = await phase(async () => (await run(["restore", snapshot, "root.ibsar", out], env)).cpu);
      if (diffTrees(src, out).length > 0) throw new Error(`${store}: restored tree differs`);
      fs.rmSync(out, { recursive: true, force: true });
      results.push({ round, store, backup, restore });
    }
    fs.rmSync(src, { recursive: true, force: true });
  }

  await Bun.sleep(6000); // the server flushes its S3 counters every 5 s
  const after = JSON.parse(await admin(["datastore", "stats", "offsite", "--output-format", "json"]));
  const stored = after.content.storedBytes / 1024 ** 3;
  const req = (k: string) => after.s3.requests[k].requests - (statsBefore.s3?.requests[k]?.requests ?? 0);
  console.log(`S3 store: ${(after.content.storedBytes / MIB).toFixed(1)} MiB stored in ${after.content.chunks} chunks (${rounds} round${rounds > 1 ? "s" : ""})`);
  console.log(`requests (backups + restores): ${["PUT", "GET", "HEAD", "LIST", "DELETE"].map((k) => `${k} ${req(k)}`).join(", ")}; per GiB stored: ${["PUT", "GET", "HEAD"].map((k) => `${k} ${(req(k) / stored).toFixed(0)}`).join(", ")}`);

  const mibps = (p: Phase) => (total / MIB / p.seconds).toFixed(0);
  const cpu = (p: Phase, s3: boolean) => `cpu server ${p.serverCpu.toFixed(2)} s${s3 ? `, ${storeName} ${p.storeCpu.toFixed(2)} s` : ""}, client ${p.clientCpu.toFixed(2)} s; load ${p.load}`;
  for (const r of results) {
    const s3 = r.store === "offsite";
    console.log(`round ${r.round} ${r.store.padEnd(7)}: backup ${r.backup.seconds.toFixed(2)} s (${mibps(r.backup)} MiB/s; ${cpu(r.backup, s3)}), restore ${r.restore.seconds.toFixed(2)} s (${mibps(r.restore)} MiB/s; ${cpu(r.restore, s3)})`);
  }
  for (let round = 1; round <= rounds; round++) {
    const local = results.find((r) => r.round === round && r.store === "local")!;
    const offsite = results.find((r) => r.round === round && r.store === "offsite")!;
    console.log(`round ${round} S3/local throughput: backup ${(local.backup.seconds / offsite.backup.seconds).toFixed(2)}, restore ${(local.restore.seconds / offsite.restore.seconds).toFixed(2)}`);
  }
} finally {
  await node.stop();
  await s3.stop();
}

/**
 * An S3 stand-in for this benchmark only, kept in memory, on Bun.serve: PUT (honouring
 * If-None-Match: *), GET (with Range), HEAD, DELETE, DeleteObjects, ListObjectsV2, ListBuckets,
 * bucket create. It checks no signature and keeps nothing on disk; it is a yardstick for the client
 * and server side of the S3 path, never a store.
 */
function startMemoryS3(): { endpoint: string; stop(): void } {
  const objects = new Map<string, { body: Uint8Array; mtime: Date; etag: string }>();
  const buckets = new Set<string>();
  const xml = (body: string, status = 200) => new Response(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`, { status, headers: { "content-type": "application/xml" } });
  const fail = (code: string, status: number, head: boolean) => (head ? new Response(null, { status }) : xml(`<Error><Code>${code}</Code><Message>${code}</Message></Error>`, status));
  const esc = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const unesc = (t: string) => t.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    maxRequestBodySize: 1 << 30,
    async fetch(req) {
      const url = new URL(req.url);
      const [, bucket = "", ...rest] = url.pathname.split("/");
      const key = rest.map(decodeURIComponent).join("/");
      const head = req.method === "HEAD";
      if (!bucket) return xml(`<ListAllMyBucketsResult><Buckets>${[...buckets].map((b) => `<Bucket><Name>${b}</Name></Bucket>`).join("")}</Buckets></ListAllMyBucketsResult>`);
      if (!key) {
        if (req.method === "PUT") return buckets.add(bucket), new Response(null);
        if (!buckets.has(bucket)) return fail("NoSuchBucket", 404, head);
        if (head) return new Response(null);
        if (req.method === "POST" && url.searchParams.has("delete")) {
          for (const m of (await req.text()).matchAll(/<Key>([^<]*)<\/Key>/g)) objects.delete(`${bucket}/${unesc(m[1]!)}`);
          return xml("<DeleteResult></DeleteResult>");
        }
        const prefix = url.searchParams.get("prefix") ?? "";
        const max = Number(url.searchParams.get("max-keys") ?? 1000);
        const after = url.searchParams.get("continuation-token") ?? url.searchParams.get("start-after") ?? "";
        const keys = [...objects.keys()].filter((k) => k.startsWith(`${bucket}/${prefix}`)).map((k) => k.slice(bucket.length + 1)).filter((k) => k > after).sort();
        const page = keys.slice(0, max);
        const more = keys.length > max;
        const contents = page.map((k) => {
          const o = objects.get(`${bucket}/${k}`)!;
          return `<Contents><Key>${esc(k)}</Key><Size>${o.body.length}</Size><LastModified>${o.mtime.toISOString()}</LastModified><ETag>${o.etag}</ETag></Contents>`;
        });
        return xml(`<ListBucketResult><Name>${bucket}</Name><Prefix>${esc(prefix)}</Prefix><KeyCount>${page.length}</KeyCount><MaxKeys>${max}</MaxKeys><IsTruncated>${more}</IsTruncated>${more ? `<NextContinuationToken>${esc(page[page.length - 1]!)}</NextContinuationToken>` : ""}${contents.join("")}</ListBucketResult>`);
      }
      if (!buckets.has(bucket)) return fail("NoSuchBucket", 404, head);
      const id = `${bucket}/${key}`;
      if (req.method === "PUT") {
        if (req.headers.get("if-none-match") === "*" && objects.has(id)) return fail("PreconditionFailed", 412, false);
        const body = new Uint8Array(await req.arrayBuffer());
        const etag = `"${Bun.hash.crc32(body).toString(16)}-1"`; // not an MD5: the backend then compares bytes, as with SSE-KMS
        objects.set(id, { body, mtime: new Date(), etag });
        return new Response(null, { headers: { etag } });
      }
      if (req.method === "DELETE") return objects.delete(id), new Response(null, { status: 204 });
      const o = objects.get(id);
      if (!o) return fail("NoSuchKey", 404, head);
      const headers = { "last-modified": o.mtime.toUTCString(), etag: o.etag, "content-type": "application/octet-stream" };
      if (head) return new Response(null, { headers: { ...headers, "content-length": String(o.body.length) } });
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.get("range") ?? "");
      if (!range) return new Response(o.body, { headers });
      const start = Number(range[1]);
      if (start >= o.body.length) return fail("InvalidRange", 416, false);
      const end = Math.min(o.body.length - 1, range[2] ? Number(range[2]) : o.body.length - 1);
      return new Response(o.body.subarray(start, end + 1), { status: 206, headers: { ...headers, "content-range": `bytes ${start}-${end}/${o.body.length}` } });
    },
  });
  return { endpoint: `http://127.0.0.1:${server.port}`, stop: () => void server.stop(true) };
}
