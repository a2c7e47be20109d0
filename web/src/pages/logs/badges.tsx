import { Badge } from "../../components/ui";

export function StatusBadge({ status }: { status: number }) {
  const tone = status >= 500 ? "red" : status >= 400 ? "amber" : status >= 300 ? "blue" : "green";
  return <Badge tone={tone}>{status}</Badge>;
}

export function CacheBadge({ value }: { value: string }) {
  const tone = value === "hit" ? "accent" : value === "bypass" ? "blue" : "neutral";
  return (
    <Badge tone={tone} title={`Cache ${value}`}>
      {value}
    </Badge>
  );
}

export function FaultBadge({ value }: { value: string | null }) {
  if (!value) return <span className="text-slate-300">—</span>;
  return <Badge tone="amber">{value.replace("_", " ")}</Badge>;
}
