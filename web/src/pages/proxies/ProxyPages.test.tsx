import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fetchMock, json, providers, proxy } from "../../test/api";
import { renderPage } from "../../test/render";
import { ProxiesPage } from "./ProxiesPage";
import { ProxyDetailPage } from "./ProxyDetailPage";

describe("ProxiesPage", () => {
  it("lists proxies with their status, and the error of a failed one", async () => {
    fetchMock.on("GET /api/providers", json(providers));
    fetchMock.on(
      "GET /api/proxies",
      json([
        proxy(),
        proxy({ id: 8, name: "broken", status: "error", last_error: "port 8002 is already in use" }),
        proxy({ id: 9, name: "idle", status: "stopped" }),
      ]),
    );
    renderPage(<ProxiesPage />, { route: "/proxies" });

    const table = await screen.findByRole("table", { name: "Your proxies" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((row) => row.querySelector("[data-status]")?.getAttribute("data-status"))).toEqual([
      "running",
      "error",
      "stopped",
    ]);
    expect(within(rows[1]!).getByText("port 8002 is already in use")).toBeInTheDocument();
    expect(within(rows[0]!).getByRole("button", { name: "Stop chatbot-dev" })).toBeInTheDocument();
    expect(within(rows[2]!).getByRole("button", { name: "Start idle" })).toBeInTheDocument();
  });

  it("has an empty state that offers to create one", async () => {
    fetchMock.on("GET /api/providers", json(providers));
    fetchMock.on("GET /api/proxies", json([]));
    renderPage(<ProxiesPage />, { route: "/proxies" });
    expect(await screen.findByText("No proxies yet")).toBeInTheDocument();
  });

  it("validates a new proxy, then shows the server's field errors where they belong", async () => {
    fetchMock.on("GET /api/providers", json(providers));
    fetchMock.on("GET /api/proxies", json([]));
    fetchMock.on(
      "POST /api/proxies",
      json(
        { detail: [{ loc: ["body", "port"], msg: "port 8001 is used by another proxy", type: "value_error" }] },
        409,
      ),
    );
    renderPage(<ProxiesPage />, { route: "/proxies?new=1" });
    const dialog = await screen.findByRole("dialog", { name: "New proxy" });
    const form = within(dialog);

    await userEvent.selectOptions(await form.findByLabelText("Provider"), "azure");
    await userEvent.click(form.getByRole("button", { name: "Create proxy" }));
    expect(form.getByText("Give the proxy a name.")).toBeInTheDocument();
    expect(form.getByText("Azure OpenAI needs an upstream URL.")).toBeInTheDocument();
    expect(fetchMock.callsTo("POST /api/proxies")).toHaveLength(0);

    await userEvent.type(form.getByLabelText("Name"), "azure-dev");
    await userEvent.type(form.getByLabelText(/Upstream URL/), "https://example.openai.azure.com/");
    await userEvent.type(form.getByLabelText(/Port/), "8001");
    await userEvent.type(form.getByLabelText(/Upstream timeout/), "30");
    await userEvent.click(form.getByRole("button", { name: "Create proxy" }));

    expect(await form.findByText("port 8001 is used by another proxy")).toBeInTheDocument();
    expect(form.getByLabelText(/Port/)).toHaveAttribute("aria-invalid", "true");
    expect(fetchMock.callsTo("POST /api/proxies")[0]?.body).toEqual({
      name: "azure-dev",
      provider: "azure",
      model: null,
      description: null,
      tags: [],
      port: 8001,
      upstream_url: "https://example.openai.azure.com/",
      options: { upstream_timeout_seconds: 30 },
    });
  });
});

describe("ProxyDetailPage", () => {
  function serve(overrides = {}) {
    fetchMock.on("GET /api/providers", json(providers));
    fetchMock.on("GET /api/proxies", json([proxy(overrides)]));
    fetchMock.on("GET /api/proxies/7", json(proxy(overrides)));
    fetchMock.on("GET /api/logs", json({ items: [], next_cursor: null }));
  }

  it("shows the provider's SDK snippet pointed at this proxy", async () => {
    serve();
    renderPage(<ProxyDetailPage />, { route: "/proxies/7", path: "/proxies/:id" });
    const snippet = await screen.findByTestId("sdk-snippet");
    expect(snippet.textContent).toContain('OpenAI(base_url="http://localhost:8001/v1"');
    expect(snippet.textContent).toContain('model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}]');
    expect(screen.getByRole("button", { name: "Copy snippet" })).toBeInTheDocument();
  });

  it("stops and force-stops", async () => {
    serve();
    fetchMock.on("POST /api/proxies/7/stop", json(proxy({ status: "stopped" })));
    renderPage(<ProxyDetailPage />, { route: "/proxies/7", path: "/proxies/:id" });
    await userEvent.click(await screen.findByRole("button", { name: "Force stop" }));
    await waitFor(() => expect(fetchMock.callsTo("POST /api/proxies/7/stop")).toHaveLength(1));
    expect(fetchMock.callsTo("POST /api/proxies/7/stop")[0]?.query.get("force")).toBe("true");
  });

  it("clears the cache after a confirmation, and says how many entries went", async () => {
    serve();
    fetchMock.on("DELETE /api/proxies/7/cache", json({ deleted: 3 }));
    renderPage(<ProxyDetailPage />, { route: "/proxies/7", path: "/proxies/:id" });

    await userEvent.click(await screen.findByRole("button", { name: "Clear cache" }));
    const dialog = screen.getByRole("dialog", { name: "Clear the cache?" });
    expect(fetchMock.callsTo("DELETE /api/proxies/7/cache")).toHaveLength(0);
    await userEvent.click(within(dialog).getByRole("button", { name: "Clear cache" }));

    expect(await screen.findByText("Cleared 3 cache entries from chatbot-dev.")).toBeInTheDocument();
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  });

  it("shows why a proxy is in error", async () => {
    serve({ status: "error", last_error: "port 8001 is already in use" });
    renderPage(<ProxyDetailPage />, { route: "/proxies/7", path: "/proxies/:id" });
    expect(await screen.findByText("The proxy stopped with an error")).toBeInTheDocument();
    expect(screen.getByText("port 8001 is already in use")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Start chatbot-dev" })).toBeInTheDocument();
  });

  it("edits a proxy with a PATCH of its fields", async () => {
    serve({ upstream_url: "http://old.example", tags: ["a"] });
    fetchMock.on("PATCH /api/proxies/7", (call) => json(proxy({ ...(call.body as object) })));
    renderPage(<ProxyDetailPage />, { route: "/proxies/7", path: "/proxies/:id" });

    await userEvent.click(await screen.findByRole("button", { name: "Edit" }));
    const dialog = screen.getByRole("dialog", { name: "Edit chatbot-dev" });
    const name = within(dialog).getByLabelText("Name");
    await userEvent.clear(name);
    await userEvent.type(name, "renamed");
    await userEvent.clear(within(dialog).getByLabelText(/Port/));
    await userEvent.click(within(dialog).getByRole("button", { name: "Save changes" }));

    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    const body = fetchMock.callsTo("PATCH /api/proxies/7")[0]?.body as Record<string, unknown>;
    expect(body).toMatchObject({ name: "renamed", upstream_url: "http://old.example", tags: ["a"] });
    expect(body).not.toHaveProperty("port"); // an emptied port field leaves the port alone
  });

  it("says so when the proxy does not exist", async () => {
    fetchMock.on("GET /api/providers", json(providers));
    fetchMock.on("GET /api/proxies/7", json({ detail: "Proxy not found" }, 404));
    renderPage(<ProxyDetailPage />, { route: "/proxies/7", path: "/proxies/:id" });
    expect(await screen.findByRole("alert")).toHaveTextContent("Proxy not found");
  });
});
