import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { Area, AreaChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, call } from "../api/client";
import { Empty, ErrorText, number, QueryView } from "../ui";
import { useTraits } from "./Traits";

export default function SegmentDetail() {
  const { segmentId = "" } = useParams();
  const path = { params: { path: { segment_id: segmentId } } };
  const segment = useQuery({ queryKey: ["segment", segmentId], queryFn: () => call(api.GET("/v1/segments/{segment_id}", path)) });
  const analytics = useQuery({
    queryKey: ["analytics", segmentId],
    queryFn: () => call(api.GET("/v1/segments/{segment_id}/analytics", path)),
  });
  const traits = useTraits();
  const named = (rule: string) =>
    rule.replace(/[A-Za-z0-9_-]+/g, (token) => traits.data?.traits.find((t) => t.trait_id === token)?.name ?? token);
  const client = useQueryClient();
  const navigate = useNavigate();
  const [confirming, setConfirming] = useState(false);
  const remove = useMutation({
    mutationFn: () => call(api.DELETE("/v1/segments/{segment_id}", path)),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["segments"] });
      navigate("/segments");
    },
  });
  return (
    <>
      <p>
        <Link to="/segments">← Segments</Link>
      </p>
      <QueryView query={segment} what="the segment">
        {(s) => (
          <>
            <h1>{s.name}</h1>
            <dl className="facts">
              <dt>Id</dt>
              <dd><code>{s.segment_id}</code></dd>
              <dt>Category</dt>
              <dd>{s.category}</dd>
              <dt>Rule</dt>
              <dd>
                <code>{s.rule}</code>
                {traits.data ? <div>{named(s.rule)}</div> : null}
              </dd>
              <dt>Visibility</dt>
              <dd>{s.visibility}</dd>
              <dt>CPM</dt>
              <dd>{s.cpm ? `${s.cpm} ${s.currency}` : "none"}</dd>
              <dt>Population</dt>
              <dd>
                {number(s.population)} {s.lower_bound != null ? `(${number(s.lower_bound)} – ${number(s.upper_bound)})` : ""}
              </dd>
              <dt>Status</dt>
              <dd>
                {s.status}; expires {s.expires_at.slice(0, 10)} ({s.expiration_days} days after its last change)
              </dd>
            </dl>
            {confirming ? (
              <div className="row" role="group" aria-label="Confirm deletion">
                <span>Delete this segment? It leaves every channel.</span>
                <button type="button" className="danger" onClick={() => remove.mutate()} disabled={remove.isPending}>
                  Yes, delete
                </button>
                <button type="button" className="secondary" onClick={() => setConfirming(false)}>
                  Cancel
                </button>
              </div>
            ) : (
              <button type="button" className="danger" onClick={() => setConfirming(true)}>
                Delete segment
              </button>
            )}
            <ErrorText error={remove.error} />
          </>
        )}
      </QueryView>
      <section aria-labelledby="analytics-title">
        <h2 id="analytics-title">Analytics: cumulative population</h2>
        <QueryView query={analytics} what="analytics">
          {(a) =>
            a.series.length === 0 ? (
              <Empty>No data yet: the daily job records the population every day at 03:00 UTC.</Empty>
            ) : (
              <>
                <figure className="chart" aria-label="Cumulative population chart">
                  <ResponsiveContainer width="100%" height={260}>
                    <AreaChart data={a.series}>
                      <CartesianGrid strokeDasharray="3 3" />
                      <XAxis dataKey="date" fontSize={12} />
                      <YAxis fontSize={12} />
                      <Tooltip />
                      <Area dataKey="population" name="users" stroke="#2f6fde" fill="#cfe0ff" dot={{ r: 4, fill: "#2f6fde" }} isAnimationActive={false} />
                    </AreaChart>
                  </ResponsiveContainer>
                </figure>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Date</th>
                      <th scope="col" className="num">Population</th>
                      <th scope="col" className="num">Bounds</th>
                    </tr>
                  </thead>
                  <tbody>
                    {a.series.map((p) => (
                      <tr key={p.date}>
                        <td>{p.date}</td>
                        <td className="num">{number(p.population)}</td>
                        <td className="num">
                          {number(p.lower_bound)} – {number(p.upper_bound)}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </>
            )
          }
        </QueryView>
      </section>
    </>
  );
}
