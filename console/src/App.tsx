import { lazy, Suspense } from "react";
import { Navigate, NavLink, Route, Routes, useLocation } from "react-router-dom";
import { useAuth } from "./auth";
import { Activate, SignIn, SignUp } from "./screens/Auth";
import { ErrorText, Loading } from "./ui";

const Integration = lazy(() => import("./screens/Integration"));
const Activity = lazy(() => import("./screens/Activity"));
const DataPoints = lazy(() => import("./screens/DataPoints"));
const Traits = lazy(() => import("./screens/Traits"));
const Builder = lazy(() => import("./screens/Builder"));
const Segments = lazy(() => import("./screens/Segments"));
const SegmentDetail = lazy(() => import("./screens/SegmentDetail"));
const Channels = lazy(() => import("./screens/Channels"));
const Marketplace = lazy(() => import("./screens/Marketplace"));
const Revenue = lazy(() => import("./screens/Revenue"));
const Keys = lazy(() => import("./screens/Keys"));
const BuyerMarketplace = lazy(() => import("./screens/BuyerMarketplace"));
const Payables = lazy(() => import("./screens/Payables"));
const UploadDetail = lazy(() => import("./screens/UploadDetail"));
const Invoices = lazy(() => import("./screens/Invoices"));
const InvoiceDetail = lazy(() => import("./screens/Invoices").then((m) => ({ default: m.InvoiceDetail })));
const Payouts = lazy(() => import("./screens/Payouts"));
const PayoutDetail = lazy(() => import("./screens/Payouts").then((m) => ({ default: m.PayoutDetail })));
const BillingRuns = lazy(() => import("./screens/BillingRuns"));
const BillingRunDetail = lazy(() => import("./screens/BillingRuns").then((m) => ({ default: m.BillingRunDetail })));
const Accounts = lazy(() => import("./screens/Accounts"));
const Settings = lazy(() => import("./screens/Settings"));

type Role = "provider" | "buyer" | "operator";

/** Main navigation: each link for the roles that use it. */
const NAV: { to: string; label: string; roles: Role[] }[] = [
  { to: "/integration", label: "Integration center", roles: ["provider"] },
  { to: "/activity", label: "Activity", roles: ["provider"] },
  { to: "/data-points", label: "Data points", roles: ["provider"] },
  { to: "/traits", label: "Traits", roles: ["provider", "buyer"] },
  { to: "/builder", label: "Audience builder", roles: ["provider", "buyer"] },
  { to: "/segments", label: "Segments", roles: ["provider", "buyer"] },
  { to: "/channels", label: "Channels", roles: ["provider", "buyer"] },
  { to: "/marketplace", label: "Marketplace", roles: ["provider", "buyer"] },
  { to: "/payables", label: "Payables", roles: ["buyer"] },
  { to: "/invoices", label: "Invoices", roles: ["buyer", "operator"] },
  { to: "/revenue", label: "Revenue", roles: ["provider"] },
  { to: "/payouts", label: "Payouts", roles: ["provider", "operator"] },
  { to: "/billing-runs", label: "Billing runs", roles: ["operator"] },
  { to: "/accounts", label: "Accounts", roles: ["operator"] },
  { to: "/keys", label: "API keys", roles: ["provider", "buyer"] },
  { to: "/settings", label: "Settings", roles: ["provider", "buyer"] },
];

export function App() {
  const auth = useAuth();
  const location = useLocation();
  return (
    <Routes>
      <Route path="/signup" element={<SignUp />} />
      <Route path="/activate" element={<Activate />} />
      <Route path="/signin" element={<SignIn />} />
      <Route
        path="*"
        element={
          auth.key === null ? (
            <Navigate to="/signin" replace state={{ from: location.pathname }} />
          ) : (
            <Shell />
          )
        }
      />
    </Routes>
  );
}

function Shell() {
  const { me, meError, loading, signOut } = useAuth();
  if (loading) return <Loading what="your account" />;
  if (meError || !me) {
    return (
      <main className="auth">
        <h1>Audiens</h1>
        <ErrorText error={meError ?? new Error("Your account could not be loaded.")} />
        <button type="button" onClick={signOut}>
          Sign in again
        </button>
      </main>
    );
  }
  const roles = me.roles as Role[];
  const provider = roles.includes("provider");
  const buyer = roles.includes("buyer");
  const home = provider ? "/integration" : buyer ? "/payables" : "/billing-runs";
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header>
        <span className="brand">Audiens</span>
        <span className="account">
          {me.company_name} · {me.roles.join(", ")}
        </span>
        <button type="button" className="secondary" onClick={signOut}>
          Sign out
        </button>
      </header>
      <nav aria-label="Main">
        <ul>
          {NAV.filter((item) => item.roles.some((r) => roles.includes(r))).map((item) => (
            <li key={item.to}>
              <NavLink to={item.to}>{item.label}</NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main">
        <Suspense fallback={<Loading what="the screen" />}>
          <Routes>
            <Route path="/" element={<Navigate to={home} replace />} />
            <Route path="/integration" element={<Integration />} />
            <Route path="/activity" element={<Activity />} />
            <Route path="/data-points" element={<DataPoints />} />
            <Route path="/traits" element={<Traits />} />
            <Route path="/builder" element={<Builder />} />
            <Route path="/segments" element={<Segments />} />
            <Route path="/segments/:segmentId" element={<SegmentDetail />} />
            <Route path="/channels" element={<Channels />} />
            <Route
              path="/marketplace"
              element={
                <>
                  {provider ? <Marketplace /> : <h1>Marketplace</h1>}
                  {buyer ? <BuyerMarketplace /> : null}
                </>
              }
            />
            <Route path="/payables" element={<Payables />} />
            <Route path="/payables/uploads/:uploadId" element={<UploadDetail />} />
            <Route path="/invoices" element={<Invoices />} />
            <Route path="/invoices/:invoiceId" element={<InvoiceDetail />} />
            <Route path="/payouts" element={<Payouts />} />
            <Route path="/payouts/:payoutId" element={<PayoutDetail />} />
            <Route path="/billing-runs" element={<BillingRuns />} />
            <Route path="/billing-runs/:period" element={<BillingRunDetail />} />
            <Route path="/accounts" element={<Accounts />} />
            <Route path="/revenue" element={<Revenue />} />
            <Route path="/keys" element={<Keys />} />
            <Route path="/settings" element={<Settings />} />
            <Route path="*" element={<p>There is no such page. Choose a section in the navigation.</p>} />
          </Routes>
        </Suspense>
      </main>
    </div>
  );
}
