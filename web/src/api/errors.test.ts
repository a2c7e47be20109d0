import { describe, expect, it } from "vitest";
import { ApiError, describeError, fieldErrors } from "./errors";

describe("describeError", () => {
  it("turns fastapi-users codes into sentences", () => {
    expect(describeError(new ApiError(400, "LOGIN_BAD_CREDENTIALS"))).toMatch(/email or password is incorrect/);
    expect(describeError(new ApiError(403, "REGISTRATION_CLOSED"))).toMatch(/Registration is closed/);
  });

  it("shows a reason the server gave", () => {
    const error = new ApiError(400, {
      code: "REGISTER_INVALID_PASSWORD",
      reason: "Password should be at least 8 characters",
    });
    expect(describeError(error)).toBe("Password should be at least 8 characters.");
  });

  it("names the fields of a validation error", () => {
    const error = new ApiError(422, [
      { loc: ["body", "port"], msg: "port 8001 is used by another proxy", type: "value_error" },
      { loc: ["body", "errors"], msg: "Value error, the error rates add up to more than 1", type: "value_error" },
    ]);
    expect(describeError(error)).toBe(
      "port: port 8001 is used by another proxy; errors: the error rates add up to more than 1",
    );
    expect(fieldErrors(error)).toEqual({
      port: "port 8001 is used by another proxy",
      errors: "the error rates add up to more than 1",
    });
  });

  it("keeps nested field paths", () => {
    const error = new ApiError(422, [{ loc: ["body", "errors", 0, "rate"], msg: "too big", type: "x" }]);
    expect(fieldErrors(error)).toEqual({ "errors.0.rate": "too big" });
  });

  it("falls back on the status", () => {
    expect(describeError(new ApiError(403, null))).toBe("You do not have permission to do that.");
    expect(describeError(new ApiError(502, null))).toMatch(/HTTP 502/);
    expect(describeError(new TypeError("Failed to fetch"))).toMatch(/Cannot reach the Rubberduck server/);
  });
});
