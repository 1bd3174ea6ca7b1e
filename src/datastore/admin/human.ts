/** Sizes and counts the way `df -h` and `df -hi` print them: powers of 1024, one decimal below 10. */
export function formatSize(n: number, unitless = false): string {
  const units = unitless ? ["", "K", "M", "G", "T", "P", "E"] : ["B", "K", "M", "G", "T", "P", "E"];
  let value = n;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  if (i === 0) return `${n}${units[0]}`;
  // df rounds up, so a nearly full disk never looks emptier than it is
  const shown = value < 10 ? Math.ceil(value * 10) / 10 : Math.ceil(value);
  return `${value < 10 ? shown.toFixed(1) : String(shown)}${units[i]}`;
}

export function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((part / whole) * 100)}%` : "-";
}
