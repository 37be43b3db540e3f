import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { api, call } from "../api/client";
import { Empty, number, QueryView } from "../ui";
import { useSources } from "./Integration";
import { SourcePicker } from "./SourcePicker";

const REFRESH_MS = 3000;

export default function Activity() {
  const sources = useSources();
  const [sourceId, setSourceId] = useState("");
  const activity = useQuery({
    queryKey: ["activity", sourceId],
    queryFn: () => call(api.GET("/v1/sources/{source_id}/activity", { params: { path: { source_id: sourceId } } })),
    enabled: sourceId !== "",
    refetchInterval: REFRESH_MS, // paused while the tab is hidden (refetchIntervalInBackground is off)
  });
  return (
    <>
      <h1>Activity</h1>
      <p className="lead">What arrives, as it arrives: refreshed every {REFRESH_MS / 1000} seconds while this page is visible.</p>
      <QueryView query={sources} what="sources" isEmpty={(d) => d.sources.length === 0} empty="No source yet: create one in the Integration center.">
        {(data) => (
          <>
            <SourcePicker sources={data.sources} value={sourceId} onChange={setSourceId} />
            <QueryView query={activity} what="activity">
              {(a) => {
                const total = a.per_minute.reduce((sum, m) => sum + m.count, 0);
                const points = a.per_minute.map((m) => ({ minute: m.minute.slice(11, 16), count: m.count }));
                return (
                  <>
                    <section aria-labelledby="per-minute">
                      <h2 id="per-minute">Events per minute (last hour: {number(total)})</h2>
                      <figure className="chart" aria-label="Events per minute chart">
                        <ResponsiveContainer width="100%" height={220}>
                          <BarChart data={points}>
                            <CartesianGrid strokeDasharray="3 3" vertical={false} />
                            <XAxis dataKey="minute" interval={9} fontSize={12} />
                            <YAxis allowDecimals={false} fontSize={12} />
                            <Tooltip />
                            <Bar dataKey="count" name="events" fill="#2f6fde" isAnimationActive={false} />
                          </BarChart>
                        </ResponsiveContainer>
                      </figure>
                    </section>
                    <section aria-labelledby="latest">
                      <h2 id="latest">Latest events</h2>
                      {a.events.length === 0 ? (
                        <Empty>No event yet. Send some from the Integration center; they show up here within seconds.</Empty>
                      ) : (
                        <table>
                          <caption className="sr-only">Latest events, newest first</caption>
                          <thead>
                            <tr>
                              <th scope="col">User</th>
                              <th scope="col">Time</th>
                              <th scope="col">Data points</th>
                            </tr>
                          </thead>
                          <tbody>
                            {a.events.map((e, i) => (
                              <tr key={i}>
                                <td>{String(e.user_id ?? "")}</td>
                                <td>{String(e.timestamp ?? e.received_at ?? "")}</td>
                                <td>
                                  <code>{JSON.stringify(e.data ?? {})}</code>
                                </td>
                              </tr>
                            ))}
                          </tbody>
                        </table>
                      )}
                    </section>
                  </>
                );
              }}
            </QueryView>
          </>
        )}
      </QueryView>
    </>
  );
}
