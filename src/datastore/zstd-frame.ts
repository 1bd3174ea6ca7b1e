/**
 * Reads the declared content size of a zstd frame header, so a decoder can refuse a
 * "decompression bomb" before allocating. Bun's and node:zlib's encoders always write the
 * size (measured in bun-probe.md), so a frame without it is treated as foreign.
 * Layout per RFC 8878 section 3.1.1.1.
 */

const ZSTD_MAGIC = 0xfd2fb528;

/** Returns the content size, or a string describing why it cannot be read. */
export function zstdFrameContentSize(frame: Uint8Array): number | string {
  if (frame.length < 6) return `zstd frame too short (${frame.length} bytes)`;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint32(0, true) !== ZSTD_MAGIC) return "not a zstd frame (bad frame magic)";
  const descriptor = frame[4]!;
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictIdFlag = descriptor & 3;
  let pos = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][dictIdFlag]!;
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
  if (fcsBytes === 0) return "zstd frame does not declare its content size";
  if (pos + fcsBytes > frame.length) return "zstd frame header truncated";
  switch (fcsBytes) {
    case 1:
      return frame[pos]!;
    case 2:
      return view.getUint16(pos, true) + 256;
    case 4:
      return view.getUint32(pos, true);
    default:
      return Number(view.getBigUint64(pos, true));
  }
}
