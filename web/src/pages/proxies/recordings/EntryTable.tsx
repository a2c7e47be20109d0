// The recorded entries, one row each; a row opens the entry view.
import { Badge, cx } from "../../../components/ui";
import { StatusBadge } from "../../logs/badges";
import { formatBytes, formatFullInstant, formatInstant, namespaceLabel, shortKey } from "./format";
import type { EntrySummary } from "./types";

const HEAD = [
  "Namespace",
  "Operation",
  "Model",
  "#",
  "Stream",
  "Status",
  "Size",
  "Created",
  "Hits",
  "Last hit",
  "Expiry",
] as const;
const RIGHT = new Set(["#", "Size", "Hits"]);

export function EntryTable({ entries, onOpen }: { entries: EntrySummary[]; onOpen: (entry: EntrySummary) => void }) {
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-left text-sm" data-testid="recordings-table">
        <caption className="sr-only">Recorded entries</caption>
        <thead className="border-b border-slate-200 text-xs text-slate-500">
          <tr>
            {HEAD.map((label) => (
              <th
                key={label}
                scope="col"
                className={cx("px-3 py-2.5 font-medium whitespace-nowrap first:pl-5", RIGHT.has(label) && "text-right")}
              >
                {label === "#" ? <span title="Occurrence">#</span> : label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {entries.map((entry) => (
            <tr
              key={`${entry.key}:${entry.occurrence}`}
              className="cursor-pointer hover:bg-slate-50/80"
              onClick={() => onOpen(entry)}
              data-entry-key={entry.key}
              data-occurrence={entry.occurrence}
            >
              <td className="py-2.5 pr-3 pl-5">
                <button
                  type="button"
                  onClick={(event) => {
                    event.stopPropagation();
                    onOpen(entry);
                  }}
                  aria-label={`Open entry ${shortKey(entry.key)} occurrence ${entry.occurrence}`}
                  className={cx(
                    "max-w-40 truncate text-left font-medium hover:underline",
                    entry.namespace ? "text-ink" : "text-slate-500 italic",
                  )}
                >
                  {namespaceLabel(entry.namespace)}
                </button>
                <span className="block font-mono text-[11px] text-slate-400" title={entry.key}>
                  {shortKey(entry.key)}
                </span>
              </td>
              <td className="px-3 py-2.5 text-slate-700">{entry.operation ?? "—"}</td>
              <td className="max-w-48 truncate px-3 py-2.5 text-slate-700">{entry.model ?? "—"}</td>
              <td className="px-3 py-2.5 text-right text-slate-600 tabular">{entry.occurrence}</td>
              <td className="px-3 py-2.5">{entry.stream ? <Badge tone="blue">stream</Badge> : null}</td>
              <td className="px-3 py-2.5">
                <StatusBadge status={entry.status} />
              </td>
              <td className="px-3 py-2.5 text-right whitespace-nowrap text-slate-600 tabular">
                {formatBytes(entry.size)}
              </td>
              <td className="px-3 py-2.5 whitespace-nowrap text-slate-600 tabular">
                <span title={formatFullInstant(entry.created_at)}>{formatInstant(entry.created_at)}</span>
              </td>
              <td className="px-3 py-2.5 text-right text-slate-600 tabular">{entry.hits}</td>
              <td className="px-3 py-2.5 whitespace-nowrap text-slate-600 tabular">
                <span title={formatFullInstant(entry.last_hit_at)}>{formatInstant(entry.last_hit_at)}</span>
              </td>
              <td className="px-3 py-2.5 pr-5">
                {entry.expired ? (
                  <Badge tone="amber" title={`Expired ${formatFullInstant(entry.expires_at)}`}>
                    expired
                  </Badge>
                ) : entry.expires_at !== null ? (
                  <span
                    className="text-xs whitespace-nowrap text-slate-500"
                    title={formatFullInstant(entry.expires_at)}
                  >
                    {formatInstant(entry.expires_at)}
                  </span>
                ) : (
                  <span className="text-slate-300">—</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
