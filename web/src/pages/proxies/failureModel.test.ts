import { describe, expect, it } from "vitest";
import type { FailureConfig } from "../../api/types";
import { EMPTY_FORM, fromForm, summarise, toForm } from "./failureModel";

const full: FailureConfig = {
  seed: 42,
  errors: [
    { status: 429, rate: 0.25, retry_after_s: 3 },
    { status: 500, rate: 0.05, retry_after_s: null },
  ],
  timeout: { rate: 0.1, mode: "hang", delay_ms: 5000 },
  latency: { ms: 200, jitter_ms: 50 },
  stream: { truncate_rate: 0.5, truncate_after_chunks: 2, chunk_delay_ms: 30 },
  rate_limit: { rpm: 60, tpm: null },
  ip_allow: ["127.0.0.1", "10.0.0.0/8"],
  ip_block: [],
  allow_header_faults: true,
};

describe("failure form", () => {
  it("round-trips every field of the config", () => {
    const { config, errors } = fromForm(toForm(full));
    expect(errors).toEqual({});
    expect(config).toEqual(full);
  });

  it("shows probabilities as percentages", () => {
    const form = toForm(full);
    expect(form.errors[0]?.percent).toBe("25");
    expect(form.timeoutPercent).toBe("10");
  });

  it("the empty form is the server's defaults: nothing switched on", () => {
    const { config } = fromForm(EMPTY_FORM);
    expect(summarise(config)).toEqual([]);
    expect(config.timeout).toEqual({ rate: 0, mode: "delay", delay_ms: 30000 });
    expect(config.rate_limit).toEqual({ rpm: null, tpm: null });
  });

  it("refuses error chances over 100% in total, and a status twice", () => {
    const form = {
      ...EMPTY_FORM,
      errors: [
        { status: 429 as const, percent: "60", retryAfter: "" },
        { status: 429 as const, percent: "50", retryAfter: "" },
      ],
    };
    const { errors } = fromForm(form);
    expect(errors.errors).toMatch(/add up to 110%/);
    expect(errors["errors.1.status"]).toMatch(/already in the list/);
  });

  it("checks ranges the way the server does", () => {
    const { errors } = fromForm({ ...EMPTY_FORM, latencyMs: "-1", rpm: "0", timeoutPercent: "101", seed: "1.5" });
    expect(Object.keys(errors).sort()).toEqual(["latency.ms", "rate_limit.rpm", "seed", "timeout.rate"]);
  });

  it("summarises what is active", () => {
    expect(summarise(full)).toEqual([
      "25% 429",
      "5% 500",
      "10% timeouts",
      "+200 ms latency",
      "truncated streams",
      "slow streams",
      "rate limit",
      "IP filter",
      "header faults",
    ]);
  });
});
