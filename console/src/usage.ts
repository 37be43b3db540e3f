// Pure helpers of the Payables screens: whole-number parsing, periods, the window banner, the change list.

/** Largest usage the API takes (10^15 impressions). */
export const MAX_USAGE = 1_000_000_000_000_000;

export type Parsed = { ok: true; value: number | null } | { ok: false; message: string };

const PLAIN = /^\d+$/;
const GROUPED = /^\d{1,3}(,\d{3})+$/;

/**
 * What a person typed in a Usage cell, as the API wants it: a whole number of impressions ≥ 0.
 * "1234567" and "1,234,567" (thousands separators in their places) are accepted; decimals, negatives,
 * text, "1,234.567" or misplaced separators are refused with the reason. Empty means "not reported" (null).
 */
export function parseWholeNumber(text: string): Parsed {
  const value = text.trim().replace(/[\s\u00a0\u202f]/g, "");
  if (value === "") return { ok: true, value: null };
  if (value.startsWith("-")) return { ok: false, message: "Usage cannot be negative." };
  if (/[.]/.test(value) && /^[\d,]*\.\d*$/.test(value)) {
    return { ok: false, message: "Usage is a whole number of impressions: no decimals (write 1,234,567, not 1,234.567)." };
  }
  if (!PLAIN.test(value) && !GROUPED.test(value)) {
    return /^[\d,]+$/.test(value)
      ? { ok: false, message: "Put the thousands separators every three digits, as in 1,234,567." }
      : { ok: false, message: "Usage is a whole number of impressions, like 1,234,567." };
  }
  const digits = value.replace(/,/g, "");
  const number = Number(digits);
  if (!Number.isSafeInteger(number) || number > MAX_USAGE) return { ok: false, message: "Usage is at most 1,000,000,000,000,000 impressions." };
  return { ok: true, value: number };
}

export const formatUsage = (n: number | null | undefined) => (n == null ? "" : n.toLocaleString("en-US"));

const PERIOD = /^(\d{4})-(0[1-9]|1[0-2])$/;
export const isPeriod = (text: string) => PERIOD.test(text);

export function addMonths(period: string, months: number): string {
  const [y, m] = period.split("-").map(Number) as [number, number];
  const d = new Date(Date.UTC(y, m - 1 + months, 1));
  return d.toISOString().slice(0, 7);
}

export function periodName(period: string): string {
  const [y, m] = period.split("-").map(Number) as [number, number];
  return new Date(Date.UTC(y, m - 1, 1)).toLocaleString("en-GB", { month: "long", year: "numeric", timeZone: "UTC" });
}

const monthName = (period: string) => periodName(period).split(" ")[0]!;

/** "5 November 23:59 UTC" for an instant (the last minute before `iso` when `minus` is set). */
export function dayTime(iso: string, minusMinute = false): string {
  const at = new Date(new Date(iso).getTime() - (minusMinute ? 60_000 : 0));
  const day = at.toLocaleString("en-GB", { day: "numeric", month: "long", timeZone: "UTC" });
  const time = at.toLocaleString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: "UTC" });
  return `${day} ${time} UTC`;
}

export interface UsageWindow {
  opens_at: string;
  closes_at: string;
  state: "not_open" | "open" | "closed";
}

/** The reporting window in the buyer's words. */
export function windowBanner(period: string, window: UsageWindow): string {
  const name = periodName(period);
  if (window.state === "open") return `${name} usage is due by ${dayTime(window.closes_at, true)}.`;
  if (window.state === "not_open") {
    return `${name} usage can be reported from ${dayTime(window.opens_at)} until ${dayTime(window.closes_at, true)}.`;
  }
  return `${name} is closed — add missed ${monthName(period)} impressions to ${monthName(addMonths(period, 1))}'s report.`;
}

export interface Change {
  key: string;
  label: string;
  before: number | null;
  after: number;
}

/**
 * The rows a Save would send: every edited row whose value parses and differs from the stored one, in
 * table order. An emptied cell is not a change (the API cannot unset usage); invalid cells are counted apart.
 */
export function diffUsage<R>(
  rows: readonly R[],
  keyOf: (row: R) => string,
  labelOf: (row: R) => string,
  usageOf: (row: R) => number | null,
  edits: ReadonlyMap<string, string>,
): { changes: Change[]; invalid: string[] } {
  const changes: Change[] = [];
  const invalid: string[] = [];
  if (edits.size === 0) return { changes, invalid };
  for (const row of rows) {
    const key = keyOf(row);
    const text = edits.get(key);
    if (text === undefined) continue;
    const parsed = parseWholeNumber(text);
    if (!parsed.ok) invalid.push(key);
    else if (parsed.value !== null && parsed.value !== usageOf(row)) {
      changes.push({ key, label: labelOf(row), before: usageOf(row), after: parsed.value });
    }
  }
  return { changes, invalid };
}

/** A CSV field, quoted when it must be (RFC 4180). */
export function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function saveFile(content: string | Blob, name: string, type = "text/csv"): void {
  const url = URL.createObjectURL(typeof content === "string" ? new Blob([content], { type }) : content);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(url);
}

/** A usage CSV (header and rows, CRLF, quoted where needed) in the format the upload accepts. */
export function toCsv(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
}
