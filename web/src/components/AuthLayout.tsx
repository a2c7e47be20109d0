import type { ReactNode } from "react";
import { DuckMark } from "./icons";

/** The frame of the signed-out pages: a centred card on a quiet background. */
export function AuthLayout({
  title,
  subtitle,
  children,
  footer,
}: {
  title: string;
  subtitle?: ReactNode;
  children: ReactNode;
  footer?: ReactNode;
}) {
  return (
    <main className="flex min-h-screen flex-col items-center bg-[radial-gradient(ellipse_at_top,var(--color-accent-50),transparent_60%)] px-4 py-12 sm:py-20">
      <div className="mb-8 flex items-center gap-2.5">
        <DuckMark className="size-9" />
        <span className="text-xl font-semibold tracking-tight text-ink">Rubberduck</span>
      </div>
      <div className="w-full max-w-[400px] rounded-2xl border border-slate-200 bg-white p-6 shadow-sm sm:p-8">
        <h1 className="text-xl font-semibold tracking-tight">{title}</h1>
        {subtitle && <p className="mt-1.5 text-sm text-slate-500">{subtitle}</p>}
        <div className="mt-6">{children}</div>
      </div>
      {footer && <div className="mt-6 text-sm text-slate-500">{footer}</div>}
    </main>
  );
}
