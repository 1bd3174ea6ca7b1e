import { afterAll, afterEach, beforeEach, describe, expect, spyOn, test } from "bun:test";
import { runCommand } from "citty";
import fs from "node:fs";
import { join } from "node:path";
import keyCommand, { keyChangePassphrase, keyCreate, keyRotate, keyShow, keySubCommands, renderKeyInfo } from "../../../src/cli/key.ts";
import { loadKeyfile } from "../../../src/keys/index.ts";
import { FAST_SCRYPT, tempDir } from "./keys-test-helpers.ts";

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `cli-${++n}.json`);
const PASS = "correct horse battery";

describe("key plain functions", () => {
  test("create, show, rotate, change-passphrase", async () => {
    const file = fresh();
    const created = await keyCreate(file, { passphrase: PASS, scrypt: FAST_SCRYPT });
    expect(created.kdf).toBe("scrypt");
    expect(keyShow(file)).toEqual(created);

    const rotated = await keyRotate(file, { passphrase: PASS });
    expect(rotated.info.dataKeys.length).toBe(2);
    expect(rotated.info.dataKeys.find((k) => k.sealing)?.id).toBe(rotated.keyId);

    const changed = await keyChangePassphrase(file, { passphrase: PASS, newPassphrase: "new passphrase!", scrypt: FAST_SCRYPT });
    expect(changed.fingerprint).toBe(created.fingerprint);
    expect((await loadKeyfile(file, "new passphrase!")).activeDataKey().keyId).toBe(rotated.keyId);
  });

  test("show renders fingerprint, kdf and every data key, and no secret", async () => {
    const file = fresh();
    await keyCreate(file, { kdf: "none" });
    const { keyId } = await keyRotate(file);
    const info = keyShow(file);
    const text = renderKeyInfo(info);
    expect(text).toContain(info.fingerprint);
    expect(text).toContain("none (unencrypted keyfile)");
    expect(text).toMatch(new RegExp(`${keyId}\\s+active\\s+\\S+\\s+yes`));
    expect(text).toMatch(new RegExp(`${info.dataKeys[0].id}\\s+active\\s+\\S+\\s+no`));
    const secret = JSON.parse(fs.readFileSync(file, "utf8")).secret;
    const material = JSON.parse(Buffer.from(secret, "base64").toString());
    expect(text).not.toContain(material.digestKey);
    expect(JSON.stringify(info)).not.toContain(material.digestKey);
  });
});

describe("key commands", () => {
  let out: string[];
  let spy: ReturnType<typeof spyOn>;
  const saved = { ...process.env };
  beforeEach(() => {
    out = [];
    spy = spyOn(process.stdout, "write").mockImplementation(((chunk: any) => {
      out.push(String(chunk));
      return true;
    }) as any);
  });
  afterEach(() => {
    spy.mockRestore();
    process.env = { ...saved };
  });

  test("the subcommands are exported for the server-side ones to join", () => {
    expect(Object.keys(keySubCommands)).toEqual(["create", "show", "change-passphrase", "rotate"]);
  });

  test("create (passphrase from env) / rotate (from --passphrase-file) / show --output-format json", async () => {
    const file = fresh();
    process.env.IBS_KEY_PASSPHRASE = PASS;
    await runCommand(keyCommand, { rawArgs: ["create", file] });
    expect(out.join("")).toContain(`created keyfile ${file} (kdf scrypt)`);
    delete process.env.IBS_KEY_PASSPHRASE;

    const passFile = join(dir, "pass.txt");
    fs.writeFileSync(passFile, PASS + "\n");
    out = [];
    await runCommand(keyCommand, { rawArgs: ["rotate", file, "--passphrase-file", passFile, "--output-format", "json"] });
    const rotated = JSON.parse(out.join(""));
    expect(rotated.info.dataKeys.length).toBe(2);

    out = [];
    await runCommand(keyCommand, { rawArgs: ["show", file, "--output-format", "json"] });
    const shown = JSON.parse(out.join(""));
    expect(shown.fingerprint).toBe(rotated.info.fingerprint);
    expect(shown.kdf).toBe("scrypt");
    expect(shown.scrypt).toEqual({ n: 65536, r: 8, p: 1 });
    expect(shown.dataKeys.map((k: any) => [k.id, k.state, k.sealing])).toEqual(rotated.info.dataKeys.map((k: any) => [k.id, k.state, k.sealing]));
    expect(Object.keys(shown).sort()).toEqual(["created", "dataKeys", "fingerprint", "kdf", "modified", "path", "scrypt"]);
  });

  test("change-passphrase reads the new passphrase from IBS_KEY_NEW_PASSPHRASE; --kdf none needs none", async () => {
    const file = fresh();
    await keyCreate(file, { passphrase: PASS, scrypt: FAST_SCRYPT });
    process.env.IBS_KEY_PASSPHRASE = PASS;
    process.env.IBS_KEY_NEW_PASSPHRASE = "the next passphrase";
    await runCommand(keyCommand, { rawArgs: ["change-passphrase", file] });
    await loadKeyfile(file, "the next passphrase");
    process.env.IBS_KEY_PASSPHRASE = "the next passphrase";
    delete process.env.IBS_KEY_NEW_PASSPHRASE;
    await runCommand(keyCommand, { rawArgs: ["change-passphrase", file, "--kdf", "none"] });
    expect(keyShow(file).kdf).toBe("none");
    // A kdf-none keyfile rotates without any passphrase source at all.
    delete process.env.IBS_KEY_PASSPHRASE;
    await runCommand(keyCommand, { rawArgs: ["rotate", file] });
    expect(keyShow(file).dataKeys.length).toBe(2);
  });

  test("bad --kdf and a wrong passphrase are clear errors", async () => {
    await expect(runCommand(keyCommand, { rawArgs: ["create", fresh(), "--kdf", "argon9"] })).rejects.toThrow("--kdf: expected scrypt or none, got 'argon9'");
    const file = fresh();
    await keyCreate(file, { passphrase: PASS, scrypt: FAST_SCRYPT });
    process.env.IBS_KEY_PASSPHRASE = "not it at all";
    await expect(runCommand(keyCommand, { rawArgs: ["rotate", file] })).rejects.toThrow(`wrong passphrase for keyfile ${file}`);
  });
});
