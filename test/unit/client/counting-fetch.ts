/** A chunk fetch over blobs held in memory that logs each request and takes 1 ms (a little server latency). */
export function countingFetch(blobs: Map<string, Uint8Array>): { fetched: string[]; fetchRaw: (digest: string) => Promise<Uint8Array> } {
  const fetched: string[] = [];
  const fetchRaw = async (d: string) => {
    fetched.push(d);
    await Bun.sleep(1);
    return blobs.get(d)!.slice();
  };
  return { fetched, fetchRaw };
}
