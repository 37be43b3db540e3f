import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { ReactNode } from "react";
import { MemoryRouter } from "react-router-dom";
import { AuthProvider } from "../src/auth";
import { Activate, SignIn, SignUp } from "../src/screens/Auth";
import Builder from "../src/screens/Builder";

type Handler = (request: Request) => Response | Promise<Response>;
let handler: Handler;
const calls: { method: string; path: string; body: string; auth: string | null }[] = [];

beforeEach(() => {
  calls.length = 0;
  sessionStorage.clear();
  vi.stubGlobal("fetch", async (input: Request) => {
    const body = input.method === "GET" ? "" : await input.clone().text();
    calls.push({ method: input.method, path: new URL(input.url).pathname, body, auth: input.headers.get("Authorization") });
    return handler(input);
  });
});
afterEach(() => vi.unstubAllGlobals());

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

function mount(ui: ReactNode, path = "/") {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <AuthProvider>{ui}</AuthProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

describe("sign-up", () => {
  it("shows the API's refusal next to the field it names", async () => {
    handler = () => json(422, { error: { code: "validation_error", message: "Invalid request: email.", details: [{ field: "email", message: "value is not a valid email address" }] } });
    mount(<SignUp />);
    await userEvent.type(screen.getByLabelText("Company name"), "Acme");
    await userEvent.type(screen.getByLabelText("Email"), "nope");
    await userEvent.click(screen.getByRole("button", { name: "Sign up" }));
    const email = screen.getByLabelText("Email");
    await waitFor(() => expect(email).toHaveAttribute("aria-invalid", "true"));
    expect(email).toHaveAccessibleDescription(/not a valid email address/);
    expect(JSON.parse(calls[0]!.body)).toEqual({ company_name: "Acme", email: "nope", roles: ["provider"] });
  });

  it("tells the user to open the email once the account is created (201)", async () => {
    handler = () => json(201, { account_id: "acc_1", status: "pending" });
    mount(<SignUp />);
    await userEvent.type(screen.getByLabelText("Company name"), "Acme");
    await userEvent.type(screen.getByLabelText("Email"), "ops@acme.example");
    await userEvent.click(screen.getByRole("button", { name: "Sign up" }));
    expect(await screen.findByRole("heading", { name: "Check your inbox" })).toBeInTheDocument();
  });
});

describe("activation", () => {
  it("activates when asked, not on opening the link, and shows the key with its warning", async () => {
    handler = () => json(200, { account_id: "acc_1", api_key: "aud_secret_key_0123456789abcdef" });
    mount(<Activate />, "/activate?token=tok_1");
    expect(calls).toHaveLength(0);
    await userEvent.click(screen.getByRole("button", { name: "Activate my account" }));
    expect(await screen.findByLabelText("API key")).toHaveTextContent("aud_secret_key_0123456789abcdef");
    expect(screen.getByText(/shown once/)).toBeInTheDocument();
    expect(calls.filter((c) => c.path === "/v1/accounts/activate")).toHaveLength(1);
    expect(JSON.parse(calls[0]!.body)).toEqual({ token: "tok_1" });
  });

  it("explains a used link", async () => {
    handler = () => json(409, { error: { code: "token_already_used", message: "This activation link was already used.", details: [] } });
    mount(<Activate />, "/activate?token=tok_1");
    await userEvent.click(screen.getByRole("button", { name: "Activate my account" }));
    expect(await screen.findByText(/already used/, { selector: ".error" })).toBeInTheDocument();
  });
});

describe("sign-in", () => {
  it("checks the key on /v1/me and keeps it only in session storage", async () => {
    handler = (request) =>
      request.headers.get("Authorization") === "Bearer aud_good_key_0123456789abcd"
        ? json(200, { account_id: "acc_1", company_name: "Acme", email: "a@b.c", roles: ["provider"], status: "active" })
        : json(401, { error: { code: "unauthorized", message: "This API key is unknown or revoked.", details: [] } });
    mount(<SignIn />, "/signin");
    await userEvent.type(screen.getByLabelText("API key"), "aud_bad_key_0123456789abcdef");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("unknown or revoked");
    expect(sessionStorage.getItem("audiens.api_key")).toBeNull();
    await userEvent.clear(screen.getByLabelText("API key"));
    await userEvent.type(screen.getByLabelText("API key"), "aud_good_key_0123456789abcd");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(sessionStorage.getItem("audiens.api_key")).toBe("aud_good_key_0123456789abcd"));
  });
});

describe("the audience builder", () => {
  const traits = {
    traits: [
      { trait_id: "trt_a", name: "Sports fans", kind: "rule", population: 300, lower_bound: 300, upper_bound: 300, condition: null, created_at: "", source_id: "src_1" },
      { trait_id: "trt_b", name: "Travellers", kind: "rule", population: 200, lower_bound: 200, upper_bound: 200, condition: null, created_at: "", source_id: "src_1" },
    ],
  };

  it("estimates the rule being edited and points at a syntax error's position", async () => {
    sessionStorage.setItem("audiens.api_key", "aud_good_key_0123456789abcd");
    handler = async (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/v1/traits") return json(200, traits);
      if (path === "/v1/segments/estimate") {
        const { rule } = (await request.json()) as { rule: string };
        if (rule.includes("(")) return json(422, { error: { code: "invalid_rule", message: "Invalid rule: expected a trait id at position 10", details: [{ position: 10 }] } });
        return json(200, { population: rule.includes("OR") ? 450 : 300, lower_bound: 300, upper_bound: 300, exact: true, confidence: 0.95, traits: [{ trait_id: "trt_a", population: 300, share: 1 }] });
      }
      return json(404, { error: { code: "not_found", message: "No such route.", details: [] } });
    };
    mount(<Builder />, "/builder");
    await screen.findByRole("option", { name: "Sports fans (300)" });
    await userEvent.selectOptions(screen.getByLabelText("Rule: trait 1"), "trt_a");
    expect(await screen.findByTestId("estimate-population")).toHaveTextContent("300");
    expect(calls.filter((c) => c.path === "/v1/segments/estimate").every((c) => c.auth === "Bearer aud_good_key_0123456789abcd")).toBe(true);
    await userEvent.selectOptions(screen.getByLabelText("Rule: combine with"), "OR");
    await userEvent.click(screen.getByRole("button", { name: "Add trait" }));
    await userEvent.selectOptions(screen.getByLabelText("Rule: trait 2"), "trt_b");
    await waitFor(() => expect(screen.getByTestId("estimate-population")).toHaveTextContent("450"));
    await userEvent.click(screen.getByRole("button", { name: "Text" }));
    const box = screen.getByLabelText("Rule expression");
    expect(box).toHaveValue("trt_a OR trt_b");
    await userEvent.clear(box);
    await userEvent.type(box, "trt_a AND (");
    expect(await screen.findByLabelText("Error at position 10")).toBeInTheDocument();
  });

  it("enables the CPM only for public segments and says why", async () => {
    handler = () => json(200, traits);
    mount(<Builder />, "/builder");
    const cpm = screen.getByLabelText("CPM");
    expect(cpm).toBeDisabled();
    expect(cpm).toHaveAccessibleDescription(/Only public segments can have a price/);
    await userEvent.selectOptions(screen.getByLabelText("Visibility"), "public");
    expect(cpm).toBeEnabled();
  });
});
