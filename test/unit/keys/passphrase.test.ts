import { afterAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import { join } from "node:path";
import { applyKeystrokes, obtainPassphrase, type PassphraseIo, type PassphraseRequest } from "../../../src/keys/passphrase.ts";
import { UsageError } from "../../../src/util/errors.ts";
import { tempDir } from "./keys-test-helpers.ts";

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const req = (over: Partial<PassphraseRequest> = {}): PassphraseRequest => ({
  keyfile: "/etc/k.json",
  purpose: "current",
  envVar: "IBS_KEY_PASSPHRASE",
  fileOption: "--passphrase-file",
  ...over,
});

function io(over: Partial<PassphraseIo> & { answers?: string[] } = {}): PassphraseIo & { prompts: string[]; said: string[] } {
  const answers = [...(over.answers ?? [])];
  const prompts: string[] = [];
  const said: string[] = [];
  return {
    env: {},
    interactive: false,
    readHidden: async (p) => {
      prompts.push(p);
      const a = answers.shift();
      if (a === undefined) throw new Error("no more answers");
      return a;
    },
    say: (t) => said.push(t),
    ...over,
    prompts,
    said,
  };
}

describe("obtainPassphrase", () => {
  test("the passphrase file wins over the environment; only its first line counts", async () => {
    const file = join(dir, "pass.txt");
    fs.writeFileSync(file, "from the file\r\nsecond line\n");
    expect(await obtainPassphrase(req({ file }), io({ env: { IBS_KEY_PASSPHRASE: "from env" } }))).toBe("from the file");
  });

  test("the environment variable is used when no file is given", async () => {
    expect(await obtainPassphrase(req(), io({ env: { IBS_KEY_PASSPHRASE: "from env" } }))).toBe("from env");
    expect(await obtainPassphrase(req({ envVar: "IBS_KEY_NEW_PASSPHRASE", purpose: "new" }), io({ env: { IBS_KEY_NEW_PASSPHRASE: "new one" } }))).toBe("new one");
  });

  test("no terminal and nothing given: a usage error that says how to give one", async () => {
    const p = obtainPassphrase(req(), io({ env: { IBS_KEY_PASSPHRASE: "" } }));
    await expect(p).rejects.toBeInstanceOf(UsageError);
    await expect(obtainPassphrase(req(), io())).rejects.toThrow(
      "no passphrase for keyfile /etc/k.json: not on a terminal, and neither IBS_KEY_PASSPHRASE nor --passphrase-file is set",
    );
    try {
      await obtainPassphrase(req(), io());
    } catch (e) {
      expect((e as UsageError).hint).toBe("set IBS_KEY_PASSPHRASE, pass --passphrase-file FILE, or run the command on a terminal to be asked");
      expect((e as UsageError).exitCode).toBe(2);
    }
  });

  test("unreadable or empty passphrase files are named", async () => {
    await expect(obtainPassphrase(req({ file: join(dir, "missing") }), io())).rejects.toThrow(/--passphrase-file .*missing: cannot read it \(no such file\)/);
    const empty = join(dir, "empty.txt");
    fs.writeFileSync(empty, "\nsecret on line two\n");
    await expect(obtainPassphrase(req({ file: empty }), io())).rejects.toThrow(/the first line is empty/);
  });

  test("on a terminal: asks once to unlock, twice to set, and again when the two differ", async () => {
    const unlock = io({ interactive: true, answers: ["typed"] });
    expect(await obtainPassphrase(req(), unlock)).toBe("typed");
    expect(unlock.prompts).toEqual(["Passphrase for /etc/k.json: "]);

    const set = io({ interactive: true, answers: ["one", "two", "three", "three"] });
    expect(await obtainPassphrase(req({ purpose: "new" }), set)).toBe("three");
    expect(set.prompts.length).toBe(4);
    expect(set.said).toEqual(["The passphrases did not match; try again."]);

    const never = io({ interactive: true, answers: ["a", "b", "c", "d", "e", "f"] });
    await expect(obtainPassphrase(req({ purpose: "new" }), never)).rejects.toThrow("the passphrases for keyfile /etc/k.json did not match (3 attempts)");
  });
});

describe("applyKeystrokes (hidden terminal input)", () => {
  test("typing, backspace, Ctrl-U and Enter", () => {
    expect(applyKeystrokes("", "abc")).toEqual({ value: "abc", status: "pending" });
    expect(applyKeystrokes("abc", "\u007fd\r")).toEqual({ value: "abd", status: "done" });
    expect(applyKeystrokes("abc", "\u0015xy\n")).toEqual({ value: "xy", status: "done" });
    expect(applyKeystrokes("", "p\u00e4ss\u{1f511}\b\r")).toEqual({ value: "p\u00e4ss", status: "done" });
  });

  test("Ctrl-C cancels; Ctrl-D cancels only an empty line; arrow keys are ignored", () => {
    expect(applyKeystrokes("abc", "\u0003").status).toBe("cancelled");
    expect(applyKeystrokes("", "\u0004").status).toBe("cancelled");
    expect(applyKeystrokes("ab", "\u0004")).toEqual({ value: "ab", status: "pending" });
    expect(applyKeystrokes("ab", "\u001b[D")).toEqual({ value: "ab", status: "pending" });
    expect(applyKeystrokes("ab", "\t")).toEqual({ value: "ab", status: "pending" });
  });
});
