import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { AuthProvider } from "../src/auth";
import { fromMinor, toMinor } from "../src/billing/money";
import Invoices, { InvoiceDetail } from "../src/screens/Invoices";
import { PayoutDetail } from "../src/screens/Payouts";
import Settings from "../src/screens/Settings";

type Handler = (request: Request) => Response | undefined | Promise<Response | undefined>;
let handler: Handler;
const calls: { method: string; path: string; body: string; accept: string | null; auth: string | null; idempotency: string | null }[] = [];
const saved: { name: string; blob: Blob }[] = [];

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
const problem = (status: number, code: string, message: string, details: unknown[] = []) => json(status, { error: { code, message, details } });
const pdf = (name: string) =>
  new Response(new TextEncoder().encode("%PDF-1.4\n% a billing document\n%%EOF\n"), {
    status: 200,
    headers: { "Content-Type": "application/pdf", "Content-Disposition": `inline; filename="${name}"` },
  });

let me: Record<string, unknown>;
beforeEach(() => {
  calls.length = 0;
  saved.length = 0;
  sessionStorage.setItem("audiens.api_key", "aud_test_key_0123456789abcdef");
  vi.stubGlobal("fetch", async (input: Request | string, init?: RequestInit) => {
    const request = typeof input === "string" ? new Request(new URL(input, "http://localhost"), init) : input;
    const path = new URL(request.url).pathname;
    calls.push({
      method: request.method,
      path,
      body: request.method === "GET" ? "" : await request.clone().text(),
      accept: request.headers.get("Accept"),
      auth: request.headers.get("Authorization"),
      idempotency: request.headers.get("Idempotency-Key"),
    });
    if (path === "/v1/me" && request.method === "GET") return json(200, me);
    return handler(request) ?? problem(404, "not_found", `No route ${path} in this test.`);
  });
  // jsdom has no object URLs: record what the download link would save.
  let blobs = new Map<string, Blob>();
  vi.stubGlobal("URL", Object.assign(URL, { createObjectURL: (blob: Blob) => { const url = `blob:${blobs.size}`; blobs.set(url, blob); return url; }, revokeObjectURL: () => {} }));
  vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
    saved.push({ name: this.download, blob: blobs.get(this.href) ?? blobs.get(this.getAttribute("href") ?? "")! });
  });
  blobs = new Map();
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  sessionStorage.clear();
});

function mount(path: string) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <AuthProvider>
          <Routes>
            <Route path="/invoices" element={<Invoices />} />
            <Route path="/invoices/:invoiceId" element={<InvoiceDetail />} />
            <Route path="/payouts/:payoutId" element={<PayoutDetail />} />
            <Route path="/settings" element={<Settings />} />
          </Routes>
        </AuthProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

const BUYER = { account_id: "acc_buyer", company_name: "Acme Agency", email: "media@acme.example", roles: ["buyer"], status: "active", usage_reminders: true };
const OPERATOR = { account_id: "acc_operator", company_name: "Audiens", email: "ops@audiens.example", roles: ["operator"], status: "active" };
const PROVIDER = { account_id: "acc_provider", company_name: "Northwind Data", email: "data@northwind.example", roles: ["provider"], status: "active" };

const line = (line_no: number, amount: string, feed_name: string) => ({
  line_no,
  kind: "feed",
  feed_id: `fd_${line_no}`,
  feed_name,
  segment_id: null,
  segment_name: null,
  plan_id: null,
  provider_id: "acc_provider",
  provider_name: "Northwind Data",
  use_case: "activation",
  unit: "cpm",
  impressions: 1_000_000,
  list_price: "2.00",
  discount_pct: "0",
  unit_price: "2.00",
  amount,
  channels: [],
});

function invoice(extra: Record<string, unknown> = {}) {
  return {
    invoice_id: "inv_1",
    number: "INV-2026-10-0001",
    period: "2026-10",
    buyer_id: "acc_buyer",
    buyer_name: "Acme Agency",
    status: "issued",
    currency: "USD",
    total: "3000.00",
    created_at: "2026-11-06T00:00:10Z",
    issued_at: "2026-11-06T00:01:00Z",
    voided_at: null,
    void_reason: null,
    lines: [line(1, "2000.00", "Northwind Interests"), line(2, "1000.00", "Northwind Travel")],
    uncharged: [],
    credit_notes: [{ credit_note_id: "crn_1", number: "CN-2026-11-0001", total: "150.00" }],
    credited: "150.00",
    ...extra,
  };
}

const creditNote = {
  credit_note_id: "crn_1",
  number: "CN-2026-11-0001",
  invoice_id: "inv_1",
  invoice_number: "INV-2026-10-0001",
  invoice_period: "2026-10",
  period: "2026-11",
  buyer_id: "acc_buyer",
  buyer_name: "Acme Agency",
  status: "issued",
  currency: "USD",
  total: "150.00",
  reason: "Impressions counted twice on 3 October.",
  issued_at: "2026-11-10T09:00:00Z",
  lines: [{ invoice_line_no: 1, kind: "feed", provider_id: "acc_provider", provider_name: "Northwind Data", feed_id: "fd_1", feed_name: "Northwind Interests", segment_id: null, segment_name: null, use_case: "activation", unit: "cpm", amount: "150.00" }],
};

describe("money in minor units", () => {
  it("reads and writes the API's decimal strings exactly", () => {
    expect(toMinor("2000.00", 2)).toBe(200000);
    expect(toMinor("12.5", 2)).toBe(1250);
    expect(toMinor("12", 2)).toBe(1200);
    expect(toMinor("1.234", 2)).toBeNull();
    expect(toMinor("1,000", 2)).toBeNull();
    expect(toMinor("abc", 2)).toBeNull();
    expect(fromMinor(185000, 2)).toBe("1850.00");
    expect(fromMinor(5, 2)).toBe("0.05");
    expect(fromMinor(-15000, 2)).toBe("-150.00");
    expect(fromMinor(4050, 0)).toBe("4050");
  });
});

describe("invoice documents", () => {
  it("lists invoices with their number", async () => {
    me = BUYER;
    handler = (r) => (new URL(r.url).pathname === "/v1/invoices" ? json(200, { invoices: [invoice(), invoice({ invoice_id: "inv_2", number: null, status: "draft", period: "2026-11" })], next_cursor: null }) : undefined);
    mount("/invoices");
    const table = await screen.findByRole("table", { name: "Invoices" });
    expect(within(table).getByRole("columnheader", { name: "Number" })).toBeInTheDocument();
    expect(await within(table).findByRole("row", { name: /inv_1 INV-2026-10-0001 October 2026/ })).toBeInTheDocument();
    expect(within(table).getByRole("row", { name: /inv_2 — November 2026 draft/ })).toBeInTheDocument();
  });

  it("shows the number, downloads the PDF with the key and Accept: application/pdf, and lists the credit notes", async () => {
    me = BUYER;
    handler = (r) => {
      const path = new URL(r.url).pathname;
      if (path === "/v1/invoices/inv_1") return json(200, invoice());
      if (path === "/v1/credit-notes/crn_1") return json(200, creditNote);
      if (path === "/v1/invoices/inv_1.pdf") return pdf("INV-2026-10-0001.pdf");
      if (path === "/v1/credit-notes/crn_1.pdf") return pdf("CN-2026-11-0001.pdf");
      return undefined;
    };
    mount("/invoices/inv_1");
    expect(await screen.findByLabelText("Invoice number")).toHaveTextContent("INV-2026-10-0001");
    await userEvent.click(screen.getByRole("button", { name: "Download PDF" }));
    await waitFor(() => expect(saved).toHaveLength(1));
    expect(saved[0]!.name).toBe("INV-2026-10-0001.pdf");
    expect(saved[0]!.blob.type).toBe("application/pdf");
    const request = calls.find((c) => c.path === "/v1/invoices/inv_1.pdf")!;
    expect(request.accept).toBe("application/pdf");
    expect(request.auth).toBe("Bearer aud_test_key_0123456789abcdef");

    const notes = await screen.findByRole("table", { name: "Credit notes" });
    expect(within(notes).getByRole("row", { name: /CN-2026-11-0001 .*2026.* #1 −150\.00 USD Impressions counted twice on 3 October\./ })).toBeInTheDocument();
    expect(screen.getByLabelText("Credited")).toHaveTextContent("150.00 USD");
    expect(screen.getByLabelText("Still creditable")).toHaveTextContent("2850.00 USD");
    await userEvent.click(within(notes).getByRole("button", { name: "Download CN-2026-11-0001 PDF" }));
    await waitFor(() => expect(saved.map((s) => s.name)).toEqual(["INV-2026-10-0001.pdf", "CN-2026-11-0001.pdf"]));
    // A buyer cannot credit.
    expect(screen.queryByRole("heading", { name: "Issue a credit note" })).toBeNull();
  });

  it("shows a refused download in words next to its button, and refuses a body that is not a PDF", async () => {
    me = BUYER;
    let answer = problem(406, "not_acceptable", "This route answers a PDF: send the header Accept: application/pdf.");
    handler = (r) => {
      const path = new URL(r.url).pathname;
      if (path === "/v1/invoices/inv_1") return json(200, invoice({ credit_notes: [], credited: null }));
      if (path === "/v1/invoices/inv_1.pdf") return answer;
      return undefined;
    };
    mount("/invoices/inv_1");
    await userEvent.click(await screen.findByRole("button", { name: "Download PDF" }));
    expect(await screen.findByText(/answers a PDF/)).toHaveTextContent("(not_acceptable)");
    answer = new Response("<html>gateway</html>", { status: 200, headers: { "Content-Type": "text/html" } });
    await userEvent.click(screen.getByRole("button", { name: "Download PDF" }));
    expect(await screen.findByText(/something other than a PDF/)).toBeInTheDocument();
    expect(saved).toHaveLength(0);
    expect(screen.getByText(/No credit note/)).toBeInTheDocument();
  });
});

describe("the operator's credit note", () => {
  function operatorHandler(post: (body: Record<string, unknown>) => Response) {
    let notes = [creditNote];
    handler = async (r) => {
      const path = new URL(r.url).pathname;
      if (path === "/v1/invoices/inv_1") {
        const credited = notes.reduce((a, n) => a + (toMinor(n.total, 2) ?? 0), 0);
        return json(200, invoice({ credit_notes: notes.map((n) => ({ credit_note_id: n.credit_note_id, number: n.number, total: n.total })), credited: fromMinor(credited, 2) }));
      }
      const note = notes.find((n) => path === `/v1/credit-notes/${n.credit_note_id}`);
      if (note) return json(200, note);
      if (path === "/v1/invoices/inv_1/credit-notes" && r.method === "POST") {
        const reply = post((await r.json()) as Record<string, unknown>);
        if (reply.status === 201) notes = [...notes, (await reply.clone().json()) as typeof creditNote];
        return reply;
      }
      return undefined;
    };
  }
  const posts = () => calls.filter((c) => c.method === "POST");

  it("credits chosen lines after a confirmation; the API's 422 lands under the line, nothing is credited", async () => {
    me = OPERATOR;
    operatorHandler((body) => {
      const lines = body.lines as { line_no: number; amount: string }[];
      if (lines[0]!.amount === "1900.00")
        return problem(422, "credit_exceeds_remaining", "The credit note is larger than what remains creditable on the invoice: line 1: 1900.00 is more than the 1850.00 USD that remains creditable.", [
          { line_no: 1, message: "line 1: 1900.00 is more than the 1850.00 USD that remains creditable", remaining: "1850.00" },
        ]);
      return json(201, { ...creditNote, credit_note_id: "crn_2", number: "CN-2026-11-0002", total: "100.00", reason: body.reason, lines: [{ ...creditNote.lines[0], invoice_line_no: 2, amount: "100.00" }] });
    });
    mount("/invoices/inv_1");
    await userEvent.click(await screen.findByRole("button", { name: "Credit this invoice…" }));
    const form = screen.getByRole("form", { name: "Issue a credit note" });
    const lines = within(form).getByRole("table", { name: "Lines to credit" });
    expect(within(lines).getByRole("row", { name: /^1 Northwind Interests activation 2000\.00 1850\.00/ })).toBeInTheDocument();
    // Typed amounts are checked before anything is sent.
    await userEvent.type(within(form).getByLabelText("Credit on line 1"), "12.345");
    await userEvent.click(within(form).getByRole("button", { name: "Issue credit note" }));
    expect(within(form).getByLabelText("Credit on line 1")).toHaveAccessibleDescription(/at most 2 decimals/);
    expect(within(form).getByLabelText("Reason")).toHaveAccessibleDescription(/Say why/);
    expect(screen.queryByRole("dialog")).toBeNull();

    await userEvent.clear(within(form).getByLabelText("Credit on line 1"));
    await userEvent.type(within(form).getByLabelText("Credit on line 1"), "1900");
    await userEvent.type(within(form).getByLabelText("Reason"), "Goodwill after a delivery outage.");
    await userEvent.click(within(form).getByRole("button", { name: "Issue credit note" }));
    const dialog = await screen.findByRole("dialog", { name: "Credit 1900.00 USD on invoice INV-2026-10-0001?" });
    expect(within(dialog).getByRole("row", { name: "1 Northwind Interests 1900.00 USD" })).toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole("button", { name: "Confirm credit note" }));
    const amount = within(form).getByLabelText("Credit on line 1");
    await waitFor(() => expect(amount).toHaveAttribute("aria-invalid", "true"));
    expect(amount).toHaveAccessibleDescription(/more than the 1850\.00 USD that remains creditable/);
    expect(amount).toHaveValue("1900"); // the operator's input stays for correction
    expect(within(form).getByText(/Nothing was credited/)).toBeInTheDocument();
    expect(screen.getByLabelText("Credited")).toHaveTextContent("150.00 USD");
    const first = posts()[0]!;
    expect(JSON.parse(first.body)).toEqual({ reason: "Goodwill after a delivery outage.", full: false, lines: [{ line_no: 1, amount: "1900.00" }] });
    expect(first.idempotency).toMatch(/\S{8,}/);

    await userEvent.clear(amount);
    await userEvent.type(within(form).getByLabelText("Credit on line 2"), "100");
    await userEvent.click(within(form).getByRole("button", { name: "Issue credit note" }));
    await userEvent.click(within(await screen.findByRole("dialog")).getByRole("button", { name: "Confirm credit note" }));
    expect(await within(form).findByRole("status")).toHaveTextContent("Credit note CN-2026-11-0002 issued: −100.00 USD.");
    expect(JSON.parse(posts()[1]!.body)).toEqual({ reason: "Goodwill after a delivery outage.", full: false, lines: [{ line_no: 2, amount: "100.00" }] });
    expect(posts()[1]!.idempotency).not.toBe(first.idempotency); // another body, another key
    const notes = await screen.findByRole("table", { name: "Credit notes" });
    await within(notes).findByRole("row", { name: /CN-2026-11-0002/ });
    await waitFor(() => expect(screen.getByLabelText("Still creditable")).toHaveTextContent("2750.00 USD"));
    // The form stayed through the refresh: its outcome is still shown, and line 1's creditable amount is updated.
    expect(form).toBeInTheDocument();
    expect(within(form).getByRole("status")).toHaveTextContent("CN-2026-11-0002 issued");
    await waitFor(() => expect(within(lines).getByRole("row", { name: /^2 Northwind Travel activation 1000\.00 900\.00/ })).toBeInTheDocument());
  });

  it("credits in full, and shows a 409 next to the button", async () => {
    me = OPERATOR;
    operatorHandler(() => problem(409, "invoice_void", "Invoice inv_1 is void: a void invoice is owed by nobody and cannot be credited."));
    mount("/invoices/inv_1");
    await userEvent.click(await screen.findByRole("button", { name: "Credit this invoice…" }));
    const form = screen.getByRole("form", { name: "Issue a credit note" });
    await userEvent.click(within(form).getByRole("radio", { name: /Everything still creditable \(2850\.00 USD\)/ }));
    await userEvent.type(within(form).getByLabelText("Reason"), "Cancelled order.");
    await userEvent.click(within(form).getByRole("button", { name: "Issue credit note" }));
    const dialog = await screen.findByRole("dialog", { name: "Credit 2850.00 USD on invoice INV-2026-10-0001?" });
    expect(within(dialog).getAllByRole("row")).toHaveLength(3); // header + both lines with what remains
    await userEvent.click(within(dialog).getByRole("button", { name: "Confirm credit note" }));
    expect(await within(form).findByText(/is void: a void invoice/)).toHaveTextContent("(invoice_void)");
    expect(JSON.parse(posts()[0]!.body)).toEqual({ reason: "Cancelled order.", full: true });
    expect(screen.queryByRole("dialog")).toBeNull();
    expect(screen.getByLabelText("Credited")).toHaveTextContent("150.00 USD");
  });
});

describe("payout statement", () => {
  it("downloads the statement PDF and shows credit-note adjustments as their own lines", async () => {
    me = PROVIDER;
    const payoutLine = (extra: Record<string, unknown>) => ({
      invoice_id: "inv_1",
      invoice_line_no: 1,
      buyer_id: "acc_buyer",
      buyer_name: "Acme Agency",
      kind: "feed",
      feed_id: "fd_1",
      feed_name: "Northwind Interests",
      segment_id: null,
      segment_name: null,
      plan_id: null,
      use_case: "activation",
      unit: "cpm",
      impressions: 1_000_000,
      gross: "2000.00",
      provider_share: "1600.00",
      platform_fee: "400.00",
      credit_note_id: null,
      channels: [],
      ...extra,
    });
    handler = (r) => {
      const path = new URL(r.url).pathname;
      if (path === "/v1/payouts/pay_1")
        return json(200, {
          payout_id: "pay_1",
          period: "2026-11",
          provider_id: "acc_provider",
          provider_name: "Northwind Data",
          currency: "USD",
          revenue_share: "0.8",
          gross: "1850.00",
          amount: "1480.00",
          platform_fee: "370.00",
          created_at: "2026-12-06T00:01:00Z",
          lines: [payoutLine({ invoice_id: "inv_9" }), payoutLine({ credit_note_id: "crn_1", impressions: null, gross: "-150.00", provider_share: "-120.00", platform_fee: "-30.00" })],
        });
      if (path === "/v1/payouts/pay_1.pdf") return pdf("payout-pay_1.pdf");
      return undefined;
    };
    mount("/payouts/pay_1");
    expect(await screen.findByLabelText("Statement")).toHaveTextContent("pay_1");
    expect(screen.getByRole("table", { name: "Payout lines" }).querySelectorAll("tbody tr")).toHaveLength(1);
    const adjustments = screen.getByRole("table", { name: "Credit note adjustments" });
    expect(within(adjustments).getByRole("row", { name: "crn_1 Acme Agency Northwind Interests activation CPM -150.00 -120.00 -30.00 inv_1 #1" })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Download statement PDF" }));
    await waitFor(() => expect(saved.map((s) => s.name)).toEqual(["payout-pay_1.pdf"]));
    expect(calls.find((c) => c.path === "/v1/payouts/pay_1.pdf")!.accept).toBe("application/pdf");
  });
});

describe("settings", () => {
  it("turns usage reminders off and on from what GET /v1/me says", async () => {
    me = { ...BUYER, usage_reminders: true };
    handler = async (r) => {
      if (new URL(r.url).pathname !== "/v1/me" || r.method !== "PATCH") return undefined;
      me = { ...me, ...((await r.json()) as object) };
      return json(200, me);
    };
    mount("/settings");
    const box = await screen.findByRole("checkbox", { name: "Usage reminders" });
    expect(box).toBeChecked();
    await userEvent.click(box);
    expect(await screen.findByRole("status")).toHaveTextContent("Usage reminders are off");
    expect(box).not.toBeChecked();
    expect(JSON.parse(calls.find((c) => c.method === "PATCH")!.body)).toEqual({ usage_reminders: false });
    await userEvent.click(box);
    await waitFor(() => expect(box).toBeChecked());
    expect(me.usage_reminders).toBe(true);
  });

  it("shows a refusal and keeps the box as the API holds it", async () => {
    me = { ...BUYER, usage_reminders: false };
    handler = (r) => (r.method === "PATCH" ? problem(503, "unavailable", "The service is busy; retry in a moment.") : undefined);
    mount("/settings");
    const box = await screen.findByRole("checkbox", { name: "Usage reminders" });
    expect(box).not.toBeChecked();
    await userEvent.click(box);
    expect(await screen.findByRole("alert")).toHaveTextContent("The service is busy");
    expect(box).not.toBeChecked();
  });

  it("has no reminders to switch for a provider", async () => {
    me = PROVIDER;
    handler = () => undefined;
    mount("/settings");
    expect(await screen.findByRole("heading", { name: "Settings" })).toBeInTheDocument();
    expect(screen.queryByRole("checkbox")).toBeNull();
  });
});
