import { useEffect, useRef, useState } from "react";
import { queryString } from "../../api/client";
import { openEventStream, type StreamState } from "../../api/sse";
import type { LogQuery, LogRow } from "../../api/types";
import { matches } from "./filters";

const KEEP = 500;

/** Rows pushed by the server while `enabled`, newest first, filtered like the page. */
export function useLiveLogs(query: LogQuery, enabled: boolean) {
  const [rows, setRows] = useState<LogRow[]>([]);
  const [state, setState] = useState<StreamState | "off">("off");
  const [error, setError] = useState<unknown>(null);
  const [fresh, setFresh] = useState<Set<number>>(new Set());
  const key = JSON.stringify(query);
  const queryRef = useRef(query);
  queryRef.current = query;

  useEffect(() => {
    setRows([]);
    setError(null);
    if (!enabled) {
      setState("off");
      return;
    }
    const { proxy_id, status, cache_status, fault, model } = queryRef.current;
    const url = `/api/logs/stream${queryString({ proxy_id, status, cache_status, fault, model })}`;
    const stop = openEventStream(url, {
      onState: (next, reason) => {
        setState(next);
        setError(reason ?? null);
      },
      onEvent: (event) => {
        if (event.event !== "log") return;
        let row: LogRow;
        try {
          row = JSON.parse(event.data) as LogRow;
        } catch {
          return; // a malformed event is skipped, not fatal
        }
        if (!matches(queryRef.current, row)) return;
        setRows((current) => (current.some((r) => r.id === row.id) ? current : [row, ...current].slice(0, KEEP)));
        setFresh((current) => new Set(current).add(row.id));
      },
    });
    return stop;
  }, [enabled, key]);

  return { rows, state, error, fresh };
}

/** Live rows first, then the fetched page, each id once, newest first. */
export function mergeRows(live: LogRow[], page: LogRow[]): LogRow[] {
  const seen = new Set<number>();
  const merged: LogRow[] = [];
  for (const row of [...live, ...page]) {
    if (seen.has(row.id)) continue;
    seen.add(row.id);
    merged.push(row);
  }
  return merged.sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : b.id - a.id));
}
