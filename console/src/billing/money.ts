/**
 * Money as the API writes it (decimal strings like "4050.00") in integer minor units, so sums and differences
 * are exact. The number of decimals is the currency's, read from an amount the API formatted.
 */
export const decimalsOf = (formatted: string): number => formatted.split(".")[1]?.length ?? 0;

/** "12.5" → 1250 with 2 decimals; null when it is not a plain decimal with at most `decimals` places. */
export function toMinor(text: string, decimals: number): number | null {
  const match = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text.trim());
  if (!match) return null;
  const [, sign, whole, fraction = ""] = match;
  if (fraction.length > decimals) return null;
  const minor = Number(whole) * 10 ** decimals + Number(fraction.padEnd(decimals, "0") || "0");
  return sign ? -minor : minor;
}

export function fromMinor(minor: number, decimals: number): string {
  const sign = minor < 0 ? "-" : "";
  const digits = String(Math.abs(minor)).padStart(decimals + 1, "0");
  return decimals ? `${sign}${digits.slice(0, -decimals)}.${digits.slice(-decimals)}` : `${sign}${digits}`;
}
