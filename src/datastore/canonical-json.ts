/**
 * Canonical JSON for signatures: object keys sorted by code unit, no whitespace, only
 * integers as numbers, no nulls. Properties whose value is undefined are dropped, exactly as
 * JSON.stringify drops them, so a manifest signs the same before and after a round trip.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) throw new TypeError("canonical JSON: null is not allowed");
  switch (typeof value) {
    case "string":
    case "boolean":
      return JSON.stringify(value);
    case "number":
      if (!Number.isSafeInteger(value)) throw new TypeError(`canonical JSON: only safe integers are allowed, got ${value}`);
      return String(value);
    case "object": {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
      const keys = Object.keys(value as object)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
    }
    default:
      throw new TypeError(`canonical JSON: ${typeof value} values are not allowed`);
  }
}
