import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fetchMock, json } from "../../test/api";
import { renderPage } from "../../test/render";
import { FailureEditor } from "./FailureEditor";

describe("FailureEditor", () => {
  it("adds a 429 for every request and saves the whole config", async () => {
    fetchMock.on("GET /api/proxies/7/failure", json({}));
    fetchMock.on("PUT /api/proxies/7/failure", (call) => json(call.body));
    renderPage(<FailureEditor proxyId={7} />);

    await userEvent.click(await screen.findByRole("button", { name: "Add an error" }));
    const chance = screen.getAllByLabelText("Chance")[0]!;
    await userEvent.clear(chance);
    await userEvent.type(chance, "100");
    await userEvent.type(screen.getByLabelText("Retry-After"), "2");
    await userEvent.click(screen.getByRole("switch", { name: "Allow header faults" }));
    await userEvent.click(screen.getByRole("button", { name: "Save failure settings" }));

    expect(await screen.findByText("Failure simulation saved: 100% 429, header faults.")).toBeInTheDocument();
    const body = fetchMock.callsTo("PUT /api/proxies/7/failure")[0]?.body as Record<string, unknown>;
    expect(body.errors).toEqual([{ status: 429, rate: 1, retry_after_s: 2 }]);
    expect(body.allow_header_faults).toBe(true);
    expect(Object.keys(body).sort()).toEqual([
      "allow_header_faults",
      "errors",
      "ip_allow",
      "ip_block",
      "latency",
      "rate_limit",
      "seed",
      "stream",
      "timeout",
    ]);
  });

  it("puts the server's validation errors on the fields", async () => {
    fetchMock.on("GET /api/proxies/7/failure", json({}));
    fetchMock.on(
      "PUT /api/proxies/7/failure",
      json(
        {
          detail: [
            { loc: ["body", "ip_block"], msg: "Value error, 'nonsense' is not an IP address", type: "value_error" },
          ],
        },
        422,
      ),
    );
    renderPage(<FailureEditor proxyId={7} />);

    await userEvent.type(await screen.findByLabelText(/^Block/), "nonsense");
    await userEvent.click(screen.getByRole("button", { name: "Save failure settings" }));
    expect(await screen.findByText("'nonsense' is not an IP address")).toBeInTheDocument();
    expect(screen.getByText("Fix the fields marked in red.")).toBeInTheDocument();
  });

  it("does not send a config with an impossible value", async () => {
    fetchMock.on("GET /api/proxies/7/failure", json({ errors: [{ status: 503, rate: 0.5, retry_after_s: null }] }));
    renderPage(<FailureEditor proxyId={7} />);
    const chance = (await screen.findAllByLabelText("Chance"))[0]!;
    expect(chance).toHaveValue("50");
    await userEvent.clear(chance);
    await userEvent.type(chance, "150");
    await userEvent.click(screen.getByRole("button", { name: "Save failure settings" }));
    expect(screen.getByText("Use a percentage from 0 to 100.")).toBeInTheDocument();
    await waitFor(() => expect(fetchMock.callsTo("PUT /api/proxies/7/failure")).toHaveLength(0));
  });
});
