import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes } from "react-router";
import { setToken } from "../api/session";
import type { User } from "../api/types";
import { AuthProvider } from "../auth/AuthProvider";
import { ToastProvider } from "../components/Toast";
import { fetchMock, json, user as sampleUser } from "./api";

/**
 * Renders a page the way the app does (query client, router, toasts, auth), signed in as `user`
 * unless `user` is null.
 */
export function renderPage(
  ui: ReactElement,
  { route = "/", path, user = sampleUser() }: { route?: string; path?: string; user?: User | null } = {},
) {
  if (user) {
    setToken("test-token");
    fetchMock.on("GET /api/users/me", json(user));
  } else {
    setToken(null);
  }
  const client = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[route]}>
        <ToastProvider>
          <AuthProvider>
            <Routes>
              <Route path={path ?? new URL(route, "http://ui.test").pathname} element={ui} />
              <Route path="*" element={<p>elsewhere</p>} />
            </Routes>
          </AuthProvider>
        </ToastProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}
