import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { getToken } from "../../api/session";
import { fetchMock, json } from "../../test/api";
import { renderPage } from "../../test/render";
import { RegisterPage } from "./RegisterPage";
import { readSocialOutcome, SignInPage } from "./SignInPage";

const config = (overrides = {}) => ({
  registration: "open",
  password_login: true,
  social: [],
  require_verification: false,
  first_user: false,
  ...overrides,
});

describe("SignInPage", () => {
  it("signs in with the OAuth2 password form and keeps the token", async () => {
    fetchMock.on("GET /api/auth/config", json(config()));
    fetchMock.on("POST /api/auth/jwt/login", json({ access_token: "jwt-1", token_type: "bearer" }));
    renderPage(<SignInPage />, { route: "/login", user: null });

    await userEvent.type(await screen.findByLabelText("Email"), "ada@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "correct-horse");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));

    await waitFor(() => expect(getToken()).toBe("jwt-1"));
    const [login] = fetchMock.callsTo("POST /api/auth/jwt/login");
    expect(login?.headers.get("content-type")).toBe("application/x-www-form-urlencoded");
    expect(login?.body).toBe("username=ada%40example.com&password=correct-horse");
  });

  it("says in words why signing in failed", async () => {
    fetchMock.on("GET /api/auth/config", json(config()));
    fetchMock.on("POST /api/auth/jwt/login", json({ detail: "LOGIN_BAD_CREDENTIALS" }, 400));
    renderPage(<SignInPage />, { route: "/login", user: null });

    await userEvent.type(await screen.findByLabelText("Email"), "ada@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "wrong-password");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));

    expect(await screen.findByRole("alert")).toHaveTextContent("The email or password is incorrect");
    expect(getToken()).toBeNull();
  });

  it("shows only the social buttons the server offers, and hides registration when closed", async () => {
    fetchMock.on("GET /api/auth/config", json(config({ social: ["github"], registration: "closed" })));
    renderPage(<SignInPage />, { route: "/login", user: null });

    expect(await screen.findByRole("button", { name: "Continue with GitHub" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Continue with Google" })).not.toBeInTheDocument();
    expect(screen.queryByRole("link", { name: "Create an account" })).not.toBeInTheDocument();
  });

  it("sends the browser to the provider's authorization URL", async () => {
    fetchMock.on("GET /api/auth/config", json(config({ social: ["google"] })));
    fetchMock.on("GET /api/auth/google/authorize", json({ detail: "LOGIN_METHOD_DISABLED" }, 403));
    renderPage(<SignInPage />, { route: "/login", user: null });

    await userEvent.click(await screen.findByRole("button", { name: "Continue with Google" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("This way of signing in is turned off");
  });

  it("reads the outcome of a social sign-in from the URL fragment", () => {
    expect(readSocialOutcome("#access_token=abc&token_type=bearer")).toEqual({ token: "abc" });
    expect(readSocialOutcome("#error=OAUTH_CANCELLED")).toEqual({ error: "OAUTH_CANCELLED" });
    expect(readSocialOutcome("")).toEqual({});
  });

  it("accepts the token a social sign-in sent back", async () => {
    fetchMock.on("GET /api/auth/config", json(config()));
    renderPage(<SignInPage />, { route: "/login#access_token=from-google", user: null });
    await waitFor(() => expect(getToken()).toBe("from-google"));
  });
});

describe("RegisterPage", () => {
  it("checks the password before sending anything", async () => {
    fetchMock.on("GET /api/auth/config", json(config()));
    renderPage(<RegisterPage />, { route: "/register", user: null });

    await userEvent.type(await screen.findByLabelText("Email"), "ada@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "short");
    await userEvent.type(screen.getByLabelText("Confirm password"), "other");
    await userEvent.click(screen.getByRole("button", { name: "Create account" }));

    expect(screen.getByText("Use at least 8 characters.")).toBeInTheDocument();
    expect(screen.getByText("The passwords do not match.")).toBeInTheDocument();
    expect(fetchMock.callsTo("POST /api/auth/register")).toHaveLength(0);
  });

  it("asks to verify the address when the server requires it", async () => {
    fetchMock.on(
      "GET /api/auth/config",
      json(config({ require_verification: true, first_user: true, registration: "closed" })),
    );
    fetchMock.on("POST /api/auth/register", json({ id: "x", email: "ada@example.com" }, 201));
    renderPage(<RegisterPage />, { route: "/register", user: null });

    expect(await screen.findByText("The first account becomes the administrator.")).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Email"), "ada@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "a-long-password");
    await userEvent.type(screen.getByLabelText("Confirm password"), "a-long-password");
    await userEvent.click(screen.getByRole("button", { name: "Create account" }));

    expect(await screen.findByRole("heading", { name: "Check your inbox" })).toBeInTheDocument();
    expect(fetchMock.callsTo("POST /api/auth/jwt/login")).toHaveLength(0);
  });

  it("explains that registration is closed", async () => {
    fetchMock.on("GET /api/auth/config", json(config({ registration: "closed" })));
    renderPage(<RegisterPage />, { route: "/register", user: null });
    expect(await screen.findByText(/Registration is closed on this server/)).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Create account" })).not.toBeInTheDocument();
  });
});
