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

const NAV: { to: string; label: string; provider?: boolean }[] = [
  { to: "/integration", label: "Integration center", provider: true },
  { to: "/activity", label: "Activity", provider: true },
  { to: "/data-points", label: "Data points", provider: true },
  { to: "/traits", label: "Traits" },
  { to: "/builder", label: "Audience builder" },
  { to: "/segments", label: "Segments" },
  { to: "/channels", label: "Channels" },
  { to: "/marketplace", label: "Marketplace", provider: true },
  { to: "/revenue", label: "Revenue", provider: true },
  { to: "/keys", label: "API keys" },
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
  const provider = me.roles.includes("provider");
  const home = provider ? "/integration" : "/builder";
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
          {NAV.filter((item) => provider || !item.provider).map((item) => (
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
            <Route path="/marketplace" element={<Marketplace />} />
            <Route path="/revenue" element={<Revenue />} />
            <Route path="/keys" element={<Keys />} />
            <Route path="*" element={<p>There is no such page. Choose a section in the navigation.</p>} />
          </Routes>
        </Suspense>
      </main>
    </div>
  );
}
