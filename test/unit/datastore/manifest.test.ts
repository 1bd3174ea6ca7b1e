import { describe, expect, test } from "bun:test";
import { BlobError, encodeBlob } from "../../../src/datastore/blob.ts";
import { canonicalJson } from "../../../src/datastore/canonical-json.ts";
import { hmacSha256Hex } from "../../../src/datastore/digest.ts";
import { CorruptError } from "../../../src/datastore/errors.ts";
import { createManifest, decodeManifest, describeFile, encodeManifest, manifestSignature, verifyManifestSignature } from "../../../src/datastore/manifest.ts";

const snapshot = { type: "host" as const, id: "elsa", time: "2020-06-26T13:56:05Z" };
const key = new Uint8Array(32).fill(7);
const file = (name: string, fill: number, mode: "none" | "encrypt" = "none") => ({ filename: name, size: 200, csum: "".padEnd(64, fill.toString(16)), crypt_mode: mode });

describe("canonical JSON", () => {
  test("sorts keys at every level, no whitespace, drops undefined", () => {
    expect(canonicalJson({ b: 1, a: [{ d: "x", c: true }], u: undefined })).toBe('{"a":[{"c":true,"d":"x"}],"b":1}');
  });
  test("refuses nulls and non-integers", () => {
    expect(() => canonicalJson({ a: null })).toThrow("null");
    expect(() => canonicalJson({ a: 1.5 })).toThrow("integers");
  });
});

describe("manifest", () => {
  test("signature = HMAC-SHA256 over the canonical JSON without unprotected and signature", () => {
    const m = createManifest({ snapshot, files: [file("test1.img.fidx", 1, "encrypt"), file("abc.blob", 2)], keyFingerprint: "aa:bb" }, key);
    const expected = hmacSha256Hex(
      key,
      new TextEncoder().encode(
        canonicalJson({ backup_id: "elsa", backup_time: snapshot.time, backup_type: "host", files: m.files, key_fingerprint: "aa:bb", manifest_version: 1 }),
      ),
    );
    expect(m.signature).toBe(expected);
    expect(m.files.map((f) => f.filename)).toEqual(["abc.blob", "test1.img.fidx"]); // sorted
    const withNotes = { ...m, unprotected: { notes: "changed", verify_state: { state: "failed" as const } } };
    expect(manifestSignature(withNotes, key)).toBe(expected);
    verifyManifestSignature(withNotes, key);
    expect(() => verifyManifestSignature({ ...m, files: [file("abc.blob", 3), m.files[1]!] }, key)).toThrow(CorruptError);
  });

  test("encrypted files require a fingerprint and a signing key", () => {
    expect(() => createManifest({ snapshot, files: [file("a.fidx", 1, "encrypt")] })).toThrow("need a key fingerprint");
    expect(() => createManifest({ snapshot, files: [file("a.fidx", 1), file("a.fidx", 1)] })).toThrow("listed twice");
  });

  test("encode/decode round trip as a zstd blob (never encrypted)", () => {
    const m = createManifest({ snapshot, files: [describeFile("x.blob", encodeBlob(new Uint8Array(10)), "none")], unprotected: { notes: "n" } });
    const bytes = encodeManifest(m);
    expect(bytes[5]).toBeLessThan(2);
    expect(decodeManifest(bytes, "host/elsa/x/index.json.blob")).toEqual(m);
  });

  test("corrupt manifests are refused by name", () => {
    const name = "vm/1/2026-01-01T00:00:00Z/index.json.blob";
    const enc = (s: string) => encodeBlob(new TextEncoder().encode(s));
    expect(() => decodeManifest(enc("{not json"), name)).toThrow(`${name}: manifest is not valid JSON`);
    expect(() => decodeManifest(enc('{"manifest_version":1}'), name)).toThrow(/manifest field '.*' is invalid/);
    const good = encodeManifest(createManifest({ snapshot, files: [] }));
    const bad = good.slice();
    bad[bad.length - 2]! ^= 1;
    expect(() => decodeManifest(bad, name)).toThrow(BlobError);
    const m = JSON.parse(JSON.stringify(createManifest({ snapshot, files: [] })));
    m.files.push({ filename: "../x.blob", size: 1, csum: "0".repeat(64), crypt_mode: "none" });
    expect(() => decodeManifest(enc(JSON.stringify(m)), name)).toThrow("manifest field 'files.0.filename' is invalid");
  });
});

test("a manifest from a newer format version is refused with an upgrade hint", () => {
  const m = { ...JSON.parse(JSON.stringify(createManifest({ snapshot, files: [] }))), manifest_version: 2 };
  expect(() => decodeManifest(encodeBlob(new TextEncoder().encode(JSON.stringify(m))), "x/index.json.blob")).toThrow(
    "x/index.json.blob: manifest version 2 was written by a newer ironcore-backup (this one reads 1)",
  );
});
