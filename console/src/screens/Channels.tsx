import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { api, ApiError, call, type Schemas } from "../api/client";
import { Empty, ErrorText, Field, QueryView } from "../ui";
import { useSegments } from "./Segments";

type Channel = Schemas["ChannelView"];
type Destination = Schemas["DestinationView"];

export default function Channels() {
  const channels = useQuery({ queryKey: ["channels"], queryFn: () => call(api.GET("/v1/channels")) });
  const destinations = useQuery({ queryKey: ["destinations"], queryFn: () => call(api.GET("/v1/destinations")) });
  const [wizard, setWizard] = useState<Channel | null>(null);
  return (
    <>
      <h1>Channels</h1>
      <p className="lead">Push your segments' taxonomy to the platforms where they are bought.</p>
      <section aria-labelledby="catalog-title">
        <h2 id="catalog-title">Catalog</h2>
        <QueryView query={channels} what="channels" isEmpty={(d) => d.channels.length === 0} empty="No channel is available.">
          {(d) => (
            <div className="cards">
              {d.channels.map((c) => (
                <ChannelCard key={c.channel_id} channel={c} onConfigure={() => setWizard(c)} />
              ))}
            </div>
          )}
        </QueryView>
      </section>
      {wizard ? <Wizard channel={wizard} onClose={() => setWizard(null)} /> : null}
      <section aria-labelledby="destinations-title">
        <h2 id="destinations-title">Your destinations</h2>
        <QueryView
          query={destinations}
          what="destinations"
          isEmpty={(d) => d.destinations.length === 0}
          empty="No destination yet: switch on a seamless channel or configure one above."
        >
          {(d) => d.destinations.map((dest) => <DestinationCard key={dest.destination_id} destination={dest} />)}
        </QueryView>
      </section>
    </>
  );
}

function ChannelCard({ channel, onConfigure }: { channel: Channel; onConfigure: () => void }) {
  const client = useQueryClient();
  const switchOn = useMutation({
    mutationFn: () => call(api.POST("/v1/destinations", { body: { channel_id: channel.channel_id, name: channel.name, content_optimization: false } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["destinations"] }),
  });
  return (
    <article className="card" aria-label={`Channel ${channel.name}`}>
      <h3>
        {channel.name} <span className="badge">{channel.setup}</span>
      </h3>
      <p className="muted">{channel.description}</p>
      {channel.setup === "seamless" ? (
        <button type="button" onClick={() => switchOn.mutate()} disabled={switchOn.isPending}>
          Switch on {channel.name}
        </button>
      ) : (
        <button type="button" onClick={onConfigure}>
          Configure {channel.name}
        </button>
      )}
      {switchOn.isSuccess ? <p role="status">Switched on.</p> : null}
      <ErrorText error={switchOn.error} />
    </article>
  );
}

/**
 * Step-by-step configuration. Each "Next" asks the API to validate the configuration so far: the API checks
 * the steps in order and names the first failing one, so a refusal naming a later step means this one passed.
 * When no later step has a required field, the step is checked by the final creation instead (which would
 * otherwise create the destination early); a refusal then brings the wizard back to the step it names.
 */
function Wizard({ channel, onClose }: { channel: Channel; onClose: () => void }) {
  const client = useQueryClient();
  const steps = channel.steps ?? [];
  const [index, setIndex] = useState(0);
  const [name, setName] = useState(channel.name);
  const [config, setConfig] = useState<Record<string, string>>({});
  const [stepError, setStepError] = useState<{ step: number; error: ApiError } | null>(null);
  const [created, setCreated] = useState<Destination | null>(null);
  const step = steps[index];
  const through = (last: number) => {
    const fields = steps.slice(0, last + 1).flatMap((s) => s.fields.map((f) => f.name));
    return Object.fromEntries(fields.filter((f) => config[f]).map((f) => [f, config[f]!]));
  };
  const post = (cfg: Record<string, string>) =>
    call(api.POST("/v1/destinations", { body: { channel_id: channel.channel_id, name, config: cfg, content_optimization: false } }));
  const stepOf = (error: ApiError) => {
    const named = error.details.find((d) => typeof d.step === "string")?.step;
    const at = steps.findIndex((s) => s.step === named);
    return at;
  };
  const next = useMutation({
    mutationFn: async () => {
      const isLast = index === steps.length - 1;
      const laterRequired = steps.slice(index + 1).some((s) => s.fields.some((f) => f.required));
      if (!isLast && !laterRequired) return "advance" as const;
      try {
        const destination = await post(isLast ? through(steps.length - 1) : through(index));
        return destination;
      } catch (error) {
        if (error instanceof ApiError && !isLast && stepOf(error) > index) return "advance" as const;
        throw error;
      }
    },
    onSuccess: (outcome) => {
      setStepError(null);
      if (outcome === "advance") setIndex(index + 1);
      else {
        setCreated(outcome);
        void client.invalidateQueries({ queryKey: ["destinations"] });
      }
    },
    onError: (error) => {
      if (error instanceof ApiError) {
        const at = stepOf(error);
        const target = at >= 0 ? at : index;
        setIndex(target);
        setStepError({ step: target, error });
      }
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    next.mutate();
  };
  if (created) {
    return (
      <section className="card notice" aria-label={`${channel.name} wizard`}>
        <h2>{created.name} is configured</h2>
        <p role="status">
          Destination <code>{created.destination_id}</code> is {created.status}. Map segments to it below.
        </p>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </section>
    );
  }
  if (!step) return null;
  const error = stepError?.step === index ? stepError.error : null;
  return (
    <section className="card wizard" aria-labelledby="wizard-title">
      <h2 id="wizard-title">Configure {channel.name}</h2>
      <ol className="steps" aria-label="Steps">
        {steps.map((s, i) => (
          <li key={s.step} aria-current={i === index ? "step" : undefined} className={i < index ? "done" : ""}>
            {s.title}
          </li>
        ))}
      </ol>
      <form onSubmit={submit} noValidate>
        <h3>
          Step {index + 1} of {steps.length}: {step.title}
        </h3>
        {index === 0 ? (
          <Field label="Destination name" error={error?.forField("name")}>
            {(props) => <input {...props} value={name} onChange={(e) => setName(e.target.value)} />}
          </Field>
        ) : null}
        {step.fields.map((f) => (
          <Field key={f.name} label={`${f.name}${f.required ? "" : " (optional)"}`} hint={f.description} error={error?.forField(f.name)}>
            {(props) => (
              <input
                {...props}
                type={f.secret ? "password" : "text"}
                value={config[f.name] ?? ""}
                onChange={(e) => setConfig({ ...config, [f.name]: e.target.value })}
                autoComplete="off"
              />
            )}
          </Field>
        ))}
        {error && !error.forField("name") && !step.fields.some((f) => error.forField(f.name)) ? <ErrorText error={error} /> : null}
        {next.error && !(next.error instanceof ApiError) ? <ErrorText error={next.error} /> : null}
        <div className="row">
          <button type="button" className="secondary" onClick={() => (index === 0 ? onClose() : setIndex(index - 1))}>
            {index === 0 ? "Cancel" : "Back"}
          </button>
          <button type="submit" disabled={next.isPending}>
            {next.isPending ? "Checking…" : index === steps.length - 1 ? "Create destination" : "Next"}
          </button>
        </div>
      </form>
    </section>
  );
}

const SETTLED = new Set(["pushed", "dead_lettered", "removed", "failed"]);

function DestinationCard({ destination }: { destination: Destination }) {
  const client = useQueryClient();
  const segments = useSegments();
  const market = useQuery({ queryKey: ["marketplace-segments"], queryFn: () => call(api.GET("/v1/marketplace/segments")), retry: false });
  const path = { params: { path: { destination_id: destination.destination_id } } };
  const mappings = useQuery({
    queryKey: ["mappings", destination.destination_id],
    queryFn: () => call(api.GET("/v1/destinations/{destination_id}/segments", path)),
    // Pushes are asynchronous: poll while one is on its way.
    refetchInterval: (query) => (query.state.data?.segments.some((m) => !SETTLED.has(m.push_status)) ? 1500 : false),
  });
  const [segmentId, setSegmentId] = useState("");
  const map = useMutation({
    mutationFn: () => call(api.POST("/v1/destinations/{destination_id}/segments", { ...path, body: { segment_id: segmentId } })),
    onSuccess: () => {
      setSegmentId("");
      void client.invalidateQueries({ queryKey: ["mappings", destination.destination_id] });
    },
  });
  const retry = useMutation({
    mutationFn: (id: string) =>
      call(api.POST("/v1/destinations/{destination_id}/segments/{segment_id}/push", { params: { path: { destination_id: destination.destination_id, segment_id: id } } })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["mappings", destination.destination_id] }),
  });
  const mapped = new Set(mappings.data?.segments.filter((m) => m.push_status !== "removed").map((m) => m.segment_id));
  const own = (segments.data?.segments ?? []).filter((s) => s.status === "active");
  const others = (market.data?.segments ?? []).filter((s) => !own.some((o) => o.segment_id === s.segment_id));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    map.mutate();
  };
  return (
    <article className="card" aria-label={`Destination ${destination.name}`}>
      <h3>
        {destination.name} <span className="badge">{destination.status}</span>
      </h3>
      <p className="muted">
        {destination.channel_name} · <code>{destination.destination_id}</code>
      </p>
      <form className="row" onSubmit={submit} noValidate>
        <Field label={`Segment to map to ${destination.name}`} error={map.error instanceof ApiError ? map.error.forField("segment_id") : undefined}>
          {(props) => (
            <select {...props} value={segmentId} onChange={(e) => setSegmentId(e.target.value)}>
              <option value="">Choose a segment…</option>
              {own.filter((s) => !mapped.has(s.segment_id)).map((s) => (
                <option key={s.segment_id} value={s.segment_id}>
                  {s.name}
                </option>
              ))}
              {others.filter((s) => !mapped.has(s.segment_id)).map((s) => (
                <option key={s.segment_id} value={s.segment_id}>
                  {s.name} ({s.provider_name}, CPM {s.cpm})
                </option>
              ))}
            </select>
          )}
        </Field>
        <button type="submit" disabled={!segmentId || map.isPending}>
          Map segment
        </button>
      </form>
      <ErrorText error={map.error} />
      <QueryView query={mappings} what="mapped segments" isEmpty={(d) => d.segments.length === 0} empty="No segment mapped yet.">
        {(d) => (
          <table>
            <thead>
              <tr>
                <th scope="col">Segment</th>
                <th scope="col">Category</th>
                <th scope="col">Push status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last error</th>
                <th scope="col"><span className="sr-only">Action</span></th>
              </tr>
            </thead>
            <tbody>
              {d.segments.map((m) => (
                <tr key={m.mapping_id}>
                  <td>{m.name}</td>
                  <td>{m.category}</td>
                  <td>
                    <span className={`status status-${m.push_status}`}>{m.push_status.replace("_", " ")}</span>
                  </td>
                  <td>{m.attempts}</td>
                  <td>{m.last_error ?? ""}</td>
                  <td>
                    {m.push_status === "dead_lettered" || m.push_status === "failed" ? (
                      <button type="button" className="secondary" onClick={() => retry.mutate(m.segment_id)} disabled={retry.isPending}>
                        Retry push of {m.name}
                      </button>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </QueryView>
      <ErrorText error={retry.error} />
      {segments.isError ? <ErrorText error={segments.error} /> : null}
      {own.length === 0 && others.length === 0 && segments.isSuccess ? <Empty>No segment to map yet.</Empty> : null}
    </article>
  );
}
