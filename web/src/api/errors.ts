// Turns what the API sends back on failure into sentences a person can act on.

export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;

  constructor(status: number, detail: unknown) {
    super(describeDetail(status, detail));
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

/** fastapi-users answers with bare codes; these are the ones a person can meet in this UI. */
const CODES: Record<string, string> = {
  LOGIN_BAD_CREDENTIALS: "The email or password is incorrect, or the account is disabled.",
  LOGIN_USER_NOT_VERIFIED: "This email address is not verified yet. Check your inbox for the link.",
  REGISTER_USER_ALREADY_EXISTS: "An account with this email already exists. Sign in instead.",
  REGISTER_INVALID_PASSWORD: "This password is not allowed.",
  RESET_PASSWORD_BAD_TOKEN: "This reset link is invalid or has expired. Ask for a new one.",
  RESET_PASSWORD_INVALID_PASSWORD: "This password is not allowed.",
  VERIFY_USER_BAD_TOKEN: "This verification link is invalid or has expired.",
  VERIFY_USER_ALREADY_VERIFIED: "This email address is already verified. You can sign in.",
  OAUTH_NOT_AVAILABLE_EMAIL: "The sign-in provider did not share an email address.",
  OAUTH_USER_ALREADY_EXISTS: "An account with this email already exists. Sign in with your password.",
  REGISTRATION_CLOSED: "Registration is closed on this server. Ask an administrator for an account.",
  REGISTRATION_NOT_ALLOWED: "This email address is not on the registration allowlist.",
  LOGIN_METHOD_DISABLED: "This way of signing in is turned off on this server.",
  LOGIN_TOO_MANY_ATTEMPTS: "Too many failed sign-in attempts. Wait a few minutes and try again.",
  USER_NOT_VERIFIED: "Verify your email address first: open the link we sent you.",
  OAUTH_CANCELLED: "Sign-in was cancelled at the provider.",
  OAUTH_INVALID_STATE: "The sign-in link expired or was opened in another browser. Try again.",
  OAUTH_PROVIDER_ERROR: "The sign-in provider could not be reached or refused the request. Try again.",
};

interface ValidationItem {
  loc?: (string | number)[];
  msg?: string;
}

function isValidationList(detail: unknown): detail is ValidationItem[] {
  return Array.isArray(detail) && detail.every((item) => typeof item === "object" && item !== null && "msg" in item);
}

/** "body.errors.0.rate" -> "errors.0.rate": the request part adds nothing for a person. */
export function fieldPath(loc: (string | number)[] | undefined): string {
  const parts = (loc ?? []).filter((part, index) => !(index === 0 && ["body", "query", "path"].includes(String(part))));
  return parts.join(".");
}

function cleanMessage(message: string): string {
  return message.replace(/^Value error, /, "");
}

function describeDetail(status: number, detail: unknown): string {
  if (typeof detail === "string" && detail) {
    return CODES[detail] ?? detail;
  }
  if (typeof detail === "object" && detail !== null && !Array.isArray(detail)) {
    const { code, reason } = detail as { code?: unknown; reason?: unknown };
    if (typeof reason === "string" && reason) return reason.endsWith(".") ? reason : `${reason}.`;
    if (typeof code === "string") return CODES[code] ?? code;
  }
  if (isValidationList(detail) && detail.length > 0) {
    return detail
      .map((item) => {
        const field = fieldPath(item.loc);
        const message = cleanMessage(item.msg ?? "is invalid");
        return field ? `${field}: ${message}` : message;
      })
      .join("; ");
  }
  if (status === 401) return "Your session has ended. Sign in again.";
  if (status === 403) return "You do not have permission to do that.";
  if (status === 404) return "Not found. It may have been deleted.";
  if (status === 429) return "Too many requests. Wait a moment and try again.";
  if (status >= 500) return `The server ran into a problem (HTTP ${status}). Try again, or check the server log.`;
  return `The request failed (HTTP ${status}).`;
}

/** Validation errors keyed by field path, for showing each one next to its input. */
export function fieldErrors(error: unknown): Record<string, string> {
  if (!(error instanceof ApiError) || !isValidationList(error.detail)) return {};
  const result: Record<string, string> = {};
  for (const item of error.detail) {
    const field = fieldPath(item.loc);
    if (field && !(field in result)) result[field] = cleanMessage(item.msg ?? "is invalid");
  }
  return result;
}

export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return "Cannot reach the Rubberduck server. Check that it is running.";
  if (error instanceof Error && error.message) return error.message;
  return "Something went wrong.";
}
