// Deletes every entry of one namespace, after a confirmation. Clearing everything stays the page's
// "Clear cache" button: an empty namespace here would mean exactly that, so it is not allowed.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Dialog } from "../../../components/Dialog";
import { TextField } from "../../../components/form";
import { EraserIcon } from "../../../components/icons";
import { useToast } from "../../../components/Toast";
import { Button, ErrorNotice } from "../../../components/ui";
import { clearNamespace, recordingKeys } from "./api";

const NAME = /^[A-Za-z0-9._:-]{1,200}$/;

export function ClearNamespaceButton({ proxyId, suggested }: { proxyId: number; suggested: string }) {
  const [open, setOpen] = useState(false);
  const [namespace, setNamespace] = useState("");
  const [touched, setTouched] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const queryClient = useQueryClient();
  const toast = useToast();
  const clear = useMutation({
    mutationFn: (name: string) => clearNamespace(proxyId, name),
    onSuccess: ({ deleted }, name) => {
      setOpen(false);
      const message = `Deleted ${deleted} ${deleted === 1 ? "entry" : "entries"} from namespace ${name}.`;
      setResult(message);
      toast.success(message);
      void queryClient.invalidateQueries({ queryKey: recordingKeys.all(proxyId) });
    },
  });
  const name = namespace.trim();
  const invalid = !NAME.test(name) ? "Names are 1–200 characters of letters, digits and . _ : -" : undefined;

  return (
    <>
      <Button
        size="sm"
        variant="ghost-danger"
        icon={<EraserIcon className="size-3.5" />}
        onClick={() => {
          clear.reset();
          setTouched(false);
          setNamespace(suggested);
          setOpen(true);
        }}
      >
        Clear namespace…
      </Button>
      {result && (
        <span className="sr-only" role="status">
          {result}
        </span>
      )}
      <Dialog
        open={open}
        onClose={() => setOpen(false)}
        size="sm"
        title="Clear a namespace?"
        description="Every recorded entry of this namespace is deleted, all occurrences. Other namespaces stay."
        footer={
          <>
            <Button onClick={() => setOpen(false)}>Cancel</Button>
            <Button
              variant="danger"
              loading={clear.isPending}
              onClick={() => {
                setTouched(true);
                if (!invalid) clear.mutate(name);
              }}
            >
              Clear namespace
            </Button>
          </>
        }
      >
        <div className="space-y-3 pb-3">
          <TextField
            label="Namespace"
            value={namespace}
            onChange={(event) => setNamespace(event.target.value)}
            error={touched ? invalid : undefined}
            placeholder="e.g. test_login"
            autoFocus
          />
          <ErrorNotice error={clear.error} />
        </div>
      </Dialog>
    </>
  );
}
