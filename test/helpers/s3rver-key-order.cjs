/**
 * Preloaded into s3rver (`node -r`): makes its listings come out in S3 key order, and ends
 * s3rver when the test process that started it is gone.
 *
 * s3rver keeps `<key>._S3rver_object` files in directories and lists by walking them in name
 * order, so directory `a` (keys `a/...`) is walked before the file of key `a.sibling`. S3 orders
 * by the bytes of the whole key, where `a.sibling` < `a/x` ('.' is 0x2e, '/' is 0x2f). With
 * pagination that is not only a wrong order: the key after the page boundary is skipped, because
 * the next page starts after the last key returned. Real stores (AWS, Ceph, MinIO, Garage) list
 * in byte order; this makes the test server do the same by sorting each directory as its keys
 * sort (a directory as `name/`, a file by its key without the `._S3rver_*` suffix).
 */
"use strict";
const fs = require("fs");
const path = require("path");
const utils = require(path.join(process.cwd(), "node_modules", "s3rver", "lib", "utils.js"));

const SUFFIX = /\._S3rver_[^/]*$/;

function sortKey(dir, name) {
  const isDir = fs.statSync(path.posix.join(dir, name)).isDirectory();
  return Buffer.from(isDir ? `${name}/` : name.replace(SUFFIX, ""));
}

utils.walk = function* walk(dir, recurseFilter) {
  const entries = fs.readdirSync(dir).map((name) => ({ name, key: sortKey(dir, name) }));
  entries.sort((a, b) => Buffer.compare(a.key, b.key) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const { name } of entries) {
    const filePath = path.posix.join(dir, name);
    if (!fs.statSync(filePath).isDirectory()) yield filePath;
    else if (!recurseFilter || recurseFilter(filePath)) yield* walk(filePath, recurseFilter);
  }
};

// A test runner that dies (or is killed on a timeout) must not leave s3rver behind: exit when
// the parent is gone (the process is re-parented, so ppid changes), removing the temp data dir.
const parent = process.ppid;
const dataDir = process.argv[process.argv.indexOf("-d") + 1];
setInterval(() => {
  if (process.ppid === parent) return;
  if (dataDir && path.basename(dataDir).startsWith("ibs-s3rver-")) fs.rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
}, 500).unref();
