/**
 * Where the client commands get the server, credentials and key from: flags first, then the
 * environment (IBS_REPOSITORY, IBS_PASSWORD = the user's password or the token's secret,
 * IBS_FINGERPRINT, IBS_KEYFILE, IBS_KEY_PASSPHRASE), then a prompt on a terminal.
 */
import { loadKeyfile, readKeyfileInfo } from "../keys/index.ts";
import { defaultPassphraseIo, obtainPassphrase, PASSPHRASE_ENV, readPassphraseFile } from "../keys/passphrase.ts";
import { UsageError } from "../util/errors.ts";
import { CryptConfig, type ClientCryptMode, type CryptIdentity } from "./crypt.ts";
import { connect, type ApiClient } from "./http.ts";
import { parseRepository, type Repository } from "./repository.ts";
import { apiTransport, type Transport } from "./transport.ts";

export interface ConnectionArgs {
  repository?: string;
  fingerprint?: string;
  "password-file"?: string;
}

export interface KeyArgs {
  keyfile?: string;
  "crypt-mode"?: string;
  "passphrase-file"?: string;
}

/** citty definitions of the options every client command shares. */
export const connectionArgDefs = {
  repository: { type: "string" as const, description: "[user@realm[!token]@]host[:port]:store (env IBS_REPOSITORY)" },
  fingerprint: { type: "string" as const, description: "SHA-256 fingerprint of the server certificate to pin (env IBS_FINGERPRINT)" },
  "password-file": { type: "string" as const, description: "read the password or token secret from the first line of this file (else env IBS_PASSWORD, else a prompt)" },
  ns: { type: "string" as const, description: "namespace, e.g. prod or prod/web" },
};

export const keyArgDefs = {
  keyfile: { type: "string" as const, description: "encryption keyfile (env IBS_KEYFILE); its passphrase from --passphrase-file, IBS_KEY_PASSPHRASE or a prompt" },
  "passphrase-file": { type: "string" as const, description: "read the keyfile passphrase from the first line of this file" },
};

export interface Connected {
  repo: Repository;
  api: ApiClient;
  transport: Transport;
}

export function repositoryFrom(args: ConnectionArgs, env: Record<string, string | undefined> = process.env): Repository {
  const spec = args.repository ?? env.IBS_REPOSITORY;
  if (!spec) throw new UsageError("no repository given", "pass --repository user@realm[!token]@host[:port]:store or set IBS_REPOSITORY");
  const repo = parseRepository(spec);
  if (!repo.authId) throw new UsageError(`repository '${spec}' names no user or token`, "write it as user@realm[!token]@host[:port]:store, e.g. backup@ibs!host1@backup-host:8007:store1");
  return repo;
}

export async function connectRepository(args: ConnectionArgs, env: Record<string, string | undefined> = process.env): Promise<Connected> {
  const repo = repositoryFrom(args, env);
  const authId = repo.authId!;
  const isToken = authId.includes("!");
  let secret: string | undefined;
  if (args["password-file"] !== undefined) secret = readPassphraseFile(args["password-file"], "--password-file");
  else if (env.IBS_PASSWORD) secret = env.IBS_PASSWORD;
  else {
    const io = defaultPassphraseIo();
    if (!io.interactive) {
      throw new UsageError(`no ${isToken ? "secret for token" : "password for"} ${authId}: not on a terminal, and neither IBS_PASSWORD nor --password-file is set`, "set IBS_PASSWORD or pass --password-file FILE");
    }
    secret = await io.readHidden(`${isToken ? "Secret of token" : "Password for"} ${authId}@${repo.host}: `);
  }
  const api = await connect({
    host: repo.host,
    port: repo.port,
    authId,
    fingerprint: args.fingerprint,
    env,
    ...(isToken ? { secret } : { password: secret }),
  });
  return { repo, api, transport: apiTransport(api) };
}

/** Loads the keyfile when one is given (flag or IBS_KEYFILE); undefined otherwise. */
export async function keyringFrom(args: KeyArgs, env: Record<string, string | undefined> = process.env): Promise<CryptConfig | undefined> {
  const file = args.keyfile ?? env.IBS_KEYFILE;
  if (!file) return undefined;
  const info = readKeyfileInfo(file);
  const passphrase =
    info.kdf === "none"
      ? undefined
      : await obtainPassphrase(
          { keyfile: info.path, purpose: "current", envVar: PASSPHRASE_ENV, file: args["passphrase-file"], fileOption: "--passphrase-file" },
          { ...defaultPassphraseIo(), env },
        );
  return CryptConfig.encrypt(await loadKeyfile(file, passphrase));
}

/**
 * The crypt mode of a backup: `encrypt` needs a keyfile; `none` must be asked for, so a
 * forgotten --keyfile never silently produces an unencrypted backup.
 */
export async function backupCrypt(args: KeyArgs, env: Record<string, string | undefined> = process.env): Promise<CryptConfig> {
  if (backupCryptIdentity(args, env).mode === "none") return CryptConfig.none();
  return (await keyringFrom(args, env))!;
}

/**
 * What a backup's key will be, from the arguments and the keyfile's public part (no
 * passphrase): the session can start with it while scrypt unlocks the key (runBackup).
 * Refuses what backupCrypt would refuse.
 */
export function backupCryptIdentity(args: KeyArgs, env: Record<string, string | undefined> = process.env): CryptIdentity {
  const mode = parseCryptMode(args["crypt-mode"]);
  if (mode === "none") {
    if (args.keyfile) throw new UsageError("--crypt-mode none and --keyfile contradict each other");
    return { mode };
  }
  const file = args.keyfile ?? env.IBS_KEYFILE;
  if (!file) {
    throw new UsageError("no keyfile for an encrypted backup", "pass --keyfile FILE (or set IBS_KEYFILE; create one with `ironcore-backup key create FILE`), or --crypt-mode none for an unencrypted backup");
  }
  return { mode, fingerprint: readKeyfileInfo(file).fingerprint };
}

function parseCryptMode(v: string | undefined): ClientCryptMode {
  if (v === undefined || v === "encrypt") return "encrypt";
  if (v === "none") return "none";
  throw new UsageError(`--crypt-mode: expected encrypt or none, got '${v}'`);
}

/** Every value of a repeatable option (`--exclude A --exclude B`, `--exclude=C`), in order. */
export function repeatedOption(rawArgs: readonly string[], name: string): string[] {
  const out: string[] = [];
  const flag = `--${name}`;
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === "--") break;
    if (a === flag) {
      const v = rawArgs[i + 1];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      out.push(v);
      i++;
    } else if (a.startsWith(flag + "=")) out.push(a.slice(flag.length + 1));
  }
  return out;
}

/**
 * Unlocks the keyfile and connects at the same time: scrypt (~130-300 ms) runs off the main
 * thread while TLS and login go on. Answers as soon as the connection is up, with the key still
 * being unlocked (a promise): a backup starts its session meanwhile (runBackup's
 * cryptIdentity), a restore opens its session and fetches the indexes. Only when both would ask
 * on the terminal (keyfile passphrase and password) are they done one after the other, so
 * prompts never mix.
 */
export async function connectWhileUnlocking<C>(
  unlockKey: () => Promise<C>,
  args: ConnectionArgs & KeyArgs,
  env: Record<string, string | undefined> = process.env,
): Promise<{ key: Promise<C>; connected: Connected }> {
  // scrypt's 64 MiB of scratch memory stays in the process after it is freed, until a full
  // collection hands it back: without one it overlapped the backup or restore that starts next
  // (measured: the unchanged re-backup's peak 146-154 -> 131 MiB; the collection takes ~10-20 ms).
  const unlock = () =>
    unlockKey().then((c) => {
      Bun.gc(true);
      return c;
    });
  const keyMayPrompt = (args.keyfile ?? env.IBS_KEYFILE) !== undefined && !env[PASSPHRASE_ENV] && args["passphrase-file"] === undefined;
  const passwordMayPrompt = args["password-file"] === undefined && !env.IBS_PASSWORD;
  if (keyMayPrompt && passwordMayPrompt) {
    const key = await unlock();
    return { key: Promise.resolve(key), connected: await connectRepository(args, env) };
  }
  const key = unlock();
  key.catch(() => {}); // a failed connection wins; the key's failure is seen by whoever awaits it
  return { key, connected: await connectRepository(args, env) };
}
