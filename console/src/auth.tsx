import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { api, call, storedKey, storeKey, type Schemas } from "./api/client";

interface Auth {
  key: string | null;
  me: Schemas["MeResponse"] | undefined;
  meError: Error | null;
  loading: boolean;
  signIn: (key: string) => void;
  signOut: () => void;
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
      storeKey(next);
      client.clear();
      setKey(next);
    },
    [client],
  );
  const signOut = useCallback(() => {
    storeKey(null);
    client.clear();
    setKey(null);
  }, [client]);
  const value = useMemo(
    () => ({ key, me: me.data, meError: me.error, loading: key !== null && me.isPending, signIn, signOut }),
    [key, me.data, me.error, me.isPending, signIn, signOut],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside AuthProvider");
  return auth;
}
