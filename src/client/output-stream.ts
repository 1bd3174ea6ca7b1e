/** Writing restored bytes to stdout with backpressure (a pipe into another program may be slow). */
export interface ByteOutput {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export function stdoutOutput(stream: NodeJS.WritableStream = process.stdout): ByteOutput {
  return {
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        const ok = stream.write(bytes, (err) => (err ? reject(err) : undefined));
        if (ok) resolve();
        else stream.once("drain", resolve);
      }),
    close: () => new Promise<void>((resolve) => (stream === process.stdout ? resolve() : stream.end(resolve))),
  };
}
