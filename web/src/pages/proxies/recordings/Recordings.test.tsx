import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fetchMock, json, providers, proxy } from "../../../test/api";
import { renderPage } from "../../../test/render";
import { ProxyDetailPage } from "../ProxyDetailPage";
import { cacheFieldErrors } from "./cacheForm";
import type { CacheConfig, EntryDetail, EntrySummary } from "./types";

const KEY = "3f".repeat(32);
const OTHER = "a1".repeat(32);

const entry = (overrides: Partial<EntrySummary> = {}): EntrySummary => ({
  key: KEY,
  namespace: "",
  occurrence: 1,
  operation: "chat",
  model: "gpt-4o-mini",
  stream: false,
  status: 200,
  size: 2048,
  created_at: "2026-01-02T10:00:00Z",
  hits: 3,
  last_hit_at: null,
  expires_at: null,
  expired: false,
  ignored: [],
  ...overrides,
});

const cache = (overrides: Partial<CacheConfig> = {}): CacheConfig => ({
  mode: "record",
  repeats: "same",
  ignore: [],
  timing: "instant",
  ttl_seconds: null,
  ...overrides,
});

function serve({ items = [entry()], config = cache() }: { items?: EntrySummary[]; config?: CacheConfig } = {}) {
  fetchMock.on("GET /api/providers", json(providers));
  fetchMock.on("GET /api/proxies", json([{ ...proxy(), cache: config }]));
  fetchMock.on("GET /api/proxies/7", json({ ...proxy(), cache: config }));
  fetchMock.on("GET /api/logs", json({ items: [], next_cursor: null }));
  fetchMock.on("GET /api/proxies/7/cache", json({ items, next_cursor: null }));
}

const openTab = (route = "/proxies/7?tab=recordings") =>
  renderPage(<ProxyDetailPage />, { route, path: "/proxies/:id" });

describe("Recordings tab: cache settings", () => {
  it("is a tab of the proxy page, and saves the mode switch as a PATCH of the proxy's cache", async () => {
    serve({ config: cache({ ignore: ["user"] }) });
    fetchMock.on("PATCH /api/proxies/7", (call) => json({ ...proxy(), ...(call.body as object) }));
    openTab("/proxies/7");

    await userEvent.click(await screen.findByRole("tab", { name: "Recordings" }));
    const form = await screen.findByRole("form", { name: "Cache settings" });
    expect(within(form).getByRole("radio", { name: /^Record/ })).toHaveAttribute("aria-checked", "true");
    await userEvent.click(within(form).getByRole("radio", { name: /^Replay/ }));
    await userEvent.click(within(form).getByRole("radio", { name: "In sequence" }));
    await userEvent.click(within(form).getByRole("radio", { name: "As recorded" }));
    await userEvent.type(within(form).getByLabelText(/Keep entries for/), "3600");
    await userEvent.type(
      within(form).getByLabelText(/Ignored paths/),
      "\nmessages[[*].timestamp\n\n" /* "[[" types "[" */,
    );
    await userEvent.click(within(form).getByRole("button", { name: "Save cache settings" }));

    expect(await screen.findByText("Cache settings saved: replay mode.")).toBeInTheDocument();
    expect(fetchMock.callsTo("PATCH /api/proxies/7")[0]?.body).toEqual({
      cache: {
        mode: "replay",
        repeats: "sequence",
        timing: "recorded",
        ttl_seconds: 3600,
        ignore: ["user", "messages[*].timestamp"],
      },
    });
  });

  it("shows the server's 422 next to the field it names", async () => {
    serve();
    // The shape the proxies router sends: the CacheConfig error's loc under body.cache.
    fetchMock.on(
      "PATCH /api/proxies/7",
      json(
        {
          detail: [
            {
              loc: ["body", "cache", "ignore"],
              msg: "Value error, invalid ignore path 'messages[0': unclosed '['",
              type: "value_error",
            },
            { loc: ["body", "cache", "ttl_seconds"], msg: "Input should be less than or equal to 315360000" },
          ],
        },
        422,
      ),
    );
    openTab();

    const form = await screen.findByRole("form", { name: "Cache settings" });
    await userEvent.click(within(form).getByRole("radio", { name: /^Off/ }));
    await userEvent.type(within(form).getByLabelText(/Ignored paths/), "user\nmessages[[0");
    await userEvent.click(within(form).getByRole("button", { name: "Save cache settings" }));

    expect(await within(form).findByText("invalid ignore path 'messages[0': unclosed '['")).toBeInTheDocument();
    expect(within(form).getByLabelText(/Ignored paths/)).toHaveAttribute("aria-invalid", "true");
    expect(within(form).getByText("Input should be less than or equal to 315360000")).toBeInTheDocument();
    expect(within(form).getByLabelText(/Keep entries for/)).toHaveAttribute("aria-invalid", "true");
    expect(fetchMock.callsTo("PATCH /api/proxies/7")[0]?.body).toEqual({
      cache: { mode: "off", repeats: "same", timing: "instant", ttl_seconds: null, ignore: ["user", "messages[0"] },
    });
  });

  it("numbers the line of a per-item error", () => {
    expect(cacheFieldErrors({ "cache.ignore.1": "unclosed '['" }, ["user", "messages[0"])).toEqual({
      ignore: "Line 2 (messages[0): unclosed '['",
    });
    expect(cacheFieldErrors({ cache: "may not be null", name: "taken" }, [])).toEqual({ "": "may not be null" });
  });

  it("checks the TTL before sending, and rewinds sequences", async () => {
    serve();
    fetchMock.on("POST /api/proxies/7/cache/rewind", json({ rewound: true }));
    openTab();

    const form = await screen.findByRole("form", { name: "Cache settings" });
    await userEvent.type(within(form).getByLabelText(/Keep entries for/), "1.5");
    await userEvent.click(within(form).getByRole("button", { name: "Save cache settings" }));
    expect(within(form).getByText(/Use whole seconds/)).toBeInTheDocument();
    expect(fetchMock.callsTo("PATCH /api/proxies/7")).toHaveLength(0);

    await userEvent.click(screen.getByRole("button", { name: "Rewind sequences" }));
    await waitFor(() => expect(fetchMock.callsTo("POST /api/proxies/7/cache/rewind")).toHaveLength(1));
    expect(await screen.findByText(/Sequences rewound/)).toBeInTheDocument();
  });
});

describe("Recordings tab: entries", () => {
  it("lists the entries, sends the filters, and loads more with the cursor", async () => {
    serve();
    fetchMock.on("GET /api/proxies/7/cache", (call) =>
      call.query.get("cursor") === "page-2"
        ? json({ items: [entry({ key: OTHER, namespace: "suite_a", model: "older-model" })], next_cursor: null })
        : json({
            items: [
              entry(),
              entry({ occurrence: 2, stream: true, expired: true, expires_at: "2026-01-03T10:00:00Z", hits: 0 }),
            ],
            next_cursor: "page-2",
          }),
    );
    openTab();

    const table = await screen.findByTestId("recordings-table");
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows).toHaveLength(2);
    expect(within(rows[0]!).getByText("default")).toBeInTheDocument();
    expect(within(rows[0]!).getByText("2.0 KB")).toBeInTheDocument();
    expect(within(rows[1]!).getByText("stream")).toBeInTheDocument();
    expect(within(rows[1]!).getByText("expired")).toBeInTheDocument();
    expect(rows[1]).toHaveAttribute("data-occurrence", "2");
    expect(fetchMock.callsTo("GET /api/proxies/7/cache")[0]?.query.get("limit")).toBe("50");

    await userEvent.click(screen.getByRole("button", { name: "Load more" }));
    expect(await within(table).findByText("older-model")).toBeInTheDocument();
    expect(fetchMock.callsTo("GET /api/proxies/7/cache").at(-1)?.query.get("cursor")).toBe("page-2");
    expect(screen.queryByRole("button", { name: "Load more" })).not.toBeInTheDocument();

    const filters = screen.getByRole("search", { name: "Filter recordings" });
    await userEvent.type(within(filters).getByLabelText("Namespace"), "suite_a");
    await userEvent.type(within(filters).getByLabelText("Operation"), "chat");
    await userEvent.type(within(filters).getByLabelText("Model"), "gpt-4o");
    await userEvent.type(within(filters).getByLabelText("Unused since"), "2026-01-01T00:00");
    await userEvent.click(within(filters).getByRole("button", { name: "Apply" }));

    await waitFor(() => {
      const query = fetchMock.callsTo("GET /api/proxies/7/cache").at(-1)?.query;
      expect(query?.get("namespace")).toBe("suite_a");
      expect(query?.get("operation")).toBe("chat");
      expect(query?.get("model")).toBe("gpt-4o");
      expect(query?.get("unused_since")).toBe(new Date(2026, 0, 1).toISOString());
      expect(query?.has("cursor")).toBe(false);
    });
  });

  it("clears one namespace after a confirmation, and says how many entries went", async () => {
    serve();
    fetchMock.on("DELETE /api/proxies/7/cache", json({ deleted: 4 }));
    openTab("/proxies/7?tab=recordings&namespace=suite_a");

    await screen.findByTestId("recordings-table");
    expect(fetchMock.callsTo("GET /api/proxies/7/cache")[0]?.query.get("namespace")).toBe("suite_a");
    await userEvent.click(screen.getByRole("button", { name: "Clear namespace…" }));
    const dialog = screen.getByRole("dialog", { name: "Clear a namespace?" });
    expect(within(dialog).getByLabelText("Namespace")).toHaveValue("suite_a");
    expect(fetchMock.callsTo("DELETE /api/proxies/7/cache")).toHaveLength(0);
    await userEvent.click(within(dialog).getByRole("button", { name: "Clear namespace" }));

    expect(await screen.findByText("Deleted 4 entries from namespace suite_a.", { selector: "p" })).toBeInTheDocument();
    const call = fetchMock.callsTo("DELETE /api/proxies/7/cache")[0]!;
    expect(call.query.get("namespace")).toBe("suite_a");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  });

  it("never clears everything from the namespace dialog", async () => {
    serve();
    openTab();
    await screen.findByTestId("recordings-table");
    await userEvent.click(screen.getByRole("button", { name: "Clear namespace…" }));
    const dialog = screen.getByRole("dialog", { name: "Clear a namespace?" });
    await userEvent.click(within(dialog).getByRole("button", { name: "Clear namespace" }));
    expect(within(dialog).getByText(/Names are 1–200 characters/)).toBeInTheDocument();
    expect(fetchMock.callsTo("DELETE /api/proxies/7/cache")).toHaveLength(0);
  });
});

describe("Recordings tab: entry view", () => {
  const detail: EntryDetail = {
    ...entry({ occurrence: 2, stream: true, namespace: "suite_a", ignored: ["metadata.request_id"] }),
    request: {
      method: "POST",
      path: "/v1/chat/completions",
      query: [],
      headers: { "content-type": "application/json" },
      body: { model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "Hi" }] },
    },
    response: {
      status: 200,
      headers: [["content-type", "text/event-stream"]],
      body: null,
      body_base64: null,
      json: null,
      events: [
        { offset_ms: 120.4, data: 'data: {"delta":"Hel"}\n\n', data_base64: null },
        { offset_ms: 1500, data: "data: [DONE]\n\n", data_base64: null },
        {
          offset_ms: 1510,
          data: null,
          data_base64: "AAAA",
          frames: [{ event_type: "chunk", message_type: "event", bytes_decoded: { type: "message_stop" } }],
        },
      ],
    },
  };

  it("opens from the list and shows the request and the stream events with their offsets", async () => {
    serve({ items: [entry({ occurrence: 2, stream: true, namespace: "suite_a" })] });
    fetchMock.on(`GET /api/proxies/7/cache/${KEY}`, json(detail));
    openTab();

    await userEvent.click(await screen.findByRole("button", { name: /Open entry 3f3f.* occurrence 2/ }));
    const dialog = await screen.findByRole("dialog", { name: "Recorded entry" });
    const events = await within(dialog).findByRole("list", { name: "Stream events" });
    expect(fetchMock.callsTo(`GET /api/proxies/7/cache/${KEY}`)[0]?.query.get("occurrence")).toBe("2");

    const items = within(events).getAllByRole("listitem");
    expect(items.map((item) => item.getAttribute("data-offset-ms"))).toEqual(["120.4", "1500", "1510"]);
    expect(within(items[0]!).getByText("+120 ms")).toBeInTheDocument();
    expect(within(items[0]!).getByText('data: {"delta":"Hel"}', { exact: false })).toBeInTheDocument();
    expect(within(items[1]!).getByText("+1.50 s")).toBeInTheDocument();
    expect(within(items[2]!).getByText("Binary chunk, 3 bytes")).toBeInTheDocument();
    expect(within(items[2]!).getByTestId("stream-frame").textContent).toBe('chunk {"type":"message_stop"}');

    expect(within(dialog).getByLabelText("Request body").textContent).toBe(
      JSON.stringify(detail.request?.body, null, 2),
    );
    expect(
      within(within(dialog).getByRole("list", { name: "Ignored paths" })).getByText("metadata.request_id"),
    ).toBeInTheDocument();
  });

  it("shows a JSON body pretty-printed (decoded from gzip) and deletes the entry after a confirmation", async () => {
    serve();
    fetchMock.on(
      `GET /api/proxies/7/cache/${KEY}`,
      json({
        ...detail,
        ...entry(),
        response: { ...detail.response, encoding: "gzip", events: null, json: { id: "chatcmpl-1", choices: [] } },
      }),
    );
    fetchMock.on(`DELETE /api/proxies/7/cache/${KEY}`, json({ deleted: 1 }));
    openTab(`/proxies/7?tab=recordings&entry=${KEY}&occurrence=1`);

    const dialog = await screen.findByRole("dialog", { name: "Recorded entry" });
    expect((await within(dialog).findByLabelText("Response body")).textContent).toBe(
      JSON.stringify({ id: "chatcmpl-1", choices: [] }, null, 2),
    );
    expect(within(dialog).getByText(/Shown decoded from gzip/)).toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole("button", { name: "Delete entry" }));
    expect(fetchMock.callsTo(`DELETE /api/proxies/7/cache/${KEY}`)).toHaveLength(0);
    const listCalls = fetchMock.callsTo("GET /api/proxies/7/cache").length;
    await userEvent.click(within(dialog).getByRole("button", { name: "Delete" }));

    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    const call = fetchMock.callsTo(`DELETE /api/proxies/7/cache/${KEY}`)[0]!;
    expect(call.query.get("occurrence")).toBe("1");
    expect(await screen.findByText("Deleted the entry (occurrence 1).")).toBeInTheDocument();
    await waitFor(() => expect(fetchMock.callsTo("GET /api/proxies/7/cache").length).toBeGreaterThan(listCalls));
  });
});
