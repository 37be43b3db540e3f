import { useQuery } from "@tanstack/react-query";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { allPages, api, call, type Schemas } from "../api/client";
import { useAuth } from "../auth";
import { PdfButton } from "../billing/documents";
import { number, QueryView } from "../ui";
import { periodName } from "../usage";
import { PeriodFilter, previousMonth, when } from "./Period";

const pct = (share: string) => `${(Number(share) * 100).toFixed(Number(share) * 100 % 1 ? 2 : 0)} %`;

export default function Payouts() {
  const { me } = useAuth();
  const operator = me?.roles.includes("operator") ?? false;
  const [params, setParams] = useSearchParams();
  const period = params.get("period") ?? (operator ? previousMonth() : "");
  const payouts = useQuery({
    queryKey: ["payouts", period],
    queryFn: async () => {
      const all = await allPages(async (cursor) => {
        const page = await call(api.GET("/v1/payouts", { params: { query: { limit: 100, ...(period ? { period } : {}), ...(cursor ? { cursor } : {}) } } }));
        return { items: page.payouts, next_cursor: page.next_cursor };
      });
      return all.sort((a, b) => b.period.localeCompare(a.period) || a.provider_name.localeCompare(b.provider_name));
    },
  });
  return (
    <>
      <h1>Payouts</h1>
      <p className="lead">
        {operator
          ? "Every provider's payout of a period: gross invoiced, the provider's revenue share and the platform fee."
          : "What each closed period pays you: the gross invoiced to buyers for your feeds and segments, your revenue share of it, and the platform fee."}
      </p>
      <PeriodFilter key={period} value={period} optional={!operator} onChange={(p) => setParams(p ? { period: p } : {})} />
      <QueryView
        query={payouts}
        what="payouts"
        isEmpty={(d) => d.length === 0}
        empty={period ? `No payout for ${periodName(period)}.` : "No payout yet: the first comes with the close after a buyer is invoiced for your data."}
      >
        {(list) => (
          <table aria-label="Payouts">
            <thead>
              <tr>
                <th scope="col">Payout</th>
                <th scope="col">Period</th>
                {operator ? <th scope="col">Provider</th> : null}
                <th scope="col" className="num">Gross</th>
                <th scope="col" className="num">Revenue share</th>
                <th scope="col" className="num">Platform fee</th>
                <th scope="col" className="num">Paid out</th>
              </tr>
            </thead>
            <tbody>
              {list.map((p) => (
                <tr key={p.payout_id}>
                  <td>
                    <Link to={`/payouts/${p.payout_id}`}>{p.payout_id}</Link>
                  </td>
                  <td>{periodName(p.period)}</td>
                  {operator ? <td>{p.provider_name}</td> : null}
                  <td className="num">
                    {p.gross} {p.currency}
                  </td>
                  <td className="num">{pct(p.revenue_share)}</td>
                  <td className="num">
                    {p.platform_fee} {p.currency}
                  </td>
                  <td className="num">
                    <strong>
                      {p.amount} {p.currency}
                    </strong>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
    </>
  );
}

export function PayoutDetail() {
  const { payoutId = "" } = useParams();
  const provider = useAuth().me?.roles.includes("provider") ?? false;
  const payout = useQuery({
    queryKey: ["payout", payoutId],
    queryFn: () => call(api.GET("/v1/payouts/{payout_id}", { params: { path: { payout_id: payoutId } } })),
  });
  return (
    <>
      <h1>Payout {payoutId}</h1>
      <QueryView query={payout} what="the payout">
        {(p) => (
          <>
            <p className="muted">
              <Link to={`/payouts?period=${p.period}`}>{periodName(p.period)}</Link> · {p.provider_name} (<code>{p.provider_id}</code>) · created {when(p.created_at)}
            </p>
            <dl className="facts">
              <dt>Statement</dt>
              <dd aria-label="Statement">
                <code>{p.payout_id}</code>
              </dd>
              <dt>Gross invoiced</dt>
              <dd aria-label="Gross">
                {p.gross} {p.currency}
              </dd>
              <dt>Revenue share</dt>
              <dd>{pct(p.revenue_share)}</dd>
              <dt>Platform fee</dt>
              <dd aria-label="Platform fee">
                {p.platform_fee} {p.currency}
              </dd>
              <dt>Paid out</dt>
              <dd aria-label="Paid out">
                <strong>
                  {p.amount} {p.currency}
                </strong>
              </dd>
            </dl>
            <div className="row">
              <PdfButton path={`/v1/payouts/${encodeURIComponent(payoutId)}.pdf`} fileName={`${payoutId}.pdf`} label="Download statement PDF" />
            </div>
            <PayoutLines label="Payout lines" lines={p.lines.filter((l) => !l.credit_note_id)} />
            {p.lines.some((l) => l.credit_note_id) ? (
              <>
                <h2>Credit note adjustments</h2>
                <p className="muted">
                  Credit notes issued this period on earlier invoices: the part of each credited amount that had been paid to you is taken back here.
                </p>
                <PayoutLines label="Credit note adjustments" lines={p.lines.filter((l) => l.credit_note_id)} adjustments />
              </>
            ) : null}
            {provider ? (
              <p>
                <Link to={`/revenue?period=${p.period}`}>Revenue of {periodName(p.period)} by buyer and by channel</Link>
              </p>
            ) : null}
          </>
        )}
      </QueryView>
    </>
  );
}

function PayoutLines({ label, lines, adjustments = false }: { label: string; lines: Schemas["PayoutLineView"][]; adjustments?: boolean }) {
  return (
    <div className="scroll">
      <table aria-label={label}>
        <thead>
          <tr>
            {adjustments ? <th scope="col">Credit note</th> : null}
            <th scope="col">Buyer</th>
            <th scope="col">Feed or segment</th>
            <th scope="col">Use case</th>
            <th scope="col">Unit</th>
            {adjustments ? null : (
              <th scope="col" className="num">
                Impressions
              </th>
            )}
            <th scope="col" className="num">Gross</th>
            <th scope="col" className="num">Your share</th>
            <th scope="col" className="num">Platform fee</th>
            <th scope="col">Invoice line</th>
          </tr>
        </thead>
        <tbody>
          {lines.map((l) => (
            <tr key={`${l.credit_note_id ?? ""}:${l.invoice_id}:${l.invoice_line_no}`}>
              {adjustments ? (
                <td>
                  <code>{l.credit_note_id}</code>
                </td>
              ) : null}
              <td>{l.buyer_name}</td>
              <td>{(l.kind === "segment" ? l.segment_name : l.feed_name) ?? "—"}</td>
              <td>{l.use_case.replace(/_/g, " ")}</td>
              <td>{l.unit === "cpm" ? "CPM" : "flat fee / month"}</td>
              {adjustments ? null : <td className="num">{l.unit === "cpm" ? number(l.impressions) : "—"}</td>}
              <td className="num">{l.gross}</td>
              <td className="num">{l.provider_share}</td>
              <td className="num">{l.platform_fee}</td>
              <td>
                <code>
                  {l.invoice_id} #{l.invoice_line_no}
                </code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
