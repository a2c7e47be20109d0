import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fetchMock, json, providers, proxy } from "../../../test/api";
import { renderPage } from "../../../test/render";
import { ProxyDetailPage } from "../ProxyDetailPage";
import { describeImport } from "./ZipTransfer";

function serve() {
  fetchMock.on("GET /api/providers", json(providers));
  fetchMock.on("GET /api/proxies", json([proxy()]));
  fetchMock.on("GET /api/proxies/7", json(proxy()));
  fetchMock.on("GET /api/logs", json({ items: [], next_cursor: null }));
  fetchMock.on("GET /api/proxies/7/cache", json({ items: [], next_cursor: null }));
}

const openTab = (route = "/proxies/7?tab=recordings") =>
  renderPage(<ProxyDetailPage />, { route, path: "/proxies/:id" });

afterEach(() => vi.unstubAllGlobals());

describe("Recordings tab: zip download and upload", () => {
  it("downloads the filtered namespace's zip under the server's file name", async () => {
    serve();
    fetchMock.on(
      "GET /api/proxies/7/recordings.zip",
      () =>
        new Response(new Blob(["PK"]), {
          headers: {
            "Content-Type": "application/zip",
            "Content-Disposition": 'attachment; filename="recordings-7-tests.zip"',
          },
        }),
    );
    const createObjectURL = vi.fn(() => "blob:zip");
    vi.stubGlobal("URL", Object.assign(URL, { createObjectURL, revokeObjectURL: vi.fn() }));
    const clicked: string[] = [];
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicked.push(this.download);
    });
    openTab("/proxies/7?tab=recordings&namespace=tests");

    await userEvent.click(await screen.findByRole("button", { name: "Download .zip" }));
    await waitFor(() => expect(clicked).toEqual(["recordings-7-tests.zip"]));
    expect(fetchMock.callsTo("GET /api/proxies/7/recordings.zip")[0]?.query.get("namespace")).toBe("tests");
    expect(createObjectURL).toHaveBeenCalledOnce();
    click.mockRestore();
  });

  it("uploads the chosen zip, shows what was imported and reloads the list", async () => {
    serve();
    fetchMock.on("POST /api/proxies/7/recordings.zip", json({ imported: 3, replaced: 1, skipped: 0 }));
    openTab();
    await screen.findByRole("button", { name: "Upload .zip" });
    const listed = fetchMock.callsTo("GET /api/proxies/7/cache").length;

    const file = new File(["PK-zip-bytes"], "recordings.zip", { type: "application/zip" });
    await userEvent.upload(screen.getByLabelText("Recordings zip file"), file);

    expect(await screen.findByText("Imported 3 recordings, 1 replaced.", { selector: "[role=status]" })).toBeVisible();
    const sent = fetchMock.callsTo("POST /api/proxies/7/recordings.zip")[0];
    expect(String(sent?.body)).toContain('name="file"'); // the file's name is lost between jsdom's File and undici's FormData;
    expect(String(sent?.body)).toContain("PK-zip-bytes");
    await waitFor(() => expect(fetchMock.callsTo("GET /api/proxies/7/cache").length).toBeGreaterThan(listed));
  });

  it("names the bad file and the reason when the server refuses the zip", async () => {
    serve();
    fetchMock.on(
      "POST /api/proxies/7/recordings.zip",
      json(
        {
          detail: [
            {
              loc: ["body", "_default/chat-3f3f3f3f3f3f.json"],
              msg: "response.status: expected an HTTP status (100-599)",
              type: "value_error",
            },
          ],
        },
        422,
      ),
    );
    openTab();
    const file = new File(["PK"], "bad.zip", { type: "application/zip" });
    await userEvent.upload(await screen.findByLabelText("Recordings zip file"), file);

    expect(await screen.findByText("Nothing was imported")).toBeInTheDocument();
    expect(
      screen.getByText(/_default\/chat-3f3f3f3f3f3f\.json: response\.status: expected an HTTP status/),
    ).toBeInTheDocument();
  });

  it("says what an import did in words", () => {
    expect(describeImport({ imported: 1, replaced: 0, skipped: 0 })).toBe("Imported 1 recording.");
    expect(describeImport({ imported: 0, replaced: 0, skipped: 2 })).toBe(
      "Imported 0 recordings, 2 of another provider left out.",
    );
  });
});
