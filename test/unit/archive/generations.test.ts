/**
 * Change detection over many generations of a randomly changing tree (seeded; a failure names
 * its seed, IBS_TEST_SEED replays it): each archive is made against the previous one with
 * random pipeline chunk sizes, run caps, deferral, hole joining and cursor windows, and its
 * extraction must equal the source, byte for byte and in metadata. A file whose path, inode,
 * size, mtime and ctime did not change must not be read.
 */
import { afterAll, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { extractAndCompare, incremental } from "./incremental.ts";
import { archive, rmrf, tempDir } from "./tree.ts";
import { changedFiles, fileStamps, TreeMutator, testSeeds } from "./tree-mutations.ts";

const GENERATIONS = 10;
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rmrf(d);
});

describe("change detection over generations of a changing tree", () => {
  for (const seed of testSeeds([1, 2, 3])) {
    test(`seed ${seed}`, async () => {
      const work = await tempDir(`generations-${seed}`);
      dirs.push(work);
      const root = join(work, "src");
      fs.mkdirSync(root);
      const tree = new TreeMutator(root, seed);
      tree.populate(120);
      let prev = await archive(root);
      let stamps = fileStamps(root);
      const pick = <T>(xs: T[]) => xs[Math.floor(tree.rand() * xs.length)]!;
      for (let g = 1; g <= GENERATIONS; g++) {
        const ops = tree.mutate(12);
        const now = fileStamps(root);
        const options = {
          chunk: pick([512, 4096, 65536]),
          maxRunFiles: pick([1, 7, 4096]),
          maxDeferredBytes: pick([0, undefined]),
          reuseJoinGap: pick([0, undefined]),
          windowBytes: pick([64, 4096, undefined]),
        };
        const where = `seed ${seed}, generation ${g}, ${JSON.stringify(options)}, after: ${ops.join("; ")}`;
        const { chunk, windowBytes, ...writer } = options;
        const next = await incremental(root, prev, chunk, writer, undefined, windowBytes);
        const out = join(work, `out-${g}`);
        try {
          await extractAndCompare(next, root, out);
        } catch (err) {
          throw new Error(`${where}: ${(err as Error).message}`);
        }
        const c = next.result.counters;
        expect({ where, read: c.filesRead <= changedFiles(stamps, now) + c.reuseRefusedFiles }).toEqual({ where, read: true });
        fs.rmSync(out, { recursive: true, force: true });
        prev = next;
        stamps = now;
      }
    }, 60_000);
  }
});
