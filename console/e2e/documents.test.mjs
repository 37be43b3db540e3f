// The billing documents in headless Chromium against the real local runtime: October is invoiced over the API
// (a CPM and a flat-fee plan), then the buyer opens the invoice and downloads its PDF; the operator is refused
// a credit larger than the line, then issues a partial credit note whose PDF downloads; the provider downloads
// the payout statement; the buyer turns usage reminders off and the setting survives a reload; at the close of
// November the provider's payout carries the credit note's adjustment. Screenshots go to test-output/screenshots/.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe } from "node:test";
import { client, journey, OPERATOR_KEY, openPage, startRuntime, stepsOn } from "./runtime.mjs";

let runtime, api, browser, page;
const state = {};

const { shot, nav, signInAs, setClock, ok } = journey(() => ({ page, runtime, api }));

/** Clicks `button`, waits for the browser's download and checks it is a PDF: returns its name and bytes. */
async function downloadPdf(button) {
  const [file] = await Promise.all([page.waitForEvent("download"), button.click()]);
  const bytes = readFileSync(await file.path());
  assert.equal(bytes.subarray(0, 4).toString("latin1"), "%PDF", `${file.suggestedFilename()} is a PDF`);
  assert.ok(bytes.length > 500, "a PDF with content");
  return { name: file.suggestedFilename(), bytes };
}

const step = stepsOn(() => page);

describe("billing documents in the console", { concurrency: false }, () => {
  before(async () => {
    runtime = await startRuntime("2026-10-09T12:00:00Z");
    api = client(runtime.url);
    state.pageErrors = [];
    ({ browser, page } = await openPage(state.pageErrors));
    // October over the API (the billing journey shows these screens): a feed with a CPM and a flat-fee plan, used by one buyer.
    state.provider = await ok("POST", "/v1/admin/accounts", OPERATOR_KEY, { company_name: "Northwind Data", email: "data@northwind.example", roles: ["provider"] });
    const key = state.provider.api_key;
    const source = await ok("POST", "/v1/sources", key, { name: "Web events", type: "api" });
    const events = Array.from({ length: 200 }, (_, n) => ({ user_id: `u${n}`, data: { interest: n % 2 ? "travel" : "sports" } }));
    await ok("POST", `/v1/sources/${source.source_id}/events`, key, { events });
    const trait = await ok("POST", "/v1/traits", key, { name: "Sports fans", source_id: source.source_id, condition: { key: "interest", equals: "sports" } });
    const feed = await ok("POST", "/v1/feeds", key, {
      name: "Northwind Interests",
      description: "Sports interest from first-party web data.",
      trait_ids: [trait.trait_id],
      visibility: "public",
      plans: [
        { use_cases: ["segments_and_overlap"], unit: "flat_fee", price: "500.00" },
        { use_cases: ["activation"], unit: "cpm", price: "2.00" },
      ],
    });
    await ok("POST", `/v1/feeds/${feed.feed_id}/activate`, key);
    state.buyer = await ok("POST", "/v1/admin/accounts", OPERATOR_KEY, { company_name: "Acme Agency", email: "media@acme.example", roles: ["buyer"] });
    for (const plan of feed.plans) await ok("POST", "/v1/subscriptions", state.buyer.api_key, { plan_id: plan.plan_id });
    await setClock("2026-11-02T09:00:00Z");
    const usage = await ok("GET", "/v1/usage/2026-10/feeds", state.buyer.api_key);
    const rows = usage.rows.filter((r) => r.unit === "cpm").map((r) => ({ ...r, usage: 1_500_000 }));
    assert.equal(rows.length, 1, JSON.stringify(usage.rows));
    await ok("PUT", "/v1/usage/2026-10/feeds", state.buyer.api_key, { rows });
    await setClock("2026-11-06T00:30:00Z"); // the close of October: 1,500,000 × 2.00 / 1000 + 500.00
    await api("POST", "/_local/idle", { body: { timeout: 60 } });
  });

  after(async () => {
    await browser?.close();
    await runtime?.stop();
  });

  step("the buyer opens the invoice: its number, its PDF, no credit note yet", async () => {
    await signInAs(state.buyer.api_key);
    await nav("Invoices");
    const list = page.getByRole("table", { name: "Invoices" });
    await list.getByRole("row", { name: /INV-2026-10-0001 October 2026 issued 2 3500\.00 USD/ }).waitFor();
    await shot("40-invoices-numbers");
    await list.getByRole("link").first().click();
    await page.getByLabel("Invoice number").filter({ hasText: "INV-2026-10-0001" }).waitFor();
    state.invoice = new URL(page.url()).pathname.split("/").pop();
    const pdf = await downloadPdf(page.getByRole("button", { name: "Download PDF" }));
    assert.equal(pdf.name, "INV-2026-10-0001.pdf");
    await page.getByText("No credit note: nothing has been credited on this invoice.").waitFor();
    await page.getByLabel("Still creditable").filter({ hasText: "3500.00 USD" }).waitFor();
    assert.equal(await page.getByRole("heading", { name: "Issue a credit note" }).count(), 0, "a buyer cannot credit");
    await shot("41-invoice-detail-buyer");
  });

  step("the operator is refused a credit larger than the line, then issues a partial credit note", async () => {
    await signInAs(OPERATOR_KEY);
    await page.goto(`${runtime.url}/invoices/${state.invoice}`);
    await page.getByRole("button", { name: "Credit this invoice…" }).click();
    const form = page.getByRole("form", { name: "Issue a credit note" });
    const lines = form.getByRole("table", { name: "Lines to credit" });
    const cpm = lines.getByRole("row", { name: /Northwind Interests activation 3000\.00 3000\.00/ });
    await cpm.waitFor();
    const lineNo = (await cpm.getByRole("cell").first().textContent()).trim();
    const amount = form.getByLabel(`Credit on line ${lineNo}`);
    await amount.fill("3200");
    await form.getByLabel("Reason").fill("Impressions of 3 October counted twice.");
    await form.getByRole("button", { name: "Issue credit note" }).click();
    let dialog = page.getByRole("dialog", { name: "Credit 3200.00 USD on invoice INV-2026-10-0001?" });
    await dialog.getByRole("row", { name: `${lineNo} Northwind Interests 3200.00 USD` }).waitFor();
    await dialog.getByRole("button", { name: "Confirm credit note" }).click();
    // The API's 422 under the line's amount; nothing credited.
    await form.getByRole("alert").filter({ hasText: /3200\.00 is more than the 3000\.00 USD that remains creditable/ }).waitFor();
    assert.equal(await amount.getAttribute("aria-invalid"), "true");
    assert.match(await amount.evaluate((el) => document.getElementById(el.getAttribute("aria-describedby")).textContent), /remains creditable/);
    assert.deepEqual((await ok("GET", `/v1/invoices/${state.invoice}`, OPERATOR_KEY)).credit_notes, []);
    await shot("42-credit-note-refused");
    await amount.fill("250");
    await form.getByRole("button", { name: "Issue credit note" }).click();
    dialog = page.getByRole("dialog", { name: "Credit 250.00 USD on invoice INV-2026-10-0001?" });
    await dialog.waitFor();
    await shot("43-credit-note-confirm");
    await dialog.getByRole("button", { name: "Confirm credit note" }).click();
    await form.getByRole("status").filter({ hasText: "Credit note CN-2026-11-0001 issued: −250.00 USD." }).waitFor();
    const notes = page.getByRole("table", { name: "Credit notes" });
    await notes.getByRole("row", { name: /CN-2026-11-0001 .*2026.* #\d −250\.00 USD Impressions of 3 October counted twice\./ }).waitFor();
    await page.getByLabel("Credited").filter({ hasText: "250.00 USD" }).waitFor();
    await page.getByLabel("Still creditable").filter({ hasText: "3250.00 USD" }).waitFor();
    await lines.getByRole("row", { name: /Northwind Interests activation 3000\.00 2750\.00/ }).waitFor();
    assert.equal(await form.getByRole("status").textContent(), "Credit note CN-2026-11-0001 issued: −250.00 USD.", "the outcome stays after the refresh");
    const pdf = await downloadPdf(notes.getByRole("button", { name: "Download CN-2026-11-0001 PDF" }));
    assert.equal(pdf.name, "CN-2026-11-0001.pdf");
    await page.getByLabel("Invoice total").filter({ hasText: "3500.00 USD" }).waitFor(); // the invoice is unchanged
    await shot("44-invoice-credited-operator");
  });

  step("the provider downloads the October payout statement", async () => {
    await signInAs(state.provider.api_key);
    await nav("Payouts");
    await page.getByRole("table", { name: "Payouts" }).getByRole("link").first().click();
    await page.getByLabel("Paid out").filter({ hasText: "2800.00 USD" }).waitFor();
    state.payout = new URL(page.url()).pathname.split("/").pop();
    await page.getByLabel("Statement").filter({ hasText: state.payout }).waitFor();
    const pdf = await downloadPdf(page.getByRole("button", { name: "Download statement PDF" }));
    assert.match(pdf.name, /\.pdf$/);
    assert.equal(await page.getByRole("table", { name: "Credit note adjustments" }).count(), 0);
    await shot("45-payout-statement");
  });

  step("the buyer turns usage reminders off; the setting survives a reload", async () => {
    await signInAs(state.buyer.api_key);
    await nav("Settings");
    const box = page.getByRole("checkbox", { name: "Usage reminders" });
    assert.equal(await box.isChecked(), true);
    await box.click();
    await page.getByRole("status").filter({ hasText: "Usage reminders are off" }).waitFor();
    await shot("46-settings-reminders-off");
    await page.reload();
    await page.getByRole("heading", { level: 1, name: "Settings" }).waitFor();
    await page.getByRole("checkbox", { name: "Usage reminders" }).waitFor();
    assert.equal(await page.getByRole("checkbox", { name: "Usage reminders" }).isChecked(), false);
    assert.equal((await ok("GET", "/v1/me", state.buyer.api_key)).usage_reminders, false);
    // The buyer sees the credit note on its invoice, with its PDF.
    await page.goto(`${runtime.url}/invoices/${state.invoice}`);
    const notes = page.getByRole("table", { name: "Credit notes" });
    await notes.getByRole("row", { name: /CN-2026-11-0001/ }).waitFor();
    await downloadPdf(notes.getByRole("button", { name: "Download CN-2026-11-0001 PDF" }));
  });

  step("the close of November pays the credit note back on the provider's payout, as its own line", async () => {
    await setClock("2026-12-06T00:30:00Z");
    await api("POST", "/_local/idle", { body: { timeout: 60 } });
    await signInAs(state.provider.api_key);
    await page.goto(`${runtime.url}/payouts?period=2026-11`);
    await page.getByRole("table", { name: "Payouts" }).getByRole("link").first().click();
    const adjustments = page.getByRole("table", { name: "Credit note adjustments" });
    // 80 % of the 250.00 credited goes back: −200.00 of the provider's share, −50.00 of the platform fee.
    await adjustments.getByRole("row", { name: new RegExp(`crn_\\w+ Acme Agency Northwind Interests activation CPM -250\\.00 -200\\.00 -50\\.00 ${state.invoice} #\\d`) }).waitFor();
    await downloadPdf(page.getByRole("button", { name: "Download statement PDF" }));
    await shot("47-payout-adjustment");
    assert.deepEqual(state.pageErrors, [], "no uncaught error in the page");
  });
});
