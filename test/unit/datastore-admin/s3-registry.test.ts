/** The S3 side of the registry (migration 0008) without a store: rows, cascade, the endpoint guard, sizes. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { datastoresOnEndpoint, deleteDatastore, insertDatastore, listDatastores, requireDatastore } from "../../../src/datastore/admin/registry.ts";
import { parseCacheSize } from "../../../src/datastore/admin/s3-create.ts";
import { createDatastore } from "../../../src/datastore/admin/create.ts";
import { createEndpoint, removeEndpoint } from "../../../src/s3/endpoints.ts";
import { type Scratch, scratch, thrown } from "./helpers.ts";

let s: Scratch;
beforeEach(() => {
  s = scratch();
  createEndpoint(s.db, s.root, "ceph1", { endpoint: "http://127.0.0.1:9", pathStyle: true });
});
afterEach(() => s.cleanup());

const s3Entry = (name: string, prefix = name) => ({
  name,
  path: join("/var/cache/ibs", name),
  backend: "s3" as const,
  storeId: `id-${name}`,
  comment: null,
  s3: { endpoint: "ceph1", bucket: "ibs-offsite", prefix, cacheSize: 1024, configDir: "/etc/ironcore-backup" },
});

describe("S3 datastores in the registry", () => {
  test("an S3 row reads back with its location; a local row has none", () => {
    insertDatastore(s.db, s3Entry("offsite"));
    insertDatastore(s.db, { name: "local1", path: "/srv/local1", backend: "local", storeId: "x", comment: null });
    expect(requireDatastore(s.db, "offsite")).toMatchObject({ backend: "s3", s3: { endpoint: "ceph1", bucket: "ibs-offsite", prefix: "offsite", cacheSize: 1024 } });
    const local = listDatastores(s.db).find((d) => d.name === "local1")!;
    expect(local.backend).toBe("local");
    expect(local.s3).toBeUndefined();
    // The state database it came from is not part of the printed entry.
    expect(Object.keys(requireDatastore(s.db, "offsite")).sort()).toEqual(["backend", "comment", "created", "name", "path", "s3", "storeId"]);
  });

  test("the endpoint cannot be removed while a datastore uses it; after the datastore is gone it can", async () => {
    insertDatastore(s.db, s3Entry("offsite"));
    expect(datastoresOnEndpoint(s.db, "ceph1")).toEqual(["offsite"]);
    const err = await thrown(() => removeEndpoint(s.db, s.root, "ceph1"));
    expect(err.message).toContain("S3 endpoint is used by a datastore");
    deleteDatastore(s.db, "offsite");
    expect(datastoresOnEndpoint(s.db, "ceph1")).toEqual([]); // the S3 row went with it
    removeEndpoint(s.db, s.root, "ceph1");
  });

  test("a second store on the same endpoint, bucket and prefix is refused by the database; a failed S3 row leaves no half entry", async () => {
    insertDatastore(s.db, s3Entry("offsite"));
    const err = await thrown(() => insertDatastore(s.db, { ...s3Entry("offsite2", "offsite"), path: "/var/cache/ibs/other" }));
    expect(err.message).toMatch(/UNIQUE/);
    expect(listDatastores(s.db).map((d) => d.name)).toEqual(["offsite"]);
  });

  test("create refuses a prefix nesting with another store's before it touches the network", async () => {
    insertDatastore(s.db, s3Entry("offsite"));
    const err = await thrown(() =>
      createDatastore(s.db, { name: "nested", path: join(s.root, "cache"), backend: "s3", s3: { endpoint: "ceph1", bucket: "ibs-offsite", prefix: "offsite/sub", configDir: s.root } }),
    );
    expect(err.message).toContain("nests with the prefix 'offsite' of datastore 'offsite'");
    expect(err.httpStatus).toBe(409);
  });

  test("cache sizes", () => {
    expect(parseCacheSize("64GiB")).toBe(64 * 1024 ** 3);
    expect(parseCacheSize("500M")).toBe(500 * 1024 ** 2);
    expect(parseCacheSize("0")).toBe(0);
    expect(() => parseCacheSize("lots")).toThrow("--cache-size 'lots' is not a size");
  });
});
