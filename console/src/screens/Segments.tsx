import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { api, call } from "../api/client";
import { number, QueryView } from "../ui";

export function useSegments() {
  return useQuery({ queryKey: ["segments"], queryFn: () => call(api.GET("/v1/segments")) });
}

export default function Segments() {
  const segments = useSegments();
  return (
    <>
      <h1>Segments</h1>
      <p className="lead">
        Your audiences. <Link to="/builder">Build a new one</Link> in the audience builder.
      </p>
      <QueryView query={segments} what="segments" isEmpty={(d) => d.segments.length === 0} empty="No segment yet: build one in the Audience builder.">
        {(d) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Category</th>
                <th scope="col">Visibility</th>
                <th scope="col" className="num">CPM</th>
                <th scope="col" className="num">Population</th>
                <th scope="col">Status</th>
                <th scope="col">Expires</th>
              </tr>
            </thead>
            <tbody>
              {d.segments.map((s) => (
                <tr key={s.segment_id}>
                  <td>
                    <Link to={`/segments/${s.segment_id}`}>{s.name}</Link>
                  </td>
                  <td>{s.category}</td>
                  <td>{s.visibility}</td>
                  <td className="num">{s.cpm ? `${s.cpm} ${s.currency}` : "—"}</td>
                  <td className="num">{number(s.population)}</td>
                  <td>{s.status}</td>
                  <td>{s.expires_at.slice(0, 10)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
    </>
  );
}
