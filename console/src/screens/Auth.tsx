import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate, useSearchParams } from "react-router-dom";
import { api, ApiError, call } from "../api/client";
import { useAuth } from "../auth";
import { CopyButton, ErrorText, Field, fieldError } from "../ui";

export function SignUp() {
  const [company, setCompany] = useState("");
  const [email, setEmail] = useState("");
  const [roles, setRoles] = useState<("provider" | "buyer")[]>(["provider"]);
  const signUp = useMutation({
    mutationFn: () => call(api.POST("/v1/accounts", { body: { company_name: company, email, roles } })),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    signUp.mutate();
  };
  const toggle = (role: "provider" | "buyer") =>
    setRoles((current) => (current.includes(role) ? current.filter((r) => r !== role) : [...current, role]));
  return (
    <main className="auth">
      <h1>Create your Audiens account</h1>
      {signUp.isSuccess ? (
        <div className="notice" role="status">
          <h2>Check your inbox</h2>
          <p>
            We sent an activation link to <strong>{email}</strong>. Open it to activate {company} and get your
            first API key. The link is valid for seven days.
          </p>
        </div>
      ) : (
        <form onSubmit={submit} noValidate>
          <Field label="Company name" error={fieldError(signUp.error, "company_name")} hint="Shown on channels once your segments are pushed.">
            {(props) => <input {...props} value={company} onChange={(e) => setCompany(e.target.value)} autoComplete="organization" />}
          </Field>
          <Field label="Email" error={fieldError(signUp.error, "email")}>
            {(props) => <input {...props} type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="email" />}
          </Field>
          <fieldset>
            <legend>I want to</legend>
            <label className="inline">
              <input type="checkbox" checked={roles.includes("provider")} onChange={() => toggle("provider")} /> sell data (provider)
            </label>
            <label className="inline">
              <input type="checkbox" checked={roles.includes("buyer")} onChange={() => toggle("buyer")} /> buy data (buyer)
            </label>
            {fieldError(signUp.error, "roles") ? <p className="error">{fieldError(signUp.error, "roles")}</p> : null}
          </fieldset>
          <ErrorText error={signUp.error} />
          <button type="submit" disabled={signUp.isPending}>
            {signUp.isPending ? "Signing up…" : "Sign up"}
          </button>
        </form>
      )}
      <p>
        Already active? <Link to="/signin">Sign in with an API key</Link>
      </p>
    </main>
  );
}

export function Activate() {
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const auth = useAuth();
  const navigate = useNavigate();
  // Activation is a POST made when the user presses the button, never on page load: a mail scanner that
  // opens the link cannot use up the single-use token.
  const activation = useMutation({
    mutationFn: () => call(api.POST("/v1/accounts/activate", { body: { token } })),
  });
  if (!token) {
    return (
      <main className="auth">
        <h1>Activate your account</h1>
        <p className="error" role="alert">
          This link has no activation token. Open the link from your activation email as it is.
        </p>
      </main>
    );
  }
  return (
    <main className="auth">
      <h1>Activate your account</h1>
      {activation.isIdle || activation.isPending ? (
        <>
          <p>Activate your account to get its first API key. The key is shown once: have a safe place ready to keep it.</p>
          <button type="button" onClick={() => activation.mutate()} disabled={activation.isPending}>
            {activation.isPending ? "Activating…" : "Activate my account"}
          </button>
        </>
      ) : null}
      {activation.isError ? (
        <>
          <ErrorText error={activation.error} />
          <p>
            {activation.error instanceof ApiError && activation.error.status === 409
              ? "This link was already used: sign in with the API key you received then, or ask a colleague for one."
              : "Sign up again if the link has expired."}{" "}
            <Link to="/signin">Sign in</Link> · <Link to="/signup">Sign up</Link>
          </p>
        </>
      ) : null}
      {activation.data ? (
        <section aria-labelledby="key-title">
          <h2 id="key-title">Your first API key</h2>
          <p className="warning" role="note">
            This key is shown once. Copy it now and keep it somewhere safe: Audiens stores only a hash of it and
            cannot show it again.
          </p>
          <div className="secret">
            <code aria-label="API key">{activation.data.api_key}</code>
            <CopyButton text={activation.data.api_key} label="Copy key" />
          </div>
          <button
            type="button"
            onClick={() => {
              auth.signIn(activation.data.api_key);
              navigate("/", { replace: true });
            }}
          >
            Continue to the console
          </button>
        </section>
      ) : null}
    </main>
  );
}

export function SignIn() {
  const [key, setKey] = useState("");
  const auth = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const check = useMutation({
    mutationFn: (candidate: string) =>
      call(api.GET("/v1/me", { headers: { Authorization: `Bearer ${candidate}` } })),
    onSuccess: () => {
      auth.signIn(key.trim());
      const from = (location.state as { from?: string } | null)?.from;
      navigate(from && from !== "/signin" ? from : "/", { replace: true });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    check.mutate(key.trim());
  };
  return (
    <main className="auth">
      <h1>Sign in to Audiens</h1>
      {auth.refused ? (
        <p className="warning" role="alert">
          Your API key was refused (revoked or unknown): sign in with another key.
        </p>
      ) : null}
      <form onSubmit={submit} noValidate>
        <Field label="API key" hint="Kept in this tab only (session storage); closing the tab signs you out.">
          {(props) => (
            <input {...props} type="password" value={key} onChange={(e) => setKey(e.target.value)} autoComplete="off" />
          )}
        </Field>
        <ErrorText error={check.error} />
        <button type="submit" disabled={check.isPending || !key.trim()}>
          {check.isPending ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <p>
        New to Audiens? <Link to="/signup">Create an account</Link>
      </p>
    </main>
  );
}
