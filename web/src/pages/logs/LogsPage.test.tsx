import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { eventStream, fetchMock, json, logRow, proxy } from "../../test/api";
import { renderPage } from "../../test/render";
import { matches, toQuery, readFilters } from "./filters";
import { LogsPage } from "./LogsPage";

function rowsOf(table: HTMLElement) {
  return within(table)
    .getAllByRole("row")
    .filter((row) => row.hasAttribute("data-log-id"));
}

describe("LogsPage", () => {
  it("adds rows from the live stream above the loaded page, each once", async () => {
    const stream = eventStream();
    fetchMock.on("GET /api/proxies", json([proxy()]));
    fetchMock.on("GET /api/logs", json({ items: [logRow({ id: 1 })], next_cursor: null }));
    fetchMock.on("GET /api/logs/stream", () => stream.response);
    renderPage(<LogsPage />, { route: "/logs" });

    const table = await screen.findByTestId("log-table");
    expect(rowsOf(table)).toHaveLength(1);
    await waitFor(() => expect(screen.getByText("Live")).toBeInTheDocument());
    expect(fetchMock.callsTo("GET /api/logs/stream")[0]?.headers.get("authorization")).toBe("Bearer test-token");

    const hit = logRow({ id: 2, cache_status: "hit", created_at: new Date(Date.now() + 1000).toISOString() });
    await act(async () => {
      stream.send(`event: log\ndata: ${JSON.stringify(hit)}\n\n`);
      stream.send(`event: log\ndata: ${JSON.stringify(hit)}\n\n`); // a repeat is shown once
    });
    await waitFor(() => expect(rowsOf(table)).toHaveLength(2));
    expect(rowsOf(table)[0]).toHaveAttribute("data-cache", "hit");
    expect(within(rowsOf(table)[0]!).getByText("chatbot-dev")).toBeInTheDocument();
  });

  it("sends the filters to the API and keeps them in the URL", async () => {
    fetchMock.on("GET /api/proxies", json([proxy()]));
    fetchMock.on("GET /api/logs", json({ items: [], next_cursor: null }));
    fetchMock.on("GET /api/logs/stream", () => eventStream().response);
    renderPage(<LogsPage />, { route: "/logs" });

    await screen.findByText("No requests yet");
    await userEvent.selectOptions(screen.getByLabelText("Proxy"), "7");
    await userEvent.selectOptions(screen.getByLabelText("Cache"), "hit");
    await userEvent.selectOptions(screen.getByLabelText("Status"), "5xx");
    await userEvent.selectOptions(screen.getByLabelText("Fault"), "error_429");

    await waitFor(() => {
      const query = fetchMock.callsTo("GET /api/logs").at(-1)?.query;
      expect(query?.get("proxy_id")).toBe("7");
      expect(query?.get("cache_status")).toBe("hit");
      expect(query?.get("status")).toBe("5xx");
      expect(query?.get("fault")).toBe("error_429");
    });
    expect(await screen.findByText("No requests match these filters")).toBeInTheDocument();
  });

  it("pages back in time with the cursor", async () => {
    fetchMock.on("GET /api/proxies", json([]));
    fetchMock.on("GET /api/logs", (call) =>
      call.query.get("cursor") === "page-2"
        ? json({ items: [logRow({ id: 1, path: "/older" })], next_cursor: null })
        : json({ items: [logRow({ id: 2, path: "/newer" })], next_cursor: "page-2" }),
    );
    fetchMock.on("GET /api/logs/stream", () => eventStream().response);
    renderPage(<LogsPage />, { route: "/logs" });

    await screen.findByText("/newer");
    await userEvent.click(screen.getByRole("button", { name: "Older" }));
    expect(await screen.findByText("/older")).toBeInTheDocument();
    expect(screen.queryByText("/newer")).not.toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Older" })).toBeDisabled();
    await userEvent.click(screen.getByRole("button", { name: "Newer" }));
    expect(await screen.findByText("/newer")).toBeInTheDocument();
  });

  it("purges a date range only after a confirmation", async () => {
    fetchMock.on("GET /api/proxies", json([]));
    fetchMock.on("GET /api/logs", json({ items: [logRow()], next_cursor: null }));
    fetchMock.on("GET /api/logs/stream", () => eventStream().response);
    fetchMock.on("DELETE /api/logs", json({ deleted: 12 }));
    renderPage(<LogsPage />, { route: "/logs" });

    await userEvent.click(await screen.findByRole("button", { name: "Purge…" }));
    const dialog = screen.getByRole("dialog", { name: "Purge logs" });
    await userEvent.type(within(dialog).getByLabelText(/From/), "2026-01-01T00:00");
    await userEvent.click(within(dialog).getByRole("button", { name: "Continue" }));
    const confirm = screen.getByRole("dialog", { name: "Delete these logs?" });
    expect(fetchMock.callsTo("DELETE /api/logs")).toHaveLength(0);
    await userEvent.click(within(confirm).getByRole("button", { name: "Delete logs" }));

    expect(await screen.findByText("Deleted 12 log entries.")).toBeInTheDocument();
    const purge = fetchMock.callsTo("DELETE /api/logs")[0]!;
    expect(purge.query.get("since")).toBe(new Date(2026, 0, 1).toISOString());
    expect(purge.query.get("until")).toBeTruthy();
  });

  it("exports the filtered logs as a file", async () => {
    fetchMock.on("GET /api/proxies", json([]));
    fetchMock.on("GET /api/logs", json({ items: [logRow()], next_cursor: null }));
    fetchMock.on("GET /api/logs/stream", () => eventStream().response);
    fetchMock.on(
      "GET /api/logs/export",
      () =>
        new Response("id,status\n1,200\n", { headers: { "Content-Disposition": 'attachment; filename="logs.csv"' } }),
    );
    const clicked: string[] = [];
    // jsdom has no object URLs.
    URL.createObjectURL = () => "blob:logs";
    URL.revokeObjectURL = () => undefined;
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push(this.download);
    });
    renderPage(<LogsPage />, { route: "/logs?cache_status=hit" });

    await userEvent.click(await screen.findByRole("button", { name: "Export CSV" }));
    await waitFor(() => expect(clicked).toEqual(["logs.csv"]));
    const call = fetchMock.callsTo("GET /api/logs/export")[0]!;
    expect(call.query.get("format")).toBe("csv");
    expect(call.query.get("cache_status")).toBe("hit");
    expect(call.headers.get("authorization")).toBe("Bearer test-token");
  });

  it("shows the API's error in words", async () => {
    fetchMock.on("GET /api/proxies", json([]));
    fetchMock.on(
      "GET /api/logs",
      json({ detail: [{ loc: ["query", "status"], msg: "not a status", type: "x" }] }, 422),
    );
    fetchMock.on("GET /api/logs/stream", () => eventStream().response);
    renderPage(<LogsPage />, { route: "/logs?status=abc" });
    expect(await screen.findByText("status: not a status")).toBeInTheDocument();
  });
});

describe("log filters", () => {
  it("turns a relative range into a since instant", () => {
    const now = Date.parse("2026-05-01T12:00:00Z");
    const query = toQuery(readFilters(new URLSearchParams("range=1h&model=gpt-4o")), now);
    expect(query).toEqual({ since: "2026-05-01T11:00:00.000Z", model: "gpt-4o" });
  });

  it("matches live rows like the server filters them", () => {
    const row = { proxy_id: 7, status: 503, cache_status: "bypass", fault: "error_503", model: "m" };
    expect(matches({ status: "5xx" }, row)).toBe(true);
    expect(matches({ status: "4xx" }, row)).toBe(false);
    expect(matches({ status: "503", fault: "error_503", proxy_id: 7 }, row)).toBe(true);
    expect(matches({ cache_status: "hit" }, row)).toBe(false);
  });
});
