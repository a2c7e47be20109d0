// A request that missed in replay mode is logged with `error: "replay_miss: <path>, <path>"`: the
// fields where it differs from the nearest recording (paths only, never values). These show them and
// link to the proxy's recordings.
import { Link } from "react-router";
import type { LogRow } from "../../api/types";
import { Badge } from "../../components/ui";

const PREFIX = "replay_miss";
// The server appends the nearest recording by key (a hash, not a value): `… (nearest <key>#<occurrence>)`.
const MORE = /^\+\d+ more$/;
const NEAREST = /\s*\(nearest ([0-9a-f]{64})#(\d+)\)$/;

export interface NearestEntry {
  key: string;
  occurrence: number;
}

/** The nearest recording a replay miss names, if it names one. */
export function replayMissNearest(error: string | null): NearestEntry | null {
  if (!error?.startsWith(PREFIX)) return null;
  const [, key, occurrence] = NEAREST.exec(error) ?? [];
  return key && occurrence ? { key, occurrence: Number(occurrence) } : null;
}

/** The differing paths of a replay miss ([] when nothing was recorded to compare with), or null. */
export function replayMissPaths(error: string | null): string[] | null {
  if (!error?.startsWith(PREFIX)) return null;
  const rest = error.slice(PREFIX.length).replace(NEAREST, "").replace(/^:\s*/, "");
  return rest
    .split(/,\s+/)
    .map((path) => path.trim())
    .filter((path) => path && !MORE.test(path));
}

/** How many differing paths the row leaves out (`…, +3 more`), 0 when it lists them all. */
export function replayMissMore(error: string | null): number {
  const rest = error?.startsWith(PREFIX) ? error.replace(NEAREST, "") : "";
  const found = /,\s+\+(\d+) more$/.exec(rest);
  return found ? Number(found[1]) : 0;
}

/** The nearest recording's view when the row names it, else the proxy's recordings of that operation. */
export function recordingsLink(row: Pick<LogRow, "proxy_id" | "operation" | "error">): string {
  const query = new URLSearchParams({ tab: "recordings" });
  const nearest = replayMissNearest(row.error);
  if (nearest) {
    query.set("entry", nearest.key);
    query.set("occurrence", String(nearest.occurrence));
  } else if (row.operation) query.set("operation", row.operation);
  return `/proxies/${row.proxy_id}?${query.toString()}`;
}

/** A compact marker for the table row. */
export function ReplayMissBadge({ error }: { error: string | null }) {
  const paths = replayMissPaths(error);
  if (paths === null) return null;
  return (
    <Badge tone="red" title={paths.length ? `Differs in ${paths.join(", ")}` : "No recording to replay"}>
      replay miss
    </Badge>
  );
}

/** The explanation in the row's details: which fields differ, and where the recordings are. */
export function ReplayMissDetail({ row }: { row: LogRow }) {
  const paths = replayMissPaths(row.error);
  if (paths === null) return null;
  const more = replayMissMore(row.error);
  return (
    <div className="rounded-lg border border-red-200 bg-red-50/60 px-4 py-3 text-sm" data-testid="replay-miss">
      <p className="font-medium text-red-800">Not recorded: replay mode answered with replay_miss.</p>
      {paths.length > 0 ? (
        <div className="mt-1.5 flex flex-wrap items-center gap-1.5 text-slate-700">
          <span>Differs from the nearest recording in</span>
          <ul className="contents" aria-label="Differing paths">
            {paths.map((path) => (
              <li key={path}>
                <code className="rounded bg-white px-1.5 py-0.5 font-mono text-[12px] text-red-800 ring-1 ring-red-200">
                  {path}
                </code>
              </li>
            ))}
          </ul>
          {more > 0 && <span>and {more} more</span>}
        </div>
      ) : replayMissNearest(row.error) ? (
        <p className="mt-1 text-slate-700">
          It matches the nearest recording in every field: more occurrences were asked for than were recorded.
        </p>
      ) : (
        <p className="mt-1 text-slate-700">No recorded request of this operation to compare with.</p>
      )}
      <Link
        to={recordingsLink(row)}
        className="mt-2 inline-block font-medium text-accent-700 hover:underline"
        onClick={(event) => event.stopPropagation()}
      >
        {replayMissNearest(row.error) ? "Open the nearest recording" : "Open the proxy's recordings"}
      </Link>
    </div>
  );
}
