// The cache settings form: text fields as typed, turned into the config the API takes, with the
// checks that need no server. The server's own checks (the ignore-path grammar) come back as 422s.
import type { CacheConfig, CacheMode, CacheRepeats, CacheTiming } from "./types";

export const MAX_TTL_SECONDS = 315_360_000; // ten years
export const MAX_IGNORE_PATHS = 50;

export const MODES: { value: CacheMode; label: string; description: string }[] = [
  {
    value: "record",
    label: "Record",
    description: "Replay what is stored; send misses upstream and store the answer.",
  },
  {
    value: "replay",
    label: "Replay",
    description: "Never contact the provider. A miss fails with replay_miss and the nearest recording.",
  },
  { value: "refresh", label: "Refresh", description: "Always ask the provider; a success replaces the recording." },
  { value: "off", label: "Off", description: "Pass every request through; the cache is not read or written." },
];

export const REPEATS: { value: CacheRepeats; label: string }[] = [
  { value: "same", label: "Same answer" },
  { value: "sequence", label: "In sequence" },
];

export const TIMINGS: { value: CacheTiming; label: string }[] = [
  { value: "instant", label: "Instant" },
  { value: "recorded", label: "As recorded" },
];

export interface CacheForm {
  mode: CacheMode;
  repeats: CacheRepeats;
  timing: CacheTiming;
  ttl: string;
  ignore: string;
}

export function toCacheForm(config: CacheConfig): CacheForm {
  return {
    mode: config.mode,
    repeats: config.repeats,
    timing: config.timing,
    ttl: config.ttl_seconds === null ? "" : String(config.ttl_seconds),
    ignore: config.ignore.join("\n"),
  };
}

/** One path per line; blank lines dropped. Commas are not separators: a quoted name may hold one. */
export function ignoreLines(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
}

export function fromCacheForm(form: CacheForm): { config: CacheConfig; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const ttlText = form.ttl.trim();
  const ttl = ttlText ? Number(ttlText) : null;
  if (ttl !== null && (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS))
    errors.ttl_seconds = `Use whole seconds from 1 to ${MAX_TTL_SECONDS.toLocaleString("en-US")}, or leave it empty.`;
  const ignore = ignoreLines(form.ignore);
  if (ignore.length > MAX_IGNORE_PATHS) errors.ignore = `At most ${MAX_IGNORE_PATHS} paths.`;
  return {
    config: { mode: form.mode, repeats: form.repeats, timing: form.timing, ttl_seconds: ttl, ignore },
    errors,
  };
}

/**
 * The server's field errors keyed by config field. A 422 may name `cache.ttl_seconds`,
 * `cache.ignore.2` (the third line) or only `cache`; the path in the message is what points a person
 * at the line, so item errors are prefixed with their line number.
 */
export function cacheFieldErrors(server: Record<string, string>, lines: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [field, message] of Object.entries(server)) {
    const parts = field.split(".");
    if (parts[0] !== "cache") continue;
    const name = parts[1] ?? "";
    const index = Number(parts[2]);
    const text =
      name === "ignore" && Number.isInteger(index)
        ? `Line ${index + 1}${lines[index] ? ` (${lines[index]})` : ""}: ${message}`
        : message;
    result[name] = result[name] ? `${result[name]} ${text}` : text;
  }
  return result;
}
