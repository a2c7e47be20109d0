// One recorded entry, opened from the list: what it answered, what it answers, and a delete button.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState, type ReactNode } from "react";
import { Dialog } from "../../../components/Dialog";
import { TrashIcon } from "../../../components/icons";
import { useToast } from "../../../components/Toast";
import { Badge, Button, ErrorNotice, LoadingRows } from "../../../components/ui";
import { CopyButton } from "../../../components/CopyButton";
import { deleteEntry, recordingKeys, useEntry } from "./api";
import { RequestView, ResponseView } from "./EntryParts";
import { formatBytes, formatFullInstant, namespaceLabel } from "./format";
import type { EntryDetail } from "./types";

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="min-w-0">
      <dt className="text-xs text-slate-500">{label}</dt>
      <dd className="mt-0.5 text-[13px] break-words text-ink">{children}</dd>
    </div>
  );
}

function Summary({ entry }: { entry: EntryDetail }) {
  return (
    <dl className="grid grid-cols-2 gap-x-6 gap-y-3 rounded-lg border border-slate-200 p-4 sm:grid-cols-4">
      <Fact label="Namespace">{namespaceLabel(entry.namespace)}</Fact>
      <Fact label="Operation">{entry.operation ?? "—"}</Fact>
      <Fact label="Model">{entry.model ?? "—"}</Fact>
      <Fact label="Occurrence">{entry.occurrence}</Fact>
      <Fact label="Created">{formatFullInstant(entry.created_at)}</Fact>
      <Fact label="Hits">{entry.hits}</Fact>
      <Fact label="Last hit">{formatFullInstant(entry.last_hit_at)}</Fact>
      <Fact label="Size">{formatBytes(entry.size)}</Fact>
      <Fact label="Expires">
        {entry.expired ? (
          <span className="inline-flex items-center gap-2">
            <Badge tone="amber">expired</Badge>
            <span className="text-xs text-slate-500">still replayed in replay mode</span>
          </span>
        ) : (
          formatFullInstant(entry.expires_at)
        )}
      </Fact>
      <div className="col-span-2 sm:col-span-3">
        <Fact label="Key">
          <span className="inline-flex max-w-full items-center gap-1">
            <code className="truncate font-mono text-[12px]">{entry.key}</code>
            <CopyButton
              text={entry.key}
              label="Copy key"
              className="shrink-0 whitespace-nowrap text-slate-500 hover:bg-slate-100 hover:text-ink"
            />
          </span>
        </Fact>
      </div>
    </dl>
  );
}

export function EntryView({
  proxyId,
  entryKey,
  occurrence,
  onClose,
}: {
  proxyId: number;
  entryKey: string;
  occurrence: number;
  onClose: () => void;
}) {
  const entry = useEntry(proxyId, entryKey, occurrence);
  const [confirming, setConfirming] = useState(false);
  const queryClient = useQueryClient();
  const toast = useToast();
  const remove = useMutation({
    mutationFn: () => deleteEntry(proxyId, entryKey, occurrence),
    onSuccess: ({ deleted }) => {
      toast.success(deleted ? `Deleted the entry (occurrence ${occurrence}).` : "The entry was already gone.");
      queryClient.removeQueries({ queryKey: recordingKeys.entry(proxyId, entryKey, occurrence) });
      void queryClient.invalidateQueries({ queryKey: recordingKeys.all(proxyId) });
      onClose();
    },
  });

  const footer = confirming ? (
    <>
      <span className="mr-auto self-center text-sm text-slate-600">
        Delete this entry? The next request records it again.
      </span>
      <Button onClick={() => setConfirming(false)}>Cancel</Button>
      <Button variant="danger" loading={remove.isPending} onClick={() => remove.mutate()}>
        Delete
      </Button>
    </>
  ) : (
    <>
      <Button
        variant="ghost-danger"
        className="mr-auto"
        icon={<TrashIcon className="size-4" />}
        disabled={!entry.data}
        onClick={() => setConfirming(true)}
      >
        Delete entry
      </Button>
      <Button onClick={onClose}>Close</Button>
    </>
  );

  return (
    <Dialog
      open
      onClose={onClose}
      size="lg"
      title="Recorded entry"
      description={entry.data?.stream ? "A streamed answer, replayed with the same events." : undefined}
      footer={footer}
    >
      <div className="space-y-6 pb-4">
        {entry.isPending ? (
          <LoadingRows rows={6} label="Loading the entry" />
        ) : entry.error ? (
          <ErrorNotice error={entry.error} title="Could not load this entry" />
        ) : (
          <>
            <Summary entry={entry.data} />
            <RequestView request={entry.data.request} ignored={entry.data.ignored} />
            <ResponseView response={entry.data.response} />
          </>
        )}
        <ErrorNotice error={remove.error} />
      </div>
    </Dialog>
  );
}
