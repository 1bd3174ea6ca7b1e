import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { join } from "node:path";
import {
  changePassphrase,
  computeFingerprint,
  createKeyfile,
  KeyfileError,
  loadKeyfile,
  readKeyfileInfo,
  removeDataKey,
  retireDataKey,
  rotateKeyfile,
} from "../../../src/keys/index.ts";
import { FAST_SCRYPT, openWith, sealWith, tempDir } from "./keys-test-helpers.ts";

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `key-${++n}.json`);
const PASS = "correct horse battery";
const mode = (p: string) => fs.statSync(p).mode & 0o777;
const b64 = (u: Uint8Array) => Buffer.from(u).toString("base64");

async function expectKeyfileError(p: Promise<unknown>, reason: string, message: RegExp | string): Promise<KeyfileError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KeyfileError);
    const e = err as KeyfileError;
    expect(e.reason).toBe(reason as any);
    if (typeof message === "string") expect(e.message).toBe(message);
    else expect(e.message).toMatch(message);
    return e;
  }
  throw new Error(`expected a KeyfileError (${reason}), but the call succeeded`);
}

describe("keyfile round trips", () => {
  test("scrypt: create then load gives the same keyring", async () => {
    const path = fresh();
    const created = await createKeyfile(path, { passphrase: PASS, scrypt: FAST_SCRYPT });
    const loaded = await loadKeyfile(path, PASS);
    expect(loaded.fingerprint).toBe(created.fingerprint);
    expect(loaded.fingerprint).toBe(computeFingerprint(created.digestKey));
    expect(loaded.digestKey).toEqual(created.digestKey);
    expect(loaded.digestKey.length).toBe(32);
    const active = loaded.activeDataKey();
    expect(active).toEqual(created.activeDataKey());
    expect(active.key.length).toBe(32);
    expect(active.keyId).toBeGreaterThanOrEqual(1);
    expect(active.keyId).toBeLessThanOrEqual(0xffffffff);
    expect(loaded.dataKey(active.keyId)).toEqual(active.key);
    expect(loaded.dataKey(active.keyId ^ 1)).toBeUndefined();
    expect(loaded.info.kdf).toBe("scrypt");
    expect(loaded.info.scrypt).toEqual(FAST_SCRYPT);
    expect(loaded.info.dataKeys).toEqual([{ id: active.keyId, created: loaded.info.created, state: "active", sealing: true }]);
    expect(loaded.info.path).toBe(path);
  });

  test("kdf none: loads without a passphrase, the key material is stored unencrypted", async () => {
    const path = fresh();
    const created = await createKeyfile(path, { kdf: "none" });
    const loaded = await loadKeyfile(path);
    expect(loaded.digestKey).toEqual(created.digestKey);
    expect(loaded.activeDataKey()).toEqual(created.activeDataKey());
    const json = JSON.parse(fs.readFileSync(path, "utf8"));
    expect(json.kdf).toEqual({ type: "none" });
    expect(Buffer.from(json.secret, "base64").toString("utf8")).toContain(b64(created.digestKey));
  });

  test("scrypt: the file holds no key material in the clear", async () => {
    const path = fresh();
    const k = await createKeyfile(path, { passphrase: PASS, scrypt: FAST_SCRYPT });
    const text = fs.readFileSync(path, "utf8");
    expect(text).not.toContain(b64(k.digestKey));
    expect(text).not.toContain(b64(k.activeDataKey().key));
    expect(Buffer.from(JSON.parse(text).secret, "base64").includes(Buffer.from(k.digestKey))).toBe(false);
  });

  test("the real default scrypt parameters (N=2^16, r=8, p=1) are written and work", async () => {
    const path = fresh();
    const k = await createKeyfile(path, { passphrase: PASS });
    expect(JSON.parse(fs.readFileSync(path, "utf8")).kdf).toMatchObject({ type: "scrypt", n: 65536, r: 8, p: 1 });
    expect((await loadKeyfile(path, PASS)).fingerprint).toBe(k.fingerprint);
  });
});

describe("file mode and safety", () => {
  test("keyfiles are mode 0600, even with a permissive umask, and stay so after every rewrite", async () => {
    const path = fresh();
    const old = process.umask(0);
    try {
      await createKeyfile(path, { passphrase: PASS, scrypt: FAST_SCRYPT });
      expect(mode(path)).toBe(0o600);
      await rotateKeyfile(path, PASS);
      expect(mode(path)).toBe(0o600);
      await changePassphrase(path, PASS, { passphrase: "another passphrase", scrypt: FAST_SCRYPT });
      expect(mode(path)).toBe(0o600);
    } finally {
      process.umask(old);
    }
    expect(fs.readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  test("create refuses to overwrite an existing file and leaves it untouched", async () => {
    const path = fresh();
    await createKeyfile(path, { kdf: "none" });
    const before = fs.readFileSync(path, "utf8");
    await expectKeyfileError(createKeyfile(path, { kdf: "none" }), "exists", `keyfile ${path} already exists; refusing to overwrite it`);
    expect(fs.readFileSync(path, "utf8")).toBe(before);
  });

  test("a passphrase is required for scrypt and must not be too short; nothing is written then", async () => {
    const path = fresh();
    await expectKeyfileError(createKeyfile(path, { scrypt: FAST_SCRYPT }), "passphrase-missing", /passphrase is needed/);
    await expectKeyfileError(createKeyfile(path, { passphrase: "short", scrypt: FAST_SCRYPT }), "passphrase-too-short", /at least 8 characters/);
    expect(fs.existsSync(path)).toBe(false);
  });

  test("a missing folder or file is named in the error", async () => {
    const missing = join(dir, "no-such-folder", "k.json");
    await expectKeyfileError(createKeyfile(missing, { kdf: "none" }), "io", /cannot write keyfile .*no-such-folder.*does not exist/);
    await expectKeyfileError(loadKeyfile(join(dir, "absent.json"), PASS), "not-found", `keyfile ${join(dir, "absent.json")} not found`);
  });

  test("the keyring never shows its secrets in JSON or console inspection", async () => {
    const k = await createKeyfile(fresh(), { passphrase: PASS, scrypt: FAST_SCRYPT });
    const secrets = [b64(k.digestKey), b64(k.activeDataKey().key), Buffer.from(k.digestKey).toString("hex")];
    for (const shown of [JSON.stringify(k), Bun.inspect(k), String(k)]) {
      for (const s of secrets) expect(shown).not.toContain(s);
    }
    expect(Bun.inspect(k)).toContain(k.fingerprint);
  });
});

describe("passphrases", () => {
  test("a wrong passphrase gets a clear error naming the file, and no secret in it", async () => {
    const path = fresh();
    await createKeyfile(path, { passphrase: PASS, scrypt: FAST_SCRYPT });
    const e = await expectKeyfileError(loadKeyfile(path, "not the passphrase"), "wrong-passphrase", `wrong passphrase for keyfile ${path}`);
    expect(e.exitCode).toBe(1);
    await expectKeyfileError(loadKeyfile(path), "passphrase-missing", /protected by a passphrase and none was given/);
  });

  test("the passphrase is normalized (NFC), so composed and decomposed accents both unlock", async () => {
    const path = fresh();
    await createKeyfile(path, { passphrase: "caf\u00e9 au lait", scrypt: FAST_SCRYPT });
    await loadKeyfile(path, "cafe\u0301 au lait");
  });

  test("change-passphrase: same keys and fingerprint, new salt; the old passphrase stops working", async () => {
    const path = fresh();
    const k = await createKeyfile(path, { passphrase: PASS, scrypt: FAST_SCRYPT });
    const saltBefore = JSON.parse(fs.readFileSync(path, "utf8")).kdf.salt;
    const info = await changePassphrase(path, PASS, { passphrase: "a new passphrase", scrypt: FAST_SCRYPT });
    expect(info.fingerprint).toBe(k.fingerprint);
    expect(JSON.parse(fs.readFileSync(path, "utf8")).kdf.salt).not.toBe(saltBefore);
    await expectKeyfileError(loadKeyfile(path, PASS), "wrong-passphrase", `wrong passphrase for keyfile ${path}`);
    const again = await loadKeyfile(path, "a new passphrase");
    expect(again.digestKey).toEqual(k.digestKey);
    expect(again.activeDataKey()).toEqual(k.activeDataKey());
    expect(again.info.created).toBe(k.info.created);
  });

  test("change-passphrase can switch scrypt -> none -> scrypt", async () => {
    const path = fresh();
    const k = await createKeyfile(path, { passphrase: PASS, scrypt: FAST_SCRYPT });
    expect((await changePassphrase(path, PASS, { kdf: "none" })).kdf).toBe("none");
    expect((await loadKeyfile(path)).digestKey).toEqual(k.digestKey);
    expect((await changePassphrase(path, undefined, { passphrase: "back to scrypt", scrypt: FAST_SCRYPT })).kdf).toBe("scrypt");
    expect((await loadKeyfile(path, "back to scrypt")).fingerprint).toBe(k.fingerprint);
  });
});

describe("fingerprint", () => {
  test("definition: SHA-256(HMAC-SHA256(digestKey, 'IBS keyring fingerprint v1')), 32 hex pairs (pinned vector)", () => {
    const key = Uint8Array.from({ length: 32 }, (_, i) => i);
    // Cross-checked with: printf 'IBS keyring fingerprint v1' | openssl dgst -sha256 -mac HMAC
    //   -macopt hexkey:000102…1f -binary | sha256sum
    expect(computeFingerprint(key)).toBe("50:2b:22:7b:83:5e:5c:dd:c3:e3:38:5f:50:42:c1:37:5d:b4:84:5b:a8:50:87:b4:06:41:dd:7f:d4:8e:f6:79");
    key[31] ^= 1;
    expect(computeFingerprint(key)).not.toBe("50:2b:22:7b:83:5e:5c:dd:c3:e3:38:5f:50:42:c1:37:5d:b4:84:5b:a8:50:87:b4:06:41:dd:7f:d4:8e:f6:79");
  });

  test("stable across rotation and passphrase changes; different keyfiles differ", async () => {
    const path = fresh();
    const k = await createKeyfile(path, { passphrase: PASS, scrypt: FAST_SCRYPT });
    const seen = [k.fingerprint];
    seen.push((await rotateKeyfile(path, PASS)).info.fingerprint);
    seen.push((await changePassphrase(path, PASS, { passphrase: "second passphrase", scrypt: FAST_SCRYPT })).fingerprint);
    seen.push((await rotateKeyfile(path, "second passphrase")).info.fingerprint);
    seen.push((await loadKeyfile(path, "second passphrase")).fingerprint);
    seen.push(readKeyfileInfo(path).fingerprint);
    expect(new Set(seen).size).toBe(1);
    const other = await createKeyfile(fresh(), { kdf: "none" });
    expect(other.fingerprint).not.toBe(k.fingerprint);
  });
});

describe("rotation and retirement", () => {
  test("rotate adds a sealing key; blobs sealed by the old key still decrypt; the digest key stays", async () => {
    const path = fresh();
    const k1 = await loadKeyfile((await createKeyfile(path, { passphrase: PASS, scrypt: FAST_SCRYPT })).info.path, PASS);
    const old = k1.activeDataKey();
    const oldBlob = sealWith(old.keyId, old.key, Buffer.from("sealed before rotation"));

    const { keyId } = await rotateKeyfile(path, PASS);
    const k2 = await loadKeyfile(path, PASS);
    expect(keyId).not.toBe(old.keyId);
    expect(k2.activeDataKey().keyId).toBe(keyId);
    expect(k2.activeDataKey().key).not.toEqual(old.key);
    expect(k2.digestKey).toEqual(k1.digestKey);
    expect(openWith(k2.keyLookup, oldBlob).toString()).toBe("sealed before rotation");

    const newBlob = sealWith(k2.activeDataKey().keyId, k2.activeDataKey().key, Buffer.from("sealed after"));
    expect(openWith(k2.keyLookup, newBlob).toString()).toBe("sealed after");
    // The old keyring does not know the new key: a clear lookup miss, not an auth failure.
    expect(() => openWith(k1.keyLookup, newBlob)).toThrow(`blob needs data key id ${keyId} which this keyring lacks`);
    expect(k2.info.dataKeys.map((d) => [d.id, d.state, d.sealing])).toEqual([
      [old.keyId, "active", false],
      [keyId, "active", true],
    ]);
  });

  test("retire marks a key retired-pending (still decrypts, no longer seals); remove then drops it", async () => {
    const path = fresh();
    const first = (await createKeyfile(path, { kdf: "none" })).activeDataKey();
    await expectKeyfileError(retireDataKey(path, undefined, first.keyId), "bad-request", /only active key and cannot be retired/);
    await expectKeyfileError(removeDataKey(path, undefined, first.keyId), "bad-request", /is active; only a retired-pending key can be removed/);
    const { keyId: second } = await rotateKeyfile(path);
    const blob = sealWith(first.keyId, first.key, Buffer.from("old data"));

    const info = await retireDataKey(path, undefined, first.keyId);
    expect(info.dataKeys.map((d) => [d.id, d.state, d.sealing])).toEqual([
      [first.keyId, "retired-pending", false],
      [second, "active", true],
    ]);
    const k = await loadKeyfile(path);
    expect(k.activeDataKey().keyId).toBe(second);
    expect(openWith(k.keyLookup, blob).toString()).toBe("old data");

    const after = await removeDataKey(path, undefined, first.keyId);
    expect(after.dataKeys.map((d) => d.id)).toEqual([second]);
    const k2 = await loadKeyfile(path);
    expect(k2.dataKey(first.keyId)).toBeUndefined();
    expect(k2.fingerprint).toBe(k.fingerprint);
    await expectKeyfileError(retireDataKey(path, undefined, 12345), "bad-request", new RegExp(`has no data key 12345 \\(it has ${second}\\)`));
  });
});

describe("corrupt and foreign keyfiles", () => {
  async function withEdited(kdf: "none" | "scrypt", edit: (json: any) => void): Promise<string> {
    const path = fresh();
    await createKeyfile(path, kdf === "none" ? { kdf } : { passphrase: PASS, scrypt: FAST_SCRYPT });
    const json = JSON.parse(fs.readFileSync(path, "utf8"));
    edit(json);
    fs.writeFileSync(path, JSON.stringify(json));
    return path;
  }

  test("not JSON / not a keyfile / unknown version / bad field: each error names the file and the problem", async () => {
    const garbage = fresh();
    fs.writeFileSync(garbage, "{ this is not json");
    await expectKeyfileError(loadKeyfile(garbage, PASS), "corrupt", `keyfile ${garbage} is corrupt: not valid JSON`);
    expect(() => readKeyfileInfo(garbage)).toThrow(`keyfile ${garbage} is corrupt: not valid JSON`);

    const foreign = fresh();
    fs.writeFileSync(foreign, JSON.stringify({ kdf: null, data: "AAAA" }));
    await expectKeyfileError(loadKeyfile(foreign), "corrupt", new RegExp(`^${foreign} is not an ironcore-backup keyfile`));

    const v2 = await withEdited("none", (j) => (j.version = 2));
    await expectKeyfileError(loadKeyfile(v2), "unsupported-version", `keyfile ${v2} has version 2, this ironcore-backup reads version 1`);

    const badState = await withEdited("none", (j) => (j.dataKeys[0].state = "sleeping"));
    await expectKeyfileError(loadKeyfile(badState), "corrupt", new RegExp(`keyfile ${badState} is corrupt: dataKeys\\.0\\.state: `));

    const extra = await withEdited("none", (j) => (j.surprise = true));
    await expectKeyfileError(loadKeyfile(extra), "corrupt", /is corrupt: .*surprise/);
  });

  test("an edited public field of a passphrase-protected keyfile fails authentication", async () => {
    const path = await withEdited("scrypt", (j) => (j.created = "2001-01-01T00:00:00Z"));
    await expectKeyfileError(loadKeyfile(path, PASS), "tampered", `keyfile ${path} was modified or is corrupt: its keyring failed authentication`);
    const truncated = await withEdited("scrypt", (j) => (j.secret = j.secret.slice(0, 16)));
    await expectKeyfileError(loadKeyfile(truncated, PASS), "tampered", /failed authentication/);
  });

  test("a fingerprint that does not match the keys is refused", async () => {
    const path = await withEdited("none", (j) => (j.fingerprint = j.fingerprint.replace(/^../, j.fingerprint.startsWith("00") ? "01" : "00")));
    await expectKeyfileError(loadKeyfile(path), "corrupt", /stored fingerprint .* does not match its keys \(computed /);
  });

  test("listed and held data key ids must agree", async () => {
    const path = await withEdited("none", (j) => (j.dataKeys[0].id = j.dataKeys[0].id === 1 ? 2 : 1));
    await expectKeyfileError(loadKeyfile(path), "corrupt", /data key ids listed \(\d+\) differ from those held \(\d+\)/);
  });

  test("hostile scrypt parameters are refused before any work is done", async () => {
    const path = await withEdited("scrypt", (j) => (j.kdf.n = 2 ** 30));
    const t0 = performance.now();
    await expectKeyfileError(loadKeyfile(path, PASS), "corrupt", /scrypt n must be a power of two from 2\^10 to 2\^22, got 1073741824/);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
