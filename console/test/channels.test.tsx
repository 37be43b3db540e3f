import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { AuthProvider } from "../src/auth";
import Channels from "../src/screens/Channels";

const webhook = {
  channel_id: "webhook",
  name: "Webhook",
  setup: "wizard",
  description: "Your endpoint.",
  steps: [
    { step: "endpoint", title: "Endpoint", fields: [{ name: "url", type: "string", required: true, secret: false, description: "HTTPS URL." }] },
    { step: "credentials", title: "Credentials", fields: [{ name: "secret", type: "string", required: true, secret: true, description: "Shared secret." }] },
  ],
};
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
const stepError = (step: string, field: string, message: string) =>
  json(422, { error: { code: "invalid_destination_config", message: `Step '${step}' is invalid: ${message}`, details: [{ step, field, message }] } });

describe("the channel wizard", () => {
  const posted: Record<string, unknown>[] = [];

  beforeEach(() => {
    posted.length = 0;
    sessionStorage.setItem("audiens.api_key", "aud_good_key_0123456789abcd");
    vi.stubGlobal("fetch", async (request: Request) => {
      const path = new URL(request.url).pathname;
      if (path === "/v1/channels") return json(200, { channels: [webhook] });
      if (path === "/v1/destinations" && request.method === "GET") return json(200, { destinations: [] });
      if (path === "/v1/destinations") {
        const body = (await request.json()) as { config: Record<string, string> };
        posted.push(body.config);
        const { url, secret } = body.config;
        if (!url?.startsWith("https://")) return stepError("endpoint", "url", "url must be an absolute https:// URL.");
        if (!secret) return stepError("credentials", "secret", "secret is required.");
        if (secret.length < 16) return stepError("credentials", "secret", "secret must be 16 to 256 characters.");
        return json(201, { destination_id: "dst_1", name: "Webhook", status: "active", channel_id: "webhook", channel_name: "Webhook", config: {}, content_optimization: false, created_at: "" });
      }
      return json(404, { error: { code: "not_found", message: "No such route.", details: [] } });
    });
  });
  afterEach(() => vi.unstubAllGlobals());

  it("has each step checked by the API and shows a step's error on that step", async () => {
    render(
      <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
        <MemoryRouter>
          <AuthProvider>
            <Channels />
          </AuthProvider>
        </MemoryRouter>
      </QueryClientProvider>,
    );
    await userEvent.click(await screen.findByRole("button", { name: "Configure Webhook" }));
    await userEvent.type(screen.getByLabelText("url"), "ftp://x");
    await userEvent.click(screen.getByRole("button", { name: "Next" }));
    expect(await screen.findByText("url must be an absolute https:// URL.")).toBeInTheDocument();
    expect(screen.getByText("Step 1 of 2: Endpoint")).toBeInTheDocument();
    expect(posted).toEqual([{ url: "ftp://x" }]); // only this step's fields were sent

    await userEvent.clear(screen.getByLabelText("url"));
    await userEvent.type(screen.getByLabelText("url"), "https://hooks.example.com/a");
    await userEvent.click(screen.getByRole("button", { name: "Next" }));
    // The API refused only the next step: this one passed, and nothing was created.
    expect(await screen.findByText("Step 2 of 2: Credentials")).toBeInTheDocument();
    expect(screen.queryByRole("alert")).toBeNull();

    await userEvent.type(screen.getByLabelText("secret"), "short");
    await userEvent.click(screen.getByRole("button", { name: "Create destination" }));
    expect(await screen.findByText("secret must be 16 to 256 characters.")).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("secret"), "-and-now-long-enough");
    await userEvent.click(screen.getByRole("button", { name: "Create destination" }));
    const done = await screen.findByRole("heading", { name: "Webhook is configured" });
    expect(within(done.parentElement!).getByText("dst_1")).toBeInTheDocument();
    expect(posted.at(-1)).toEqual({ url: "https://hooks.example.com/a", secret: "short-and-now-long-enough" });
  });
});
