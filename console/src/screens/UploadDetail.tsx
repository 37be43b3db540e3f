import { Link, useParams } from "react-router-dom";
import { periodName } from "../usage";
import { QueryView } from "../ui";
import { UploadOutcome, useUpload } from "./Payables";

/** One usage file: its state as it arrives, and every error with its line. */
export default function UploadDetail() {
  const { uploadId = "" } = useParams();
  const upload = useUpload(uploadId);
  return (
    <>
      <h1>Usage upload {uploadId}</h1>
      <QueryView query={upload} what="the upload">
        {(u) => (
          <>
            <p className="muted">
              {u.kind === "feeds" ? "Feed" : "Segment"}-level usage for{" "}
              <Link to={`/payables?period=${u.period}${u.kind === "feeds" ? "&tab=feeds" : ""}`}>{periodName(u.period)}</Link> · received{" "}
              {(u.received_at ?? u.created_at).replace("T", " ").slice(0, 19)} UTC · {u.origin === "api" ? "uploaded through the console or API" : "dropped in the bucket"}
              {u.size != null ? ` · ${u.size.toLocaleString("en-US")} bytes` : ""}
            </p>
            <dl className="facts">
              <dt>Status</dt>
              <dd>
                <span className={`status status-${u.status}`}>{u.status}</span>
              </dd>
              <dt>Rows</dt>
              <dd>{u.rows.toLocaleString("en-US")}</dd>
              <dt>Accepted rows</dt>
              <dd>{u.accepted_rows.toLocaleString("en-US")}</dd>
              <dt>Rejected rows</dt>
              <dd>{u.rejected_rows.toLocaleString("en-US")}</dd>
              <dt>Values changed</dt>
              <dd>{u.changed.toLocaleString("en-US")}</dd>
            </dl>
            <UploadOutcome upload={u} />
          </>
        )}
      </QueryView>
    </>
  );
}
