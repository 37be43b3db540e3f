import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router-dom";
import { api, call } from "../api/client";
import { number, QueryView } from "../ui";
import { useSources } from "./Integration";
import { SourcePicker } from "./SourcePicker";

export function useDataPoints(sourceId: string) {
  return useQuery({
    queryKey: ["data-points", sourceId],
    queryFn: () => call(api.GET("/v1/data-points", { params: { query: { source_id: sourceId } } })),
    enabled: sourceId !== "",
  });
}

export default function DataPoints() {
  const sources = useSources();
  const [sourceId, setSourceId] = useState("");
  const points = useDataPoints(sourceId);
  return (
    <>
      <h1>Data points</h1>
      <p className="lead">The keys and values collected from a source, with their distinct users: the material of traits.</p>
      <QueryView query={sources} what="sources" isEmpty={(d) => d.sources.length === 0} empty="No source yet: create one in the Integration center.">
        {(data) => (
          <>
            <SourcePicker sources={data.sources} value={sourceId} onChange={setSourceId} />
            <QueryView
              query={points}
              what="data points"
              isEmpty={(d) => d.data_points.length === 0}
              empty="No data point yet: stream events into this source first."
            >
              {(d) =>
                d.data_points.map((point) => (
                  <section key={point.key} className="card" aria-label={`Data point ${point.key}`}>
                    <h2>
                      <code>{point.key}</code>
                    </h2>
                    <table>
                      <thead>
                        <tr>
                          <th scope="col">Value</th>
                          <th scope="col" className="num">
                            Users
                          </th>
                          <th scope="col">
                            <span className="sr-only">Action</span>
                          </th>
                        </tr>
                      </thead>
                      <tbody>
                        {point.values.map((v) => (
                          <tr key={String(v.value)}>
                            <td>{String(v.value)}</td>
                            <td className="num">{number(v.users)}</td>
                            <td>
                              <Link
                                to={`/traits?source=${encodeURIComponent(sourceId)}&key=${encodeURIComponent(point.key)}&value=${encodeURIComponent(String(v.value))}`}
                              >
                                Make a trait of {point.key} = {String(v.value)}
                              </Link>
                            </td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  </section>
                ))
              }
            </QueryView>
          </>
        )}
      </QueryView>
    </>
  );
}
