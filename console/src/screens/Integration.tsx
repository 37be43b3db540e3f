import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, call, type Schemas } from "../api/client";
import { Code, CopyButton, ErrorText, Field, fieldError, number, QueryView } from "../ui";

type SourceType = "api" | "s3" | "pixel";
const TYPES: { type: SourceType; title: string; blurb: string }[] = [
  { type: "api", title: "API", blurb: "Server-to-server HTTPS batches of up to 1,000 events." },
  { type: "s3", title: "Amazon S3", blurb: "NDJSON or CSV files dropped under the source's prefix." },
  { type: "pixel", title: "Pixel", blurb: "A browser tag that sends one event per page view." },
];

export function useSources() {
  return useQuery({ queryKey: ["sources"], queryFn: () => call(api.GET("/v1/sources")) });
}

const origin = () => window.location.origin;

export default function Integration() {
  const sources = useSources();
  const [created, setCreated] = useState<Schemas["CreatedSourceView"] | null>(null);
  return (
    <>
      <h1>Integration center</h1>
      <p className="lead">Sources are the inlets of your first-party data. Each has its own ingest details.</p>
      <CreateSource onCreated={setCreated} />
      {created ? <CreatedSecrets source={created} onDone={() => setCreated(null)} /> : null}
      <QueryView query={sources} what="sources" isEmpty={(d) => d.sources.length === 0} empty="No source yet: create your first one above.">
        {(data) =>
          TYPES.map(({ type, title, blurb }) => {
            const list = data.sources.filter((s) => s.type === type);
            return (
              <section key={type} aria-labelledby={`type-${type}`} className="group">
                <h2 id={`type-${type}`}>
                  {title} <span className="badge">{data.by_type[type] ?? list.length}</span>
                </h2>
                <p className="muted">{blurb}</p>
                {list.length === 0 ? <p className="empty">No {title} source.</p> : null}
                {list.map((source) => (
                  <SourceCard key={source.source_id} source={source} />
                ))}
              </section>
            );
          })
        }
      </QueryView>
    </>
  );
}

function CreateSource({ onCreated }: { onCreated: (s: Schemas["CreatedSourceView"]) => void }) {
  const client = useQueryClient();
  const [name, setName] = useState("");
  const [type, setType] = useState<SourceType>("api");
  const create = useMutation({
    mutationFn: () => call(api.POST("/v1/sources", { body: { name, type } })),
    onSuccess: (source) => {
      setName("");
      onCreated(source);
      void client.invalidateQueries({ queryKey: ["sources"] });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate();
  };
  return (
    <form className="card row" onSubmit={submit} aria-label="Create a source" noValidate>
      <Field label="Source name" error={fieldError(create.error, "name")}>
        {(props) => <input {...props} value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <Field label="Source type" error={fieldError(create.error, "type")}>
        {(props) => (
          <select {...props} value={type} onChange={(e) => setType(e.target.value as SourceType)}>
            <option value="api">API</option>
            <option value="s3">Amazon S3</option>
            <option value="pixel">Pixel</option>
          </select>
        )}
      </Field>
      <button type="submit" disabled={create.isPending}>
        {create.isPending ? "Creating…" : "Create source"}
      </button>
      <ErrorText error={create.error} />
    </form>
  );
}

function CreatedSecrets({ source, onDone }: { source: Schemas["CreatedSourceView"]; onDone: () => void }) {
  const secret = source.ingest_key ?? source.pixel_token;
  return (
    <div className="notice" role="status">
      <h2>Source “{source.name}” created</h2>
      {secret ? (
        <>
          <p className="warning">
            Its {source.ingest_key ? "ingest key" : "pixel token"} is shown once. Copy it now; Audiens keeps only a hash.
          </p>
          <div className="secret">
            <code aria-label={source.ingest_key ? "Ingest key" : "Pixel token"}>{secret}</code>
            <CopyButton text={secret} />
          </div>
        </>
      ) : (
        <p>Drop files under its prefix; nothing secret is needed beyond your AWS access to the bucket.</p>
      )}
      <button type="button" className="secondary" onClick={onDone}>
        Done
      </button>
    </div>
  );
}

function SourceCard({ source }: { source: Schemas["SourceView"] }) {
  const ingest = source.ingest as Record<string, unknown>;
  return (
    <article className="card" aria-label={`Source ${source.name}`}>
      <h3>
        {source.name} <code className="muted">{source.source_id}</code>
      </h3>
      <p className="muted">
        {number(source.events_accepted)} events accepted · {number(source.events_rejected)} rejected · last event{" "}
        {source.last_event_at ?? "never"}
      </p>
      {source.type === "api" ? <ApiDetails source={source} ingest={ingest} /> : null}
      {source.type === "s3" ? (
        <>
          <p>
            Drop files in <code>s3://{String(ingest.bucket)}/{String(ingest.prefix)}</code> (formats{" "}
            {(ingest.formats as string[] | undefined)?.join(", ")}; CSV header <code>{String(ingest.csv_header)}</code>).
          </p>
          <Code>{`aws s3 cp events.ndjson s3://${String(ingest.bucket)}/${String(ingest.prefix)}events.ndjson`}</Code>
        </>
      ) : null}
      {source.type === "pixel" ? (
        <>
          <p>Put this tag on your pages; replace the user id and data points (the token was shown at creation).</p>
          <Code>{`<img src="${origin()}${String(ingest.pixel_path)}?t=<pixel token>&uid=<user id>&interest=sports" width="1" height="1" alt="">`}</Code>
        </>
      ) : null}
    </article>
  );
}

function ApiDetails({ source, ingest }: { source: Schemas["SourceView"]; ingest: Record<string, unknown> }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <p>
        Endpoint <code>POST {origin()}{String(ingest.ingest_path)}</code> with the header <code>X-Ingest-Key</code> (the
        source's key, prefix <code>{String(ingest.ingest_key_prefix)}</code>), up to{" "}
        {number(ingest.max_events_per_batch as number)} events per batch. Your account API key works on{" "}
        <code>{String(ingest.events_path)}</code>.
      </p>
      <Code>{`curl -X POST ${origin()}${String(ingest.ingest_path)} \\
  -H "X-Ingest-Key: <ingest key>" -H "Content-Type: application/json" \\
  -d '{"events": [{"user_id": "u1", "data": {"interest": "sports", "age": "25-34"}}]}'`}</Code>
      <button type="button" className="secondary" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? "Close the test sender" : "Send test events"}
      </button>
      {open ? <SendEvents sourceId={source.source_id} /> : null}
    </>
  );
}

const SAMPLE = JSON.stringify(
  { events: [{ user_id: "u1", data: { interest: "sports", age: "25-34" } }, { user_id: "u2", data: { interest: "travel", age: "35-44" } }] },
  null,
  2,
);

function SendEvents({ sourceId }: { sourceId: string }) {
  const client = useQueryClient();
  const [text, setText] = useState(SAMPLE);
  const [parseError, setParseError] = useState<string | null>(null);
  const send = useMutation({
    mutationFn: (body: { events: unknown[] }) =>
      call(api.POST("/v1/sources/{source_id}/events", { params: { path: { source_id: sourceId } }, body })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["sources"] }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    try {
      const body = JSON.parse(text) as { events: unknown[] };
      setParseError(null);
      send.mutate(body);
    } catch (error) {
      setParseError(`This is not valid JSON: ${(error as Error).message}`);
    }
  };
  return (
    <form onSubmit={submit} className="subform">
      <Field label="Events (JSON)" error={parseError ?? undefined}>
        {(props) => <textarea {...props} rows={8} value={text} onChange={(e) => setText(e.target.value)} spellCheck={false} />}
      </Field>
      <button type="submit" disabled={send.isPending}>
        Send events
      </button>
      <ErrorText error={send.error} />
      {send.data ? (
        <div role="status">
          <p>
            {number(send.data.accepted)} accepted, {send.data.rejected.length} rejected.
          </p>
          <ul>
            {send.data.rejected.map((r) => (
              <li key={r.index} className="error">
                Event {r.index}: {r.message} ({r.code})
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </form>
  );
}
