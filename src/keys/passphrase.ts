/**
 * Where a keyfile passphrase comes from, in this order:
 *   1. a passphrase file given on the command line (first line; the newline is dropped),
 *   2. an environment variable (IBS_KEY_PASSPHRASE, or IBS_KEY_NEW_PASSPHRASE for a new one),
 *   3. a hidden prompt on the terminal (asked twice when setting a passphrase),
 * and otherwise a clear error that says how to give one. The passphrase is never echoed,
 * logged or put into an error message.
 */
import fs from "node:fs";
import { errorMessage, IbsError, UsageError } from "../util/errors.ts";

export const PASSPHRASE_ENV = "IBS_KEY_PASSPHRASE";
export const NEW_PASSPHRASE_ENV = "IBS_KEY_NEW_PASSPHRASE";

export interface PassphraseRequest {
  /** Keyfile the passphrase is for (named in prompts and errors). */
  keyfile: string;
  /** "current" unlocks an existing keyfile; "new" sets one (confirmed at the prompt). */
  purpose: "current" | "new";
  /** Environment variable to read. */
  envVar: string;
  /** Value of the passphrase-file option, if given, and the option's name for messages. */
  file?: string;
  fileOption: string;
}

/** What obtainPassphrase touches, injectable for tests. */
export interface PassphraseIo {
  env: Record<string, string | undefined>;
  interactive: boolean;
  readHidden(prompt: string): Promise<string>;
  say(text: string): void;
}

export function defaultPassphraseIo(): PassphraseIo {
  return {
    env: process.env,
    interactive: Boolean(process.stdin.isTTY && process.stderr.isTTY),
    readHidden: readHiddenLine,
    say: (text) => process.stderr.write(text + "\n"),
  };
}

const CONFIRM_ATTEMPTS = 3;

export async function obtainPassphrase(req: PassphraseRequest, io: PassphraseIo = defaultPassphraseIo()): Promise<string> {
  if (req.file !== undefined) return readPassphraseFile(req.file, req.fileOption);
  const fromEnv = io.env[req.envVar];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  if (!io.interactive) {
    throw new UsageError(
      `no ${req.purpose === "new" ? "new " : ""}passphrase for keyfile ${req.keyfile}: not on a terminal, and neither ${req.envVar} nor ${req.fileOption} is set`,
      `set ${req.envVar}, pass ${req.fileOption} FILE, or run the command on a terminal to be asked`,
    );
  }
  if (req.purpose === "current") return io.readHidden(`Passphrase for ${req.keyfile}: `);
  for (let attempt = 1; ; attempt++) {
    const first = await io.readHidden(`New passphrase for ${req.keyfile}: `);
    const second = await io.readHidden("Repeat the new passphrase: ");
    if (first === second) return first;
    if (attempt >= CONFIRM_ATTEMPTS) throw new UsageError(`the passphrases for keyfile ${req.keyfile} did not match (${CONFIRM_ATTEMPTS} attempts)`);
    io.say("The passphrases did not match; try again.");
  }
}

export function readPassphraseFile(file: string, option: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err: any) {
    const why = err?.code === "ENOENT" ? "no such file" : errorMessage(err);
    throw new UsageError(`${option} ${file}: cannot read it (${why})`);
  }
  const line = text.split(/\r?\n/, 1)[0];
  if (line === "") throw new UsageError(`${option} ${file}: the first line is empty; put the passphrase on it`);
  return line;
}

export type LineStatus = "pending" | "done" | "cancelled";

/**
 * Applies raw terminal input to a hidden line being typed: Enter ends it, Backspace removes
 * the last character, Ctrl-U clears, Ctrl-C (and Ctrl-D on an empty line) cancels, escape
 * sequences (arrow keys) and other control characters are ignored.
 */
export function applyKeystrokes(value: string, input: string): { value: string; status: LineStatus } {
  let chars = [...value];
  // By code point, so Backspace removes a whole emoji, not half of a surrogate pair.
  for (const ch of input) {
    if (ch === "\r" || ch === "\n") return { value: chars.join(""), status: "done" };
    if (ch === "\u0003") return { value: "", status: "cancelled" };
    if (ch === "\u0004") {
      if (chars.length === 0) return { value: "", status: "cancelled" };
      continue;
    }
    if (ch === "\u007f" || ch === "\b") chars.pop();
    else if (ch === "\u0015") chars = [];
    else if (ch === "\u001b") break; // an escape sequence arrives whole in one read; drop it
    else if (ch >= " ") chars.push(ch);
  }
  return { value: chars.join(""), status: "pending" };
}

/** Reads one line from the terminal without echo (raw mode), prompting on stderr. */
function readHiddenLine(prompt: string): Promise<string> {
  const stdin = process.stdin;
  return new Promise((resolve, reject) => {
    let value = "";
    const finish = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
    };
    const onData = (chunk: Buffer | string) => {
      const r = applyKeystrokes(value, chunk.toString());
      value = r.value;
      if (r.status === "pending") return;
      finish();
      if (r.status === "done") resolve(r.value);
      else reject(new IbsError("passphrase entry cancelled", 130));
    };
    // Raw mode (no echo) before the prompt appears, so nothing typed after it is echoed.
    stdin.setRawMode(true);
    stdin.on("data", onData);
    stdin.resume();
    process.stderr.write(prompt);
  });
}
