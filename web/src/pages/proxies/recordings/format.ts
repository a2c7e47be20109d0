// Small formatting helpers for recordings: sizes, times that may come as ISO or epoch seconds, keys.
import { formatFullTimestamp, formatTimestamp } from "../../../lib/format";
import type { Instant } from "./types";

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

export function toIso(value: Instant): string {
  return typeof value === "number" ? new Date(value * 1000).toISOString() : value;
}

export function formatInstant(value: Instant | null, fallback = "Never"): string {
  return value === null ? fallback : formatTimestamp(toIso(value));
}

export function formatFullInstant(value: Instant | null, fallback = "Never"): string {
  return value === null ? fallback : formatFullTimestamp(toIso(value));
}

/** The first characters of a 64-hex key: enough to tell entries apart at a glance. */
export function shortKey(key: string): string {
  return key.length > 12 ? `${key.slice(0, 12)}…` : key;
}

export function namespaceLabel(namespace: string): string {
  return namespace || "default";
}

export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? String(value);
}

/** Offsets are milliseconds from the start of the request. */
export function formatOffset(ms: number | null): string {
  if (ms === null) return "—";
  return ms >= 1000 ? `+${(ms / 1000).toFixed(2)} s` : `+${Math.round(ms)} ms`;
}
