// Download the recordings as the zip `rubberduck recordings export` would write, or upload such a zip:
// every file is checked first and one bad file means nothing is imported (the server names it).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { DownloadIcon } from "../../../components/icons";
import { useToast } from "../../../components/Toast";
import { Button, ErrorNotice } from "../../../components/ui";
import { downloadZip, recordingKeys, uploadZip } from "./api";
import type { ZipImported } from "./types";

export function describeImport({ imported, replaced, skipped }: ZipImported): string {
  const parts = [`Imported ${imported} ${imported === 1 ? "recording" : "recordings"}`];
  if (replaced) parts.push(`${replaced} replaced`);
  if (skipped) parts.push(`${skipped} of another provider left out`);
  return `${parts.join(", ")}.`;
}

export function ZipTransfer({ proxyId, namespace }: { proxyId: number; namespace: string }) {
  const input = useRef<HTMLInputElement>(null);
  const [result, setResult] = useState<string | null>(null);
  const queryClient = useQueryClient();
  const toast = useToast();
  const scope = namespace.trim();
  const download = useMutation({ mutationFn: () => downloadZip(proxyId, scope || undefined) });
  const upload = useMutation({
    mutationFn: (file: File) => uploadZip(proxyId, file),
    onMutate: () => setResult(null),
    onSuccess: (imported) => {
      const message = describeImport(imported);
      setResult(message);
      toast.success(message);
      void queryClient.invalidateQueries({ queryKey: recordingKeys.all(proxyId) });
    },
    onSettled: () => {
      if (input.current) input.current.value = ""; // the same file can be chosen again
    },
  });

  return (
    <div className="space-y-2">
      <div className="flex flex-wrap items-center gap-2">
        <Button
          size="sm"
          icon={<DownloadIcon className="size-3.5" />}
          loading={download.isPending}
          onClick={() => download.mutate()}
          title={scope ? `The recordings of namespace ${scope}` : "Every recording of this proxy"}
        >
          Download .zip
        </Button>
        <Button size="sm" loading={upload.isPending} onClick={() => input.current?.click()}>
          Upload .zip
        </Button>
        <input
          ref={input}
          type="file"
          accept=".zip,application/zip"
          aria-label="Recordings zip file"
          className="sr-only"
          onChange={(event) => {
            const file = event.target.files?.[0];
            if (file) upload.mutate(file);
          }}
        />
        {result && (
          <span className="text-sm text-slate-600" role="status">
            {result}
          </span>
        )}
      </div>
      <ErrorNotice error={download.error} title="Could not download the recordings" />
      <ErrorNotice error={upload.error} title="Nothing was imported" />
    </div>
  );
}
