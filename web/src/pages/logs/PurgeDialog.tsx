import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api, unwrap } from "../../api/client";
import { Dialog } from "../../components/Dialog";
import { TextField } from "../../components/form";
import { useToast } from "../../components/Toast";
import { Button, ErrorNotice, Notice } from "../../components/ui";
import { fromLocalInput } from "../../lib/format";

export function PurgeDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const queryClient = useQueryClient();
  const toast = useToast();
  const [since, setSince] = useState("");
  const [until, setUntil] = useState("");
  const [confirming, setConfirming] = useState(false);
  const purge = useMutation({
    mutationFn: () =>
      unwrap(
        api.DELETE("/api/logs", {
          // "Up to now" means the moment of the confirmation, not the moment the dialog opened.
          params: { query: { since: fromLocalInput(since), until: fromLocalInput(until) ?? new Date().toISOString() } },
        }),
      ),
    onSuccess: ({ deleted }) => {
      void queryClient.invalidateQueries({ queryKey: ["logs"] });
      void queryClient.invalidateQueries({ queryKey: ["metrics"] });
      toast.success(`Deleted ${deleted} log ${deleted === 1 ? "entry" : "entries"}.`);
      close();
    },
  });

  function close() {
    setConfirming(false);
    purge.reset();
    onClose();
  }

  const invalid =
    since && until && fromLocalInput(since)! >= fromLocalInput(until)!
      ? "The start must be before the end."
      : undefined;
  const from = since ? new Date(since).toLocaleString() : "the first entry";
  const to = until ? new Date(until).toLocaleString() : "now";

  return (
    <Dialog
      open={open}
      onClose={close}
      size="sm"
      title={confirming ? "Delete these logs?" : "Purge logs"}
      description={confirming ? undefined : "Delete the request logs of your proxies in a time range."}
      footer={
        confirming ? (
          <>
            <Button onClick={() => setConfirming(false)}>Back</Button>
            <Button variant="danger" loading={purge.isPending} onClick={() => purge.mutate()}>
              Delete logs
            </Button>
          </>
        ) : (
          <>
            <Button onClick={close}>Cancel</Button>
            <Button variant="danger" disabled={Boolean(invalid)} onClick={() => setConfirming(true)}>
              Continue
            </Button>
          </>
        )
      }
    >
      <div className="space-y-4 pb-3">
        {confirming ? (
          <Notice tone="warning">
            Every log entry from <strong>{from}</strong> to <strong>{to}</strong> will be deleted. This cannot be
            undone.
          </Notice>
        ) : (
          <>
            <TextField
              label="From"
              type="datetime-local"
              value={since}
              onChange={(e) => setSince(e.target.value)}
              optional
              hint="Empty: from the first entry."
            />
            <TextField
              label="To"
              type="datetime-local"
              value={until}
              onChange={(e) => setUntil(e.target.value)}
              optional
              hint="Empty: up to now."
              error={invalid}
            />
          </>
        )}
        <ErrorNotice error={purge.error} />
      </div>
    </Dialog>
  );
}
