// The Recordings tab of a proxy: its cache settings, the recorded entries with filters, and the
// entry view. Filters and the open entry live in the URL, so a view can be linked (the logs do).
import { useSearchParams } from "react-router";
import type { Proxy } from "../../../api/types";
import { Button, Card, CardHeader, EmptyState, ErrorNotice, LoadingRows } from "../../../components/ui";
import { useEntries } from "./api";
import { CacheSettings } from "./CacheSettings";
import { ClearNamespaceButton } from "./ClearNamespace";
import { EntryFilterBar, isFiltered, readEntryFilters, writeEntryFilters } from "./EntryFilterBar";
import { EntryTable } from "./EntryTable";
import { EntryView } from "./EntryView";
import { ZipTransfer } from "./ZipTransfer";
import type { EntryFilters, EntrySummary } from "./types";

function EntryList({ proxy }: { proxy: Proxy }) {
  const [params, setParams] = useSearchParams();
  const filters = readEntryFilters(params);
  const entries = useEntries(proxy.id, filters);
  const items = entries.data?.pages.flatMap((page) => page.items) ?? [];

  function apply(next: EntryFilters) {
    setParams((current) => writeEntryFilters(current, next), { replace: true });
  }
  function open(entry: EntrySummary) {
    setParams((current) => {
      const next = new URLSearchParams(current);
      next.set("entry", entry.key);
      next.set("occurrence", String(entry.occurrence));
      return next;
    });
  }

  return (
    <Card>
      <CardHeader
        title="Recorded entries"
        description="Every stored answer, newest first. Open one to see the request it answered."
        actions={<ClearNamespaceButton proxyId={proxy.id} suggested={filters.namespace} />}
      />
      <div className="border-b border-slate-100 px-5 py-3">
        <ZipTransfer proxyId={proxy.id} namespace={filters.namespace} />
      </div>
      <EntryFilterBar applied={filters} onApply={apply} />
      {entries.isPending ? (
        <LoadingRows rows={4} label="Loading the recordings" />
      ) : entries.error ? (
        <ErrorNotice error={entries.error} title="Could not load the recordings" className="m-5" />
      ) : items.length === 0 ? (
        <EmptyState
          title={isFiltered(filters) ? "No entries match these filters" : "Nothing recorded yet"}
          description={
            isFiltered(filters)
              ? "Try fewer filters, or an earlier “unused since” time."
              : "In record mode, each successful answer from the provider is stored here."
          }
        />
      ) : (
        <>
          <EntryTable entries={items} onOpen={open} />
          <div className="flex items-center justify-between border-t border-slate-100 px-5 py-3 text-sm text-slate-500">
            <span className="tabular">
              {items.length} {items.length === 1 ? "entry" : "entries"}
              {entries.hasNextPage ? " shown" : ""}
            </span>
            {entries.hasNextPage && (
              <Button size="sm" loading={entries.isFetchingNextPage} onClick={() => void entries.fetchNextPage()}>
                Load more
              </Button>
            )}
          </div>
        </>
      )}
    </Card>
  );
}

export function RecordingsTab({ proxy }: { proxy: Proxy }) {
  const [params, setParams] = useSearchParams();
  const key = params.get("entry");
  const occurrence = Number(params.get("occurrence") ?? "1");

  function close() {
    setParams((current) => {
      const next = new URLSearchParams(current);
      next.delete("entry");
      next.delete("occurrence");
      return next;
    });
  }

  return (
    <div className="space-y-6">
      <CacheSettings proxy={proxy} />
      <EntryList proxy={proxy} />
      {key && (
        <EntryView
          proxyId={proxy.id}
          entryKey={key}
          occurrence={Number.isInteger(occurrence) && occurrence > 0 ? occurrence : 1}
          onClose={close}
        />
      )}
    </div>
  );
}
