import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { Dialog } from "./Dialog";
import { Segmented, TextField } from "./form";
import { StatusDot } from "./ui";

describe("form controls", () => {
  it("tie the label, hint and error to the input", () => {
    render(<TextField label="Port" hint="Empty: automatic." error="Use a whole number." />);
    const input = screen.getByLabelText("Port");
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input).toHaveAccessibleDescription("Use a whole number.");
  });

  it("segmented choices answer to the arrow keys", async () => {
    function Choice() {
      const [value, setValue] = useState<"1h" | "24h">("1h");
      return (
        <Segmented
          label="Window"
          value={value}
          onChange={setValue}
          options={[
            { value: "1h", label: "Hour" },
            { value: "24h", label: "Day" },
          ]}
        />
      );
    }
    render(<Choice />);
    await userEvent.tab();
    expect(screen.getByRole("radio", { name: "Hour" })).toHaveFocus();
    await userEvent.keyboard("{ArrowRight}");
    expect(screen.getByRole("radio", { name: "Day" })).toHaveAttribute("aria-checked", "true");
  });
});

describe("Dialog", () => {
  it("is a labelled modal that Escape closes", async () => {
    const onClose = vi.fn();
    render(
      <Dialog open onClose={onClose} title="Clear the cache?">
        <button type="button">Inside</button>
      </Dialog>,
    );
    const dialog = screen.getByRole("dialog", { name: "Clear the cache?" });
    expect(dialog).toHaveAttribute("aria-modal", "true");
    expect(screen.getByRole("button", { name: "Close" })).toHaveFocus();
    await userEvent.keyboard("{Escape}");
    expect(onClose).toHaveBeenCalledOnce();
  });
});

describe("StatusDot", () => {
  it("names the status for screen readers", () => {
    render(<StatusDot status="error" />);
    expect(screen.getByText("Error")).toHaveClass("sr-only");
  });
});
