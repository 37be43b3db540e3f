import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, call, storedKey, storeKey, UNAUTHORIZED_EVENT, type Schemas } from "./api/client";

interface Auth {
  key: string | null;
  me: Schemas["MeResponse"] | undefined;
  meError: Error | null;
  loading: boolean;
  signIn: (key: string) => void;
  signOut: () => void;
  /** Why the user was signed out without asking (their key was refused). */
  refused: boolean;
}

const AuthContext = createContext<Auth | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [key, setKey] = useState<string | null>(() => storedKey());
  const client = useQueryClient();
  const me = useQuery({
    queryKey: ["me", key],
    queryFn: () => call(api.GET("/v1/me")),
    enabled: key !== null,
    retry: false,
    staleTime: 60_000,
  });
  const signIn = useCallback(
    (next: string) => {
      setRefused(false);
      storeKey(next);
      client.clear();
      setKey(next);
    },
    [client],
  );
  const [refused, setRefused] = useState(false);
  const signOut = useCallback(() => {
    storeKey(null);
    client.clear();
    setKey(null);
  }, [client]);
  useEffect(() => {
    const refuse = () => {
      if (storedKey() === null) return; // a sign-in attempt with a wrong key, not the stored one
      setRefused(true);
      signOut();
    };
    window.addEventListener(UNAUTHORIZED_EVENT, refuse);
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, refuse);
  }, [signOut]);
  const value = useMemo(
    () => ({ key, me: me.data, meError: me.error, loading: key !== null && me.isPending, signIn, signOut, refused }),
    [key, me.data, me.error, me.isPending, signIn, signOut, refused],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside AuthProvider");
  return auth;
}
