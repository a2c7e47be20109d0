// Number, money, time and text formatting used across the pages.

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

export function formatCount(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return Math.abs(value) >= 100_000 ? compact.format(value) : integer.format(value);
}

export function formatRate(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  if (value >= 100) return compact.format(value);
  return value >= 10 ? value.toFixed(0) : value.toFixed(1);
}

/** 0.1234 -> "12.3%"; rates are fractions in the API. */
export function formatPercent(fraction: number | null | undefined, digits = 1): string {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) return "—";
  const percent = fraction * 100;
  if (percent === 0 || percent === 100) return `${percent.toFixed(0)}%`;
  return `${percent.toFixed(digits)}%`;
}

/** Dollars: cents from ten cents up; below that two significant digits, so tiny LLM costs still show. */
export function formatUsd(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  if (value === 0) return "$0.00";
  const abs = Math.abs(value);
  const digits = abs >= 0.1 ? 2 : Math.min(8, 1 - Math.floor(Math.log10(abs)));
  return `${value < 0 ? "-" : ""}$${abs.toFixed(digits)}`;
}

export function formatMs(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  if (value >= 10_000) return `${(value / 1000).toFixed(1)} s`;
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  return value >= 10 ? `${value.toFixed(0)} ms` : `${value.toFixed(1)} ms`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

/** Today's rows show only the time; older ones the date too. */
export function formatTimestamp(iso: string, now = new Date()): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toDateString() === now.toDateString() ? timeFormat.format(date) : dateTimeFormat.format(date);
}

export function formatFullTimestamp(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** Value of an <input type="datetime-local"> for a date, in local time. */
export function toLocalInput(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** An <input type="datetime-local"> value (local time) as an ISO instant, or undefined when empty. */
export function fromLocalInput(value: string): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/**
 * Fills a provider snippet template. Templates use Python's str.format: `{name}` is a placeholder and
 * `{{` / `}}` are literal braces.
 */
export function renderSnippet(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{|\}\}|\{(\w+)\}/g, (match, name: string | undefined) => {
    if (match === "{{") return "{";
    if (match === "}}") return "}";
    return name !== undefined && name in values ? (values[name] ?? match) : match;
  });
}

/** Where a proxy answers: its port on the host the browser reached the control plane by. */
export function proxyUrl(port: number, location: Pick<Location, "hostname"> = window.location): string {
  const host = location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname || "127.0.0.1";
  return `http://${host}:${port}`;
}

export function splitLines(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((line) => line.trim())
    .filter(Boolean);
}
