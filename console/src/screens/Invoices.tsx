import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { allPages, api, call, downloadText, type Schemas } from "../api/client";
import { useAuth } from "../auth";
import { CreditNoteForm, CreditNotes, lineItem, remainingByLine, useCreditNotes } from "../billing/credits";
import { PdfButton } from "../billing/documents";
import { ErrorText, Field, fieldError, number, QueryView } from "../ui";
import { periodName, saveFile } from "../usage";
import { PeriodFilter, previousMonth, when } from "./Period";

export default function Invoices() {
  const { me } = useAuth();
  const operator = me?.roles.includes("operator") ?? false;
  const [params, setParams] = useSearchParams();
  const period = params.get("period") ?? (operator ? previousMonth() : "");
  const invoices = useQuery({
    queryKey: ["invoices", period],
    queryFn: async () => {
      const all = await allPages(async (cursor) => {
        const page = await call(api.GET("/v1/invoices", { params: { query: { limit: 100, ...(period ? { period } : {}), ...(cursor ? { cursor } : {}) } } }));
        return { items: page.invoices, next_cursor: page.next_cursor };
      });
      return all.sort((a, b) => b.period.localeCompare(a.period) || a.buyer_name.localeCompare(b.buyer_name));
    },
  });
  return (
    <>
      <h1>Invoices</h1>
      <p className="lead">
        {operator
          ? "Every buyer's invoices of a period: draft while the close runs, issued when it completes, void when cancelled."
          : "One invoice per closed period: drafted at the close on the 6th, issued when the close completes."}
      </p>
      <PeriodFilter key={period} value={period} optional={!operator} onChange={(p) => setParams(p ? { period: p } : {})} />
      <QueryView
        query={invoices}
        what="invoices"
        isEmpty={(d) => d.length === 0}
        empty={period ? `No invoice for ${periodName(period)}.` : "No invoice yet: the first comes with the close after your first reported month."}
      >
        {(list) => (
          <table aria-label="Invoices">
            <thead>
              <tr>
                <th scope="col">Invoice</th>
                <th scope="col">Number</th>
                <th scope="col">Period</th>
                {operator ? <th scope="col">Buyer</th> : null}
                <th scope="col">Status</th>
                <th scope="col" className="num">Lines</th>
                <th scope="col" className="num">Total</th>
                <th scope="col">Issued</th>
              </tr>
            </thead>
            <tbody>
              {list.map((i) => (
                <tr key={i.invoice_id}>
                  <td>
                    <Link to={`/invoices/${i.invoice_id}`}>{i.invoice_id}</Link>
                  </td>
                  <td className="nowrap">{i.number ?? <span className="muted">—</span>}</td>
                  <td>{periodName(i.period)}</td>
                  {operator ? <td>{i.buyer_name}</td> : null}
                  <td>
                    <span className={`status status-${i.status}`}>{i.status}</span>
                  </td>
                  <td className="num">{i.lines.length}</td>
                  <td className="num">
                    {i.total} {i.currency}
                  </td>
                  <td>{when(i.issued_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
    </>
  );
}

const unitName = (unit: string) => (unit === "cpm" ? "CPM" : "flat fee / month");

export function InvoiceDetail() {
  const { invoiceId = "" } = useParams();
  const { me } = useAuth();
  const operator = me?.roles.includes("operator") ?? false;
  const invoice = useQuery({
    queryKey: ["invoice", invoiceId],
    queryFn: async () => {
      const data = await call(api.GET("/v1/invoices/{invoice_id}", { params: { path: { invoice_id: invoiceId } }, headers: { Accept: "application/json" } }));
      if (typeof data === "string") throw new Error("The invoice came back as CSV instead of JSON.");
      return data;
    },
    refetchInterval: (q) => (q.state.data?.status === "draft" ? 2000 : false),
  });
  const creditNotes = useCreditNotes(invoice.data);
  const download = useMutation({
    mutationFn: async () => saveFile(await downloadText(`/v1/invoices/${encodeURIComponent(invoiceId)}.csv`, "text/csv"), `${invoiceId}.csv`),
  });
  return (
    <>
      <h1>Invoice {invoiceId}</h1>
      <QueryView query={invoice} what="the invoice">
        {(i) => (
          <>
            <p className="muted">
              <Link to={`/invoices?period=${i.period}`}>{periodName(i.period)}</Link> · {i.buyer_name} (<code>{i.buyer_id}</code>) · created {when(i.created_at)}
              {i.issued_at ? ` · issued ${when(i.issued_at)}` : ""}
            </p>
            <dl className="facts">
              <dt>Number</dt>
              <dd aria-label="Invoice number">{i.number ?? <span className="muted">given when the invoice is issued</span>}</dd>
              <dt>Total</dt>
              <dd>
                {i.total} {i.currency}
              </dd>
            </dl>
            <p>
              <span className={`status status-${i.status}`} aria-label="Invoice status">
                {i.status}
              </span>
              {i.status === "void" ? (
                <span>
                  {" "}
                  voided {when(i.voided_at)}: {i.void_reason}
                </span>
              ) : null}
            </p>
            <div className="scroll">
              <table aria-label="Invoice lines">
                <thead>
                  <tr>
                    <th scope="col" className="num">#</th>
                    <th scope="col">Feed or segment</th>
                    <th scope="col">Provider</th>
                    <th scope="col">Use case</th>
                    <th scope="col">Unit</th>
                    <th scope="col" className="num">Impressions</th>
                    <th scope="col" className="num">Unit price</th>
                    <th scope="col" className="num">Amount</th>
                  </tr>
                </thead>
                <tbody>
                  {i.lines.map((l) => (
                    <tr key={l.line_no}>
                      <td className="num">{l.line_no}</td>
                      <td>
                        {lineItem(l)} <span className="muted">({l.kind === "segment" ? "segment" : "feed"})</span>
                      </td>
                      <td>{l.provider_name}</td>
                      <td>{l.use_case.replace(/_/g, " ")}</td>
                      <td>{unitName(l.unit)}</td>
                      <td className="num">{l.unit === "cpm" ? number(l.impressions) : "—"}</td>
                      <td className="num">
                        {l.unit_price}
                        {l.discount_pct && Number(l.discount_pct) > 0 ? <span className="muted"> (list {l.list_price}, −{l.discount_pct} %)</span> : null}
                      </td>
                      <td className="num">{l.amount}</td>
                    </tr>
                  ))}
                </tbody>
                <tfoot>
                  <tr>
                    <th scope="row" colSpan={7} className="num">
                      Total
                    </th>
                    <td className="num" aria-label="Invoice total">
                      <strong>
                        {i.total} {i.currency}
                      </strong>
                    </td>
                  </tr>
                </tfoot>
              </table>
            </div>
            {i.uncharged.length ? (
              <>
                <h2>Reported but not charged</h2>
                <ul>
                  {i.uncharged.map((u, n) => (
                    <li key={n}>
                      {number(u.impressions)} impressions{u.use_case ? ` (${u.use_case.replace(/_/g, " ")})` : ""}: {u.reason}
                    </li>
                  ))}
                </ul>
              </>
            ) : null}
            <div className="row">
              <PdfButton path={`/v1/invoices/${encodeURIComponent(invoiceId)}.pdf`} fileName={`${i.number ?? invoiceId}.pdf`} label="Download PDF" />
              <button type="button" className="secondary" onClick={() => download.mutate()} disabled={download.isPending}>
                Download invoice (CSV)
              </button>
            </div>
            <ErrorText error={download.error} />
            {i.status !== "draft" ? <CreditNotes invoice={i} notes={creditNotes} /> : null}
            {operator && i.status === "issued" && creditNotes.data ? <CreditNoteForm invoice={i} remaining={remainingByLine(i, creditNotes.data)} /> : null}
            {operator && i.status === "issued" ? <VoidForm invoice={i} /> : null}
          </>
        )}
      </QueryView>
    </>
  );
}

function VoidForm({ invoice }: { invoice: Schemas["InvoiceResponse"] }) {
  const client = useQueryClient();
  const [reason, setReason] = useState("");
  const [armed, setArmed] = useState(false);
  const voidIt = useMutation({
    mutationFn: () => call(api.POST("/v1/invoices/{invoice_id}/void", { params: { path: { invoice_id: invoice.invoice_id } }, body: { reason } })),
    onSuccess: (data) => {
      // the void answer is the bare invoice: keep the number and credit notes the detail view added
      client.setQueryData(["invoice", invoice.invoice_id], (old: Schemas["InvoiceResponse"] | undefined) => ({ ...old, ...data, number: data.number ?? old?.number, credit_notes: old?.credit_notes, credited: old?.credited }));
      void client.invalidateQueries({ queryKey: ["invoices"] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!armed) setArmed(true);
    else voidIt.mutate();
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="void-title" noValidate>
      <h2 id="void-title">Void this invoice</h2>
      <Field label="Reason" error={fieldError(voidIt.error, "reason")} hint="Shown to the buyer on the invoice.">
        {(props) => <textarea {...props} rows={2} value={reason} onChange={(e) => { setReason(e.target.value); setArmed(false); }} />}
      </Field>
      {armed ? (
        <p role="alert">
          Void invoice {invoice.invoice_id} of {invoice.buyer_name} ({invoice.total} {invoice.currency})? This cannot be undone.
        </p>
      ) : null}
      <div className="row">
        <button type="submit" disabled={!reason.trim() || voidIt.isPending}>
          {armed ? "Confirm void" : "Void invoice"}
        </button>
        {armed ? (
          <button type="button" className="secondary" onClick={() => setArmed(false)}>
            Keep it
          </button>
        ) : null}
      </div>
      {voidIt.error && !fieldError(voidIt.error, "reason") ? <ErrorText error={voidIt.error} /> : null}
    </form>
  );
}
