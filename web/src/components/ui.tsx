// Basic building blocks: buttons, cards, badges, status dots, notices and empty states.
import type { ButtonHTMLAttributes, ReactNode } from "react";
import { describeError } from "../api/errors";
import type { ProxyStatus } from "../api/types";
import { AlertIcon } from "./icons";

export function cx(...classes: (string | false | null | undefined)[]): string {
  return classes.filter(Boolean).join(" ");
}

type Variant = "primary" | "secondary" | "danger" | "ghost" | "ghost-danger";
type Size = "sm" | "md";

const VARIANTS: Record<Variant, string> = {
  primary: "bg-accent-600 text-white shadow-xs hover:bg-accent-700 active:bg-accent-800 disabled:bg-accent-300",
  secondary:
    "bg-white text-slate-700 border border-slate-300 shadow-xs hover:bg-slate-50 hover:text-ink active:bg-slate-100 disabled:text-slate-400",
  danger: "bg-red-600 text-white shadow-xs hover:bg-red-700 active:bg-red-800 disabled:bg-red-300",
  ghost: "text-slate-600 hover:bg-slate-100 hover:text-ink disabled:text-slate-400",
  "ghost-danger": "text-red-600 hover:bg-red-50 hover:text-red-700 disabled:text-red-300",
};
const SIZES: Record<Size, string> = {
  sm: "h-8 px-2.5 text-[13px] gap-1.5",
  md: "h-9 px-3.5 text-sm gap-2",
};

export interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: Variant;
  size?: Size;
  loading?: boolean;
  icon?: ReactNode;
}

export function Button({
  variant = "secondary",
  size = "md",
  loading = false,
  icon,
  className,
  children,
  disabled,
  type = "button",
  ...props
}: ButtonProps) {
  return (
    <button
      type={type}
      disabled={disabled || loading}
      aria-busy={loading || undefined}
      className={cx(
        "inline-flex shrink-0 items-center justify-center rounded-md font-medium whitespace-nowrap transition-colors disabled:cursor-not-allowed",
        VARIANTS[variant],
        SIZES[size],
        className,
      )}
      {...props}
    >
      {loading ? <Spinner className="size-3.5" /> : icon}
      {children}
    </button>
  );
}

export function Spinner({ className = "size-4", label }: { className?: string; label?: string }) {
  return (
    <span role={label ? "status" : undefined} className="inline-flex items-center gap-2">
      <svg className={cx("animate-spin", className)} viewBox="0 0 24 24" fill="none" aria-hidden="true">
        <circle cx="12" cy="12" r="9" stroke="currentColor" strokeOpacity="0.25" strokeWidth="3" />
        <path d="M21 12a9 9 0 0 0-9-9" stroke="currentColor" strokeWidth="3" strokeLinecap="round" />
      </svg>
      {label && <span className="text-sm text-slate-500">{label}</span>}
    </span>
  );
}

export function Card({ children, className }: { children: ReactNode; className?: string }) {
  return (
    <section className={cx("rounded-xl border border-slate-200 bg-white shadow-xs", className)}>{children}</section>
  );
}

export function CardHeader({
  title,
  description,
  actions,
  id,
}: {
  title: ReactNode;
  description?: ReactNode;
  actions?: ReactNode;
  id?: string;
}) {
  return (
    <div className="flex flex-wrap items-start justify-between gap-3 border-b border-slate-100 px-5 py-4">
      <div className="min-w-0">
        <h2 id={id} className="text-[15px] font-semibold">
          {title}
        </h2>
        {description && <p className="mt-0.5 text-sm text-slate-500">{description}</p>}
      </div>
      {actions && <div className="flex items-center gap-2">{actions}</div>}
    </div>
  );
}

export function PageHeader({
  title,
  description,
  actions,
}: {
  title: ReactNode;
  description?: ReactNode;
  actions?: ReactNode;
}) {
  return (
    <div className="mb-6 flex flex-wrap items-end justify-between gap-4">
      <div className="min-w-0">
        <h1 className="text-2xl font-semibold tracking-tight">{title}</h1>
        {description && <p className="mt-1 text-sm text-slate-500">{description}</p>}
      </div>
      {actions && <div className="flex flex-wrap items-center gap-2">{actions}</div>}
    </div>
  );
}

type Tone = "neutral" | "green" | "red" | "amber" | "accent" | "blue";
const TONES: Record<Tone, string> = {
  neutral: "bg-slate-100 text-slate-700 ring-slate-200",
  green: "bg-emerald-50 text-emerald-700 ring-emerald-200",
  red: "bg-red-50 text-red-700 ring-red-200",
  amber: "bg-amber-50 text-amber-800 ring-amber-200",
  accent: "bg-accent-50 text-accent-700 ring-accent-200",
  blue: "bg-sky-50 text-sky-700 ring-sky-200",
};

export function Badge({ tone = "neutral", children, title }: { tone?: Tone; children: ReactNode; title?: string }) {
  return (
    <span
      title={title}
      className={cx(
        "inline-flex items-center rounded-md px-1.5 py-0.5 text-xs font-medium whitespace-nowrap ring-1 ring-inset",
        TONES[tone],
      )}
    >
      {children}
    </span>
  );
}

const STATUS_STYLE: Record<ProxyStatus, { dot: string; label: string }> = {
  running: { dot: "bg-emerald-500", label: "Running" },
  stopped: { dot: "bg-slate-400", label: "Stopped" },
  starting: { dot: "bg-amber-400 animate-pulse", label: "Starting" },
  error: { dot: "bg-red-500", label: "Error" },
};

export function statusLabel(status: string): string {
  return STATUS_STYLE[status as ProxyStatus]?.label ?? status;
}

export function StatusDot({ status, withLabel = false }: { status: string; withLabel?: boolean }) {
  const style = STATUS_STYLE[status as ProxyStatus] ?? STATUS_STYLE.stopped;
  return (
    <span className="inline-flex items-center gap-2" data-status={status}>
      <span className="relative flex size-2.5 shrink-0 items-center justify-center">
        {status === "running" && (
          <span className="absolute inline-flex size-full rounded-full bg-emerald-400 opacity-40" />
        )}
        <span className={cx("relative inline-flex size-2 rounded-full", style.dot)} />
      </span>
      {withLabel ? (
        <span className="text-sm font-medium text-slate-700">{style.label}</span>
      ) : (
        <span className="sr-only">{style.label}</span>
      )}
    </span>
  );
}

export function ErrorNotice({ error, title, className }: { error: unknown; title?: string; className?: string }) {
  if (!error) return null;
  return (
    <div
      role="alert"
      className={cx("flex gap-3 rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-sm text-red-800", className)}
    >
      <AlertIcon className="mt-0.5 size-4 shrink-0 text-red-500" />
      <div className="min-w-0">
        {title && <p className="font-medium">{title}</p>}
        <p className="break-words">{typeof error === "string" ? error : describeError(error)}</p>
      </div>
    </div>
  );
}

export function Notice({
  children,
  tone = "info",
  className,
}: {
  children: ReactNode;
  tone?: "info" | "success" | "warning";
  className?: string;
}) {
  const styles = {
    info: "border-accent-200 bg-accent-50 text-accent-800",
    success: "border-emerald-200 bg-emerald-50 text-emerald-800",
    warning: "border-amber-200 bg-amber-50 text-amber-900",
  }[tone];
  return (
    <div role="status" className={cx("rounded-lg border px-4 py-3 text-sm", styles, className)}>
      {children}
    </div>
  );
}

export function EmptyState({
  icon,
  title,
  description,
  action,
}: {
  icon?: ReactNode;
  title: string;
  description?: ReactNode;
  action?: ReactNode;
}) {
  return (
    <div className="flex flex-col items-center px-6 py-14 text-center">
      {icon && (
        <div className="mb-4 flex size-11 items-center justify-center rounded-full bg-accent-50 text-xl text-accent-600">
          {icon}
        </div>
      )}
      <h3 className="text-[15px] font-semibold">{title}</h3>
      {description && <p className="mt-1 max-w-sm text-sm text-slate-500">{description}</p>}
      {action && <div className="mt-5">{action}</div>}
    </div>
  );
}

export function Skeleton({ className }: { className?: string }) {
  return <div className={cx("animate-pulse rounded-md bg-slate-100", className)} aria-hidden="true" />;
}

export function LoadingRows({ rows = 4, label = "Loading" }: { rows?: number; label?: string }) {
  return (
    <div className="space-y-3 p-5" role="status" aria-label={label}>
      {Array.from({ length: rows }, (_, index) => (
        <Skeleton key={index} className="h-5 w-full" />
      ))}
    </div>
  );
}
