// The failure editor's form state, and its conversion to and from the API's FailureConfig.
// Probabilities are fractions (0-1) in the API and percentages in the form.
import type { ErrorFault, FailureConfig } from "../../api/types";
import { splitLines } from "../../lib/format";

export type SimulatedStatus = ErrorFault["status"];

/** Every status the server can simulate; typed against the schema, so a change there fails the build. */
export const STATUSES: { status: SimulatedStatus; label: string }[] = [
  { status: 429, label: "Rate limited" },
  { status: 500, label: "Internal server error" },
  { status: 503, label: "Service unavailable" },
  { status: 529, label: "Overloaded" },
  { status: 502, label: "Bad gateway" },
  { status: 504, label: "Gateway timeout" },
  { status: 400, label: "Bad request" },
  { status: 401, label: "Unauthorized" },
  { status: 403, label: "Forbidden" },
  { status: 404, label: "Not found" },
  { status: 408, label: "Request timeout" },
  { status: 409, label: "Conflict" },
  { status: 413, label: "Payload too large" },
  { status: 422, label: "Unprocessable" },
];
export const RETRY_AFTER_STATUSES: SimulatedStatus[] = [429, 503, 529];

export interface ErrorRow {
  status: SimulatedStatus;
  percent: string;
  retryAfter: string;
}

export interface FailureForm {
  seed: string;
  errors: ErrorRow[];
  timeoutPercent: string;
  timeoutMode: "delay" | "hang";
  timeoutDelayMs: string;
  latencyMs: string;
  jitterMs: string;
  truncatePercent: string;
  truncateAfterChunks: string;
  chunkDelayMs: string;
  rpm: string;
  tpm: string;
  ipAllow: string;
  ipBlock: string;
  allowHeaderFaults: boolean;
}

const percent = (fraction: number) => String(Number((fraction * 100).toFixed(4)));
const text = (value: number | null | undefined) => (value === null || value === undefined ? "" : String(value));

export function toForm(config: FailureConfig): FailureForm {
  return {
    seed: text(config.seed),
    errors: (config.errors ?? []).map((error) => ({
      status: error.status,
      percent: percent(error.rate),
      retryAfter: text(error.retry_after_s),
    })),
    timeoutPercent: percent(config.timeout?.rate ?? 0),
    timeoutMode: config.timeout?.mode ?? "delay",
    timeoutDelayMs: text(config.timeout?.delay_ms ?? 30_000),
    latencyMs: text(config.latency?.ms ?? 0),
    jitterMs: text(config.latency?.jitter_ms ?? 0),
    truncatePercent: percent(config.stream?.truncate_rate ?? 0),
    truncateAfterChunks: text(config.stream?.truncate_after_chunks ?? 3),
    chunkDelayMs: text(config.stream?.chunk_delay_ms ?? 0),
    rpm: text(config.rate_limit?.rpm),
    tpm: text(config.rate_limit?.tpm),
    ipAllow: (config.ip_allow ?? []).join("\n"),
    ipBlock: (config.ip_block ?? []).join("\n"),
    allowHeaderFaults: config.allow_header_faults ?? false,
  };
}

export const EMPTY_FORM = toForm({} as FailureConfig);

type Errors = Record<string, string>;

function whole(errors: Errors, key: string, value: string, min: number, max: number, label: string): number | null {
  if (value.trim() === "") return null;
  const number = Number(value);
  if (!Number.isInteger(number) || number < min || number > max) {
    errors[key] = `${label} is a whole number from ${min.toLocaleString()} to ${max.toLocaleString()}.`;
    return null;
  }
  return number;
}

function fraction(errors: Errors, key: string, value: string): number {
  if (value.trim() === "") return 0;
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0 || number > 100) {
    errors[key] = "Use a percentage from 0 to 100.";
    return 0;
  }
  return Number((number / 100).toFixed(6));
}

/** The FailureConfig the form describes, and the problems found in it (keyed like the API's). */
export function fromForm(form: FailureForm): { config: FailureConfig; errors: Errors } {
  const errors: Errors = {};
  const seen = new Set<number>();
  const rows = form.errors.map((row, index) => {
    if (seen.has(row.status)) errors[`errors.${index}.status`] = `${row.status} is already in the list.`;
    seen.add(row.status);
    let retry: number | null = null;
    if (row.retryAfter.trim() !== "") {
      retry = Number(row.retryAfter);
      if (!Number.isFinite(retry) || retry < 0 || retry > 3600) {
        errors[`errors.${index}.retry_after_s`] = "From 0 to 3600 seconds.";
        retry = null;
      }
    }
    return { status: row.status, rate: fraction(errors, `errors.${index}.rate`, row.percent), retry_after_s: retry };
  });
  const total = rows.reduce((sum, row) => sum + row.rate, 0);
  if (total > 1 + 1e-9)
    errors.errors = `The error chances add up to ${Math.round(total * 100)}%; at most 100% of requests can fail.`;

  const config: FailureConfig = {
    seed: whole(errors, "seed", form.seed, -(2 ** 53) + 1, 2 ** 53 - 1, "The seed"),
    errors: rows,
    timeout: {
      rate: fraction(errors, "timeout.rate", form.timeoutPercent),
      mode: form.timeoutMode,
      delay_ms: whole(errors, "timeout.delay_ms", form.timeoutDelayMs, 0, 3_600_000, "The delay") ?? 30_000,
    },
    latency: {
      ms: whole(errors, "latency.ms", form.latencyMs, 0, 600_000, "The latency") ?? 0,
      jitter_ms: whole(errors, "latency.jitter_ms", form.jitterMs, 0, 600_000, "The jitter") ?? 0,
    },
    stream: {
      truncate_rate: fraction(errors, "stream.truncate_rate", form.truncatePercent),
      truncate_after_chunks:
        whole(errors, "stream.truncate_after_chunks", form.truncateAfterChunks, 0, 1_000_000, "The chunk count") ?? 3,
      chunk_delay_ms: whole(errors, "stream.chunk_delay_ms", form.chunkDelayMs, 0, 60_000, "The chunk delay") ?? 0,
    },
    rate_limit: {
      rpm: whole(errors, "rate_limit.rpm", form.rpm, 1, 10_000_000, "Requests per minute"),
      tpm: whole(errors, "rate_limit.tpm", form.tpm, 1, 10_000_000_000, "Tokens per minute"),
    },
    ip_allow: splitLines(form.ipAllow),
    ip_block: splitLines(form.ipBlock),
    allow_header_faults: form.allowHeaderFaults,
  };
  return { config, errors };
}

/** A one-line account of what is switched on, for the page header. */
export function summarise(config: FailureConfig): string[] {
  const parts: string[] = [];
  for (const error of config.errors ?? [])
    if (error.rate > 0) parts.push(`${Math.round(error.rate * 1000) / 10}% ${error.status}`);
  if ((config.timeout?.rate ?? 0) > 0) parts.push(`${Math.round((config.timeout?.rate ?? 0) * 1000) / 10}% timeouts`);
  if ((config.latency?.ms ?? 0) > 0 || (config.latency?.jitter_ms ?? 0) > 0)
    parts.push(`+${config.latency?.ms ?? 0} ms latency`);
  if ((config.stream?.truncate_rate ?? 0) > 0) parts.push("truncated streams");
  if ((config.stream?.chunk_delay_ms ?? 0) > 0) parts.push("slow streams");
  if (config.rate_limit?.rpm || config.rate_limit?.tpm) parts.push("rate limit");
  if ((config.ip_allow ?? []).length || (config.ip_block ?? []).length) parts.push("IP filter");
  if (config.allow_header_faults) parts.push("header faults");
  return parts;
}
