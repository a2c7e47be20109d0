import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { eventStream, fetchMock, json, logRow, proxy } from "../../test/api";
import { renderPage } from "../../test/render";
import { LogsPage } from "./LogsPage";
import { recordingsLink, replayMissMore, replayMissNearest, replayMissPaths } from "./ReplayMiss";

describe("replay_miss log rows", () => {
  it("show the differing paths and link to the proxy's recordings", async () => {
    fetchMock.on("GET /api/proxies", json([proxy()]));
    fetchMock.on(
      "GET /api/logs",
      json({
        items: [
          logRow({ id: 2, status: 404, error: "replay_miss: messages[1].content, temperature" }),
          logRow({ id: 1, status: 500, error: "upstream unreachable" }),
        ],
        next_cursor: null,
      }),
    );
    fetchMock.on("GET /api/logs/stream", () => eventStream().response);
    renderPage(<LogsPage />, { route: "/logs" });

    const table = await screen.findByTestId("log-table");
    const [miss, other] = [table.querySelector('[data-log-id="2"]')!, table.querySelector('[data-log-id="1"]')!];
    expect(within(miss as HTMLElement).getByText("replay miss")).toHaveAttribute(
      "title",
      "Differs in messages[1].content, temperature",
    );
    expect(within(other as HTMLElement).queryByText("replay miss")).not.toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Details of request 1" }));
    expect(screen.queryByTestId("replay-miss")).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Details of request 2" }));
    const note = screen.getByTestId("replay-miss");
    const paths = within(within(note).getByRole("list", { name: "Differing paths" })).getAllByRole("listitem");
    expect(paths.map((item) => item.textContent)).toEqual(["messages[1].content", "temperature"]);
    const link = within(note).getByRole("link", { name: "Open the proxy's recordings" });
    expect(link).toHaveAttribute("href", "/proxies/7?tab=recordings&operation=chat");

    await userEvent.click(link);
    expect(await screen.findByText("elsewhere")).toBeInTheDocument();
  });

  it("parses the error text", () => {
    expect(replayMissPaths("replay_miss: messages[1].content, temperature")).toEqual([
      "messages[1].content",
      "temperature",
    ]);
    expect(replayMissPaths("replay_miss")).toEqual([]);
    const key = "ab".repeat(32);
    const named = `replay_miss: messages[0].content (nearest ${key}#2)`;
    expect(replayMissPaths(named)).toEqual(["messages[0].content"]);
    expect(replayMissNearest(named)).toEqual({ key, occurrence: 2 });
    expect(replayMissPaths(`replay_miss (nearest ${key}#3)`)).toEqual([]);
    expect(replayMissNearest("replay_miss: temperature")).toBeNull();
    const many = `replay_miss: a, b, +3 more (nearest ${key}#1)`;
    expect(replayMissPaths(many)).toEqual(["a", "b"]);
    expect(replayMissMore(many)).toBe(3);
    expect(replayMissMore(named)).toBe(0);
    expect(recordingsLink({ proxy_id: 7, operation: "chat", error: named })).toBe(
      `/proxies/7?tab=recordings&entry=${key}&occurrence=2`,
    );
    expect(recordingsLink({ proxy_id: 7, operation: "chat", error: "replay_miss: temperature" })).toBe(
      "/proxies/7?tab=recordings&operation=chat",
    );
    expect(replayMissPaths("upstream timeout")).toBeNull();
    expect(replayMissPaths(null)).toBeNull();
  });
});
