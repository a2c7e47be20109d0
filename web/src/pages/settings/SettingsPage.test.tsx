import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { GlobalSettings } from "../../api/types";
import { fetchMock, json, user } from "../../test/api";
import { renderPage } from "../../test/render";
import { SettingsPage } from "./SettingsPage";

const settings: GlobalSettings = {
  registration: "closed",
  registration_allowlist: [],
  password_login: true,
  google_login: true,
  github_login: false,
  require_verification: true,
  ip_allow: [],
  ip_block: ["203.0.113.7"],
  log_retention_days: null,
};

describe("SettingsPage", () => {
  it("is for administrators only", async () => {
    renderPage(<SettingsPage />, { route: "/settings" });
    expect(await screen.findByText("Only administrators can change server settings.")).toBeInTheDocument();
    expect(fetchMock.callsTo("GET /api/settings")).toHaveLength(0);
  });

  it("edits and saves every global setting", async () => {
    fetchMock.on("GET /api/settings", json(settings));
    fetchMock.on("PUT /api/settings", (call) => json(call.body));
    renderPage(<SettingsPage />, { route: "/settings", user: user({ is_superuser: true }) });

    await userEvent.click(await screen.findByRole("radio", { name: /Allowlist/ }));
    await userEvent.type(screen.getByLabelText("Allowed emails and domains"), "ada@example.com\n@example.org");
    await userEvent.click(screen.getByRole("switch", { name: "Require email verification" }));
    await userEvent.click(screen.getByRole("switch", { name: "GitHub" }));
    const network = screen.getByRole("heading", { name: "Network access" }).closest("section")!;
    await userEvent.type(within(network).getByLabelText("Allow only"), "10.0.0.0/8");
    await userEvent.type(screen.getByLabelText(/Keep request logs for/), "30");
    await userEvent.click(screen.getByRole("button", { name: "Save settings" }));

    expect(await screen.findByText("Settings saved.")).toBeInTheDocument();
    expect(fetchMock.callsTo("PUT /api/settings")[0]?.body).toEqual({
      registration: "allowlist",
      registration_allowlist: ["ada@example.com", "@example.org"],
      password_login: true,
      google_login: true,
      github_login: true,
      require_verification: false,
      ip_allow: ["10.0.0.0/8"],
      ip_block: ["203.0.113.7"],
      log_retention_days: 30,
    });
  });

  it("shows the server's refusal next to the field", async () => {
    fetchMock.on("GET /api/settings", json(settings));
    fetchMock.on(
      "PUT /api/settings",
      json(
        {
          detail: [
            {
              loc: ["body", "password_login"],
              msg: "cannot switch off password login while no social login is configured",
              type: "value_error",
            },
          ],
        },
        422,
      ),
    );
    renderPage(<SettingsPage />, { route: "/settings", user: user({ is_superuser: true }) });
    await userEvent.click(await screen.findByRole("switch", { name: "Email and password" }));
    await userEvent.click(screen.getByRole("button", { name: "Save settings" }));
    expect(await screen.findByText(/cannot switch off password login/)).toBeInTheDocument();
  });
});
