// The signed-in frame: a left sidebar on wide screens, a top bar with a drawer on narrow ones.
import { useEffect, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import { useAuth } from "../auth/AuthProvider";
import { DuckMark, HomeIcon, ListIcon, MenuIcon, ServerIcon, SettingsIcon, SignOutIcon, XIcon } from "./icons";
import { cx } from "./ui";

function NavItems({ superuser }: { superuser: boolean }) {
  const items = [
    { to: "/", label: "Dashboard", icon: HomeIcon, end: true },
    { to: "/proxies", label: "Proxies", icon: ServerIcon, end: false },
    { to: "/logs", label: "Logs", icon: ListIcon, end: false },
    ...(superuser ? [{ to: "/settings", label: "Settings", icon: SettingsIcon, end: false }] : []),
  ];
  return (
    <ul className="space-y-0.5">
      {items.map(({ to, label, icon: Icon, end }) => (
        <li key={to}>
          <NavLink
            to={to}
            end={end}
            className={({ isActive }) =>
              cx(
                "flex items-center gap-3 rounded-md px-2.5 py-2 text-sm font-medium transition-colors",
                isActive
                  ? "bg-white text-accent-700 shadow-xs ring-1 ring-slate-200"
                  : "text-slate-600 hover:bg-slate-200/60 hover:text-ink",
              )
            }
          >
            <Icon className="size-4.5 shrink-0" />
            {label}
          </NavLink>
        </li>
      ))}
    </ul>
  );
}

function SidebarBody({ onNavigate }: { onNavigate?: () => void }) {
  const { user, signOut } = useAuth();
  return (
    <div
      className="flex h-full flex-col"
      onClick={(event) => (event.target as HTMLElement).closest("a") && onNavigate?.()}
    >
      <div className="flex h-16 items-center gap-2.5 px-5">
        <DuckMark className="size-7" />
        <span className="text-[15px] font-semibold tracking-tight text-ink">Rubberduck</span>
      </div>
      <nav aria-label="Main" className="flex-1 px-3 py-2">
        <NavItems superuser={Boolean(user?.is_superuser)} />
      </nav>
      <div className="border-t border-slate-200 p-3">
        <div className="flex items-center gap-3 rounded-md px-2 py-2">
          <span
            aria-hidden="true"
            className="flex size-8 shrink-0 items-center justify-center rounded-full bg-accent-100 text-sm font-semibold text-accent-700 uppercase"
          >
            {user?.email?.[0] ?? "?"}
          </span>
          <div className="min-w-0 flex-1">
            <p className="truncate text-sm font-medium text-ink" title={user?.email}>
              {user?.email ?? "…"}
            </p>
            <p className="text-xs text-slate-500">{user?.is_superuser ? "Administrator" : "Member"}</p>
          </div>
          <button
            type="button"
            onClick={() => void signOut()}
            className="rounded-md p-1.5 text-slate-500 hover:bg-slate-200/60 hover:text-ink"
            aria-label="Sign out"
            title="Sign out"
          >
            <SignOutIcon className="size-4.5" />
          </button>
        </div>
      </div>
    </div>
  );
}

export function AppLayout() {
  const [open, setOpen] = useState(false);
  const location = useLocation();
  useEffect(() => setOpen(false), [location.pathname]);
  useEffect(() => {
    if (!open) return;
    const onKey = (event: KeyboardEvent) => event.key === "Escape" && setOpen(false);
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [open]);

  return (
    <div className="min-h-screen">
      <a
        href="#main"
        className="sr-only z-50 rounded-md bg-white px-3 py-2 text-sm font-medium focus:not-sr-only focus:fixed focus:top-3 focus:left-3"
      >
        Skip to content
      </a>
      <aside className="fixed inset-y-0 left-0 hidden w-60 border-r border-slate-200 bg-slate-100/70 lg:block">
        <SidebarBody />
      </aside>

      <header className="sticky top-0 z-30 flex h-14 items-center gap-3 border-b border-slate-200 bg-white/90 px-4 backdrop-blur lg:hidden">
        <button
          type="button"
          onClick={() => setOpen(true)}
          className="-ml-1 rounded-md p-1.5 text-slate-600 hover:bg-slate-100"
          aria-label="Open navigation"
          aria-expanded={open}
        >
          <MenuIcon className="size-5" />
        </button>
        <DuckMark className="size-6" />
        <span className="text-[15px] font-semibold text-ink">Rubberduck</span>
      </header>

      {open && (
        <div className="fixed inset-0 z-40 lg:hidden">
          <div className="absolute inset-0 bg-slate-900/40" onClick={() => setOpen(false)} aria-hidden="true" />
          <div
            role="dialog"
            aria-modal="true"
            aria-label="Navigation"
            className="absolute inset-y-0 left-0 w-72 bg-slate-50 shadow-xl"
          >
            <button
              type="button"
              onClick={() => setOpen(false)}
              className="absolute top-4 right-3 rounded-md p-1.5 text-slate-500 hover:bg-slate-200/60"
              aria-label="Close navigation"
            >
              <XIcon className="size-5" />
            </button>
            <SidebarBody onNavigate={() => setOpen(false)} />
          </div>
        </div>
      )}

      <main id="main" className="lg:pl-60">
        <div className="mx-auto max-w-7xl px-4 py-6 sm:px-6 lg:px-10 lg:py-10">
          <Outlet />
        </div>
      </main>
    </div>
  );
}
