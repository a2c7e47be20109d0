// Filters of the recordings list. They apply on submit (Enter or the button), not on every key.
import { useEffect, useState, type FormEvent } from "react";
import { TextField } from "../../../components/form";
import { Button } from "../../../components/ui";
import type { EntryFilters } from "./types";

export const NO_FILTERS: EntryFilters = { namespace: "", operation: "", model: "", unused_since: "" };
const FILTER_KEYS = Object.keys(NO_FILTERS) as (keyof EntryFilters)[];

export function readEntryFilters(params: URLSearchParams): EntryFilters {
  return {
    namespace: params.get("namespace") ?? "",
    operation: params.get("operation") ?? "",
    model: params.get("model") ?? "",
    unused_since: params.get("unused_since") ?? "",
  };
}

/** Writes the filters into the page's search params, keeping the others (the tab). */
export function writeEntryFilters(params: URLSearchParams, filters: EntryFilters): URLSearchParams {
  const next = new URLSearchParams(params);
  for (const key of FILTER_KEYS) {
    const value = filters[key].trim();
    if (value) next.set(key, value);
    else next.delete(key);
  }
  return next;
}

export function isFiltered(filters: EntryFilters): boolean {
  return FILTER_KEYS.some((key) => filters[key].trim() !== "");
}

export function EntryFilterBar({
  applied,
  onApply,
}: {
  applied: EntryFilters;
  onApply: (filters: EntryFilters) => void;
}) {
  const [draft, setDraft] = useState(applied);
  useEffect(() => setDraft(applied), [applied.namespace, applied.operation, applied.model, applied.unused_since]);
  const set = (key: keyof EntryFilters) => (event: { target: { value: string } }) =>
    setDraft((d) => ({ ...d, [key]: event.target.value }));

  function submit(event: FormEvent) {
    event.preventDefault();
    onApply(draft);
  }

  return (
    <form
      role="search"
      aria-label="Filter recordings"
      onSubmit={submit}
      className="grid items-end gap-3 border-b border-slate-100 p-4 sm:grid-cols-2 lg:grid-cols-[repeat(4,minmax(0,1fr))_auto]"
    >
      <TextField label="Namespace" value={draft.namespace} onChange={set("namespace")} placeholder="Any namespace" />
      <TextField label="Operation" value={draft.operation} onChange={set("operation")} placeholder="e.g. chat" />
      <TextField label="Model" value={draft.model} onChange={set("model")} placeholder="Any model" />
      <TextField label="Unused since" type="datetime-local" value={draft.unused_since} onChange={set("unused_since")} />
      <div className="flex gap-2">
        <Button type="submit" variant="primary">
          Apply
        </Button>
        {isFiltered(applied) && (
          <Button variant="ghost" onClick={() => onApply(NO_FILTERS)}>
            Reset
          </Button>
        )}
      </div>
    </form>
  );
}
