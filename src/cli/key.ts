/**
 * `ironcore-backup key ...`: client-side keyfiles. create, show, change-passphrase, rotate.
 *
 * The commands are thin: they resolve passphrases (option file, env, or a hidden prompt) and
 * call the plain functions below, which tests call directly. `keySubCommands` is exported so
 * the server-side subcommands (register, list, retire) can join the same `key` group:
 *   subCommands: { ...keySubCommands, register, list, retire }
 */
import { defineCommand } from "citty";
import {
  changePassphrase,
  createKeyfile,
  readKeyfileInfo,
  rotateKeyfile,
  type KdfType,
  type KeyringInfo,
  type ScryptParams,
} from "../keys/index.ts";
import { NEW_PASSPHRASE_ENV, obtainPassphrase, PASSPHRASE_ENV } from "../keys/passphrase.ts";
import { UsageError } from "../util/errors.ts";
import { nodeArgs } from "./common.ts";
import { outputFormatArg, parseOutputFormat, printResult, table } from "./output.ts";

// ---------------------------------------------------------------------------------------------
// Plain functions (what the commands do, minus argument parsing and prompting)

export interface KeyCreateOptions {
  kdf?: KdfType;
  passphrase?: string;
  scrypt?: Partial<ScryptParams>;
}

export async function keyCreate(file: string, options: KeyCreateOptions = {}): Promise<KeyringInfo> {
  const keyring = await createKeyfile(file, options);
  return keyring.info;
}

export function keyShow(file: string): KeyringInfo {
  return readKeyfileInfo(file);
}

export interface KeyChangePassphraseOptions {
  /** Current passphrase (ignored when the keyfile has kdf none). */
  passphrase?: string;
  newPassphrase?: string;
  /** kdf for the rewritten file: scrypt (default) or none. */
  kdf?: KdfType;
  scrypt?: Partial<ScryptParams>;
}

export async function keyChangePassphrase(file: string, options: KeyChangePassphraseOptions): Promise<KeyringInfo> {
  return changePassphrase(file, options.passphrase, { kdf: options.kdf, passphrase: options.newPassphrase, scrypt: options.scrypt });
}

export async function keyRotate(file: string, options: { passphrase?: string } = {}): Promise<{ keyId: number; info: KeyringInfo }> {
  return rotateKeyfile(file, options.passphrase);
}

// ---------------------------------------------------------------------------------------------
// Rendering

export function renderKeyInfo(info: KeyringInfo): string {
  const kdf = info.kdf === "scrypt" && info.scrypt ? `scrypt (N=${info.scrypt.n}, r=${info.scrypt.r}, p=${info.scrypt.p})` : "none (unencrypted keyfile)";
  const head = table(
    ["keyfile", info.path],
    [
      ["fingerprint", info.fingerprint],
      ["kdf", kdf],
      ["created", info.created],
      ["modified", info.modified],
    ],
  );
  const keys = table(
    ["DATA KEY ID", "STATE", "CREATED", "SEALS NEW BLOBS"],
    info.dataKeys.map((k) => [k.id, k.state, k.created, k.sealing ? "yes" : "no"]),
  );
  return `${head}\n\n${keys}`;
}

// ---------------------------------------------------------------------------------------------
// Commands

const fileArg = { file: { type: "positional", description: "keyfile path", required: true } } as const;
const passphraseFileArg = {
  "passphrase-file": { type: "string" as const, description: `read the passphrase from the first line of this file (else env ${PASSPHRASE_ENV}, else a prompt)` },
};

function parseKdf(value: unknown): KdfType {
  if (value === undefined || value === "scrypt") return "scrypt";
  if (value === "none") return "none";
  throw new UsageError(`--kdf: expected scrypt or none, got '${value}'`);
}

function currentPassphrase(file: string, passphraseFile: string | undefined): Promise<string | undefined> {
  if (readKeyfileInfo(file).kdf === "none") return Promise.resolve(undefined);
  return obtainPassphrase({ keyfile: file, purpose: "current", envVar: PASSPHRASE_ENV, file: passphraseFile, fileOption: "--passphrase-file" });
}

const create = defineCommand({
  meta: { name: "create", description: "Create a new keyfile (keyring with a digest key and a first data key)" },
  args: {
    ...fileArg,
    kdf: { type: "string", description: "scrypt (default): protect with a passphrase; none: unencrypted, for automation", default: "scrypt" },
    ...passphraseFileArg,
    ...outputFormatArg,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const kdf = parseKdf(args.kdf);
    const passphrase =
      kdf === "scrypt"
        ? await obtainPassphrase({ keyfile: args.file, purpose: "new", envVar: PASSPHRASE_ENV, file: args["passphrase-file"], fileOption: "--passphrase-file" })
        : undefined;
    const info = await keyCreate(args.file, { kdf, passphrase });
    printResult(info, format, (i) =>
      [
        `created keyfile ${i.path} (kdf ${i.kdf})`,
        `fingerprint ${i.fingerprint}`,
        `Keep a copy of this keyfile${i.kdf === "scrypt" ? " and its passphrase" : ""} in a safe place: without it, encrypted backups cannot be restored.`,
      ].join("\n"),
    );
  },
});

const show = defineCommand({
  meta: { name: "show", description: "Show a keyfile's fingerprint, kdf and data keys (no secrets; no passphrase needed)" },
  args: { ...fileArg, ...outputFormatArg },
  run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    printResult(keyShow(args.file), format, renderKeyInfo);
  },
});

const changePassphraseCommand = defineCommand({
  meta: { name: "change-passphrase", description: "Re-wrap the keyring under a new passphrase (keys and fingerprint stay the same)" },
  args: {
    ...fileArg,
    kdf: { type: "string", description: "kdf of the rewritten keyfile: scrypt (default) or none", default: "scrypt" },
    ...passphraseFileArg,
    "new-passphrase-file": {
      type: "string",
      description: `read the new passphrase from the first line of this file (else env ${NEW_PASSPHRASE_ENV}, else a prompt)`,
    },
    ...outputFormatArg,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const kdf = parseKdf(args.kdf);
    const passphrase = await currentPassphrase(args.file, args["passphrase-file"]);
    const newPassphrase =
      kdf === "scrypt"
        ? await obtainPassphrase({
            keyfile: args.file,
            purpose: "new",
            envVar: NEW_PASSPHRASE_ENV,
            file: args["new-passphrase-file"],
            fileOption: "--new-passphrase-file",
          })
        : undefined;
    const info = await keyChangePassphrase(args.file, { passphrase, newPassphrase, kdf });
    printResult(info, format, (i) => `changed the passphrase of keyfile ${i.path} (kdf ${i.kdf}); fingerprint unchanged: ${i.fingerprint}`);
  },
});

const rotate = defineCommand({
  meta: { name: "rotate", description: "Add a new data key that seals new backups; older data keys still decrypt" },
  args: { ...fileArg, ...passphraseFileArg, ...outputFormatArg },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const passphrase = await currentPassphrase(args.file, args["passphrase-file"]);
    const result = await keyRotate(args.file, { passphrase });
    printResult(result, format, (r) => `keyfile ${r.info.path}: data key ${r.keyId} now seals new backups; fingerprint unchanged: ${r.info.fingerprint}`);
  },
});

/** The client-side `key` subcommands; the server-side ones are added beside these. */
export const keySubCommands = {
  create,
  show,
  "change-passphrase": changePassphraseCommand,
  rotate,
};

// ---------------------------------------------------------------------------------------------
// Server side: the key fingerprints this node accepts backups from (node state database,
// as root@pam, audited; the same functions serve /api/v1/keys). Loaded lazily so the client
// commands above never load the state database code.

async function serverSide() {
  const [{ withAdminSession }, keys] = await Promise.all([import("./admin-session.ts"), import("../keys-server/registered-keys.ts")]);
  return { withAdminSession, keys };
}

type ServerKey = import("../keys-server/registered-keys.ts").RegisteredKey;

function renderServerKeys(list: ServerKey[]): string {
  if (list.length === 0) return "no key fingerprints are registered: encrypted backups are refused until one is (ironcore-backup key register <fingerprint>)";
  return table(
    ["FINGERPRINT", "STATE", "REGISTERED", "BY", "COMMENT"],
    list.map((k) => [k.fingerprint, k.state === "retired" ? `retired ${k.retired}` : "active", k.registered, k.registeredBy, k.comment ?? ""]),
  );
}

const register = defineCommand({
  meta: { name: "register", description: "Server: accept backups encrypted with the key of this fingerprint (from `key show` on the client)" },
  args: {
    fingerprint: { type: "positional", description: "key fingerprint (32 hex pairs joined by ':')", required: true },
    comment: { type: "string", description: "free text, e.g. which host or keyfile this is" },
    ...nodeArgs,
    ...outputFormatArg,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const { withAdminSession, keys } = await serverSide();
    const r = await withAdminSession(args, (s) =>
      s.change("key.register", args.fingerprint.toLowerCase(), () => keys.registerKey(s.db, args.fingerprint, { comment: args.comment, by: "root@pam" })),
    );
    printResult(r, format, (x) =>
      x.change === "registered" ? `registered key ${x.key.fingerprint}` : x.change === "reactivated" ? `key ${x.key.fingerprint} was retired and is active again` : `key ${x.key.fingerprint} was already registered`,
    );
  },
});

const list = defineCommand({
  meta: { name: "list", description: "Server: list the registered key fingerprints (active and retired)" },
  args: { ...nodeArgs, ...outputFormatArg },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const { withAdminSession, keys } = await serverSide();
    printResult(await withAdminSession(args, (s) => keys.listKeys(s.db)), format, renderServerKeys);
  },
});

const retire = defineCommand({
  meta: { name: "retire", description: "Server: refuse new backups with this key; snapshots made with it stay readable" },
  args: {
    fingerprint: { type: "positional", description: "key fingerprint", required: true },
    ...nodeArgs,
    ...outputFormatArg,
  },
  async run({ args }) {
    const format = parseOutputFormat(args["output-format"]);
    const { withAdminSession, keys } = await serverSide();
    const k = await withAdminSession(args, (s) => s.change("key.retire", args.fingerprint.toLowerCase(), () => keys.retireKey(s.db, args.fingerprint, { by: "root@pam" })));
    printResult(k, format, (x) => `retired key ${x.fingerprint} (${x.retired}): new backups with it are refused`);
  },
});

export default defineCommand({
  meta: { name: "key", description: "Manage encryption keyfiles (client side) and the key fingerprints this server accepts (register, list, retire)" },
  subCommands: { ...keySubCommands, register, list, retire },
});
