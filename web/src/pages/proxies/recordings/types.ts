// Hand-typed shapes of the recordings API (issue 12, /work/spec12.md) until schema.gen.ts is
// regenerated from the backend's OpenAPI. Keep them in step with the spec, field for field.

export type CacheMode = "record" | "replay" | "refresh" | "off";
export type CacheRepeats = "same" | "sequence";
export type CacheTiming = "instant" | "recorded";

/** `ProxyRead.cache`: always the full config. */
export interface CacheConfig {
  mode: CacheMode;
  repeats: CacheRepeats;
  ignore: string[];
  timing: CacheTiming;
  ttl_seconds: number | null;
}

/** `ProxyUpdate.cache`: merged over the current config by the server. */
export type CacheConfigUpdate = Partial<CacheConfig>;

export const DEFAULT_CACHE: CacheConfig = {
  mode: "record",
  repeats: "same",
  ignore: [],
  timing: "instant",
  ttl_seconds: null,
};

/** The spec does not fix how times are sent: ISO strings like the rest of the API, or epoch seconds. */
export type Instant = string | number;

export interface EntrySummary {
  key: string;
  namespace: string; // "" is the default namespace
  occurrence: number;
  operation: string | null;
  model: string | null;
  stream: boolean;
  status: number;
  size: number;
  created_at: Instant;
  hits: number;
  last_hit_at: Instant | null;
  expires_at: Instant | null;
  expired: boolean;
  ignored: string[];
}

export interface EntryPage {
  items: EntrySummary[];
  next_cursor: string | null;
}

/** The request an entry answered, as stored: secret query params and auth headers are never kept. */
export interface CanonicalRequest {
  method: string;
  path: string;
  query: [string, string][];
  headers: Record<string, string>;
  body: unknown;
}

/** One message of an AWS event stream (Bedrock), as the API decodes it. */
export interface StreamFrame {
  event_type: string | null;
  message_type: string | null;
  payload?: unknown;
  payload_text?: string | null;
  /** The payload's base64 `bytes` member (InvokeModelWithResponseStream), decoded. */
  bytes_decoded?: unknown;
  error?: string | null;
}

export interface StreamEvent {
  offset_ms: number | null;
  data: string | null;
  data_base64: string | null;
  /** Event-stream messages this chunk completed (Bedrock); absent for text streams. */
  frames?: StreamFrame[] | null;
}

export interface RecordedResponse {
  status: number;
  headers: [string, string][];
  /** `gzip` or `deflate`: the body or events shown were decoded from it (the stored bytes stay as they were). */
  encoding?: string | null;
  body: string | null;
  body_base64: string | null;
  json: unknown;
  events: StreamEvent[] | null;
}

export interface EntryDetail extends EntrySummary {
  request: CanonicalRequest | null;
  response: RecordedResponse;
}

export interface EntryFilters {
  namespace: string;
  operation: string;
  model: string;
  unused_since: string; // datetime-local value (local time); sent as an ISO instant
}

export interface Deleted {
  deleted: number;
}

export interface Rewound {
  rewound: boolean;
}

/** What an upload of a recordings zip did (`POST .../recordings.zip`). */
export interface ZipImported {
  imported: number;
  replaced: number;
  skipped: number; // files of another provider's recordings, left out
}
