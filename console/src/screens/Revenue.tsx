import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, call, downloadText, type Schemas } from "../api/client";
import { useSearchParams } from "react-router-dom";
import { ErrorText, Field, number, QueryView } from "../ui";
import { previousMonth } from "./Period";


const PERIOD = /^\d{4}-(0[1-9]|1[0-2])$/;

export default function Revenue() {
  const [params] = useSearchParams();
  const [period, setPeriod] = useState(() => params.get("period") ?? previousMonth());
  const valid = PERIOD.test(period);
  const revenue = (group_by: "total" | "buyer" | "channel") =>
    ({
      queryKey: ["revenue", period, group_by],
      queryFn: () => call(api.GET("/v1/revenue", { params: { query: { period, group_by } } })),
      enabled: valid,
    }) as const;
  const byBuyer = useQuery(revenue("buyer"));
  const byChannel = useQuery(revenue("channel"));
  const report = useQuery({
    queryKey: ["billing-report", period],
    queryFn: async () => {
      const data = await call(api.GET("/v1/reports/billing", { params: { query: { period } }, headers: { Accept: "application/json" } }));
      if (typeof data === "string") throw new Error("The billing report came back as CSV instead of JSON.");
      return data;
    },
    enabled: valid,
  });
  const download = useMutation({
    mutationFn: async () => {
      const csv = await downloadText(`/v1/reports/billing?period=${encodeURIComponent(period)}`, "text/csv");
      const url = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
      const link = document.createElement("a");
      link.href = url;
      link.download = `audiens-billing-report-${period}.csv`;
      document.body.append(link);
      link.click();
      link.remove();
      URL.revokeObjectURL(url);
    },
  });
  return (
    <>
      <h1>Revenue</h1>
      <p className="lead">Your share of every closed period, by buyer (agency) and by channel.</p>
      <Field
        label="Period (YYYY-MM)"
        error={!valid ? "Write the period as YYYY-MM, e.g. 2026-10." : (byBuyer.error?.message ?? undefined)}
        hint="Revenue exists once the period is closed (00:00 UTC on the 6th of the next month)."
      >
        {(props) => <input {...props} value={period} onChange={(e) => setPeriod(e.target.value)} />}
      </Field>
      {valid && byBuyer.isPending ? <p className="muted">Loading revenue…</p> : null}
      {byBuyer.data ? (
        <>
          <p className="big" aria-label="Total revenue">
            {byBuyer.data.total} {byBuyer.data.currency}
          </p>
          <p className="muted">
            of {byBuyer.data.gross} {byBuyer.data.currency} billed to buyers
          </p>
          <div className="columns">
            <Groups title="By buyer" data={byBuyer.data} />
            <QueryView query={byChannel} what="revenue by channel">
              {(d) => <Groups title="By channel" data={d} />}
            </QueryView>
          </div>
        </>
      ) : null}
      {byBuyer.data ? (
        <section aria-labelledby="report-title">
          <h2 id="report-title">Billing report</h2>
          <button type="button" onClick={() => download.mutate()} disabled={download.isPending}>
            Download billing report (CSV)
          </button>
          <ErrorText error={download.error} />
          <QueryView query={report} what="the billing report" isEmpty={(d) => d.rows.length === 0} empty="No billed line in this period.">
            {(d) => <ReportTable rows={d.rows} />}
          </QueryView>
        </section>
      ) : null}
    </>
  );
}

function Groups({ title, data }: { title: string; data: Schemas["RevenueResponse"] }) {
  const points = data.groups.map((g) => ({ name: g.name || g.key, amount: Number(g.amount) }));
  return (
    <section className="card" aria-label={`Revenue ${title.toLowerCase()}`}>
      <h2>{title}</h2>
      {points.length === 0 ? (
        <p className="empty">No revenue in this period.</p>
      ) : (
        <figure className="chart" aria-label={`${title} chart`}>
          <ResponsiveContainer width="100%" height={Math.max(120, points.length * 40 + 40)}>
            <BarChart data={points} layout="vertical" margin={{ left: 20 }}>
              <CartesianGrid strokeDasharray="3 3" horizontal={false} />
              <XAxis type="number" fontSize={12} />
              <YAxis type="category" dataKey="name" width={130} fontSize={12} />
              <Tooltip />
              <Bar dataKey="amount" name={data.currency} fill="#2f6fde" isAnimationActive={false} />
            </BarChart>
          </ResponsiveContainer>
        </figure>
      )}
      <table>
        <thead>
          <tr>
            <th scope="col">{title.replace("By ", "")}</th>
            <th scope="col" className="num">Billed</th>
            <th scope="col" className="num">Your revenue</th>
          </tr>
        </thead>
        <tbody>
          {data.groups.map((g) => (
            <tr key={g.key}>
              <td>{g.name || g.key}</td>
              <td className="num">{g.gross}</td>
              <td className="num">{g.amount}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function ReportTable({ rows }: { rows: Schemas["BillingReportRow"][] }) {
  return (
    <div className="scroll">
      <table>
        <thead>
          <tr>
            <th scope="col">Buyer</th>
            <th scope="col">Feed / segment</th>
            <th scope="col">Use cases</th>
            <th scope="col">Unit</th>
            <th scope="col" className="num">List price</th>
            <th scope="col" className="num">Discounted</th>
            <th scope="col" className="num">Units</th>
            <th scope="col" className="num">Total cost</th>
            <th scope="col">Subscription</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              <td>{r.buyer_name}</td>
              <td>{r.feed_name ?? r.segment_name}</td>
              <td>{r.use_cases.join(", ")}</td>
              <td>{r.unit}</td>
              <td className="num">{r.list_price}</td>
              <td className="num">{r.discounted_price}</td>
              <td className="num">{r.no_usage_reported ? "not reported" : number(r.units)}</td>
              <td className="num">
                {r.total_cost} {r.currency}
              </td>
              <td>
                {r.subscription_start ?? ""} – {r.subscription_end ?? ""}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
