// Signing in with the OIDC provider the functions trust (config.issuer):
// the authorization code flow with PKCE, as a public client. The tokens
// live in this tab's sessionStorage only.
import type { Config } from "./api";

const CLIENT_ID = "skybook-web";
const KEY = "skybook.session";

interface Session { token: string; name: string; roles: string[]; expires: number }

function session(): Session | null {
  const raw = sessionStorage.getItem(KEY);
  const s = raw ? (JSON.parse(raw) as Session) : null;
  return s && s.expires > Date.now() ? s : null;
}

export const token = (): string | null => session()?.token ?? null;
export const signedIn = (): Session | null => session();
export const hasRole = (role: string): boolean => session()?.roles.includes(role) ?? false;

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function endpoints(issuer: string): Promise<{ authorize: string; token: string }> {
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  return { authorize: discovery.authorization_endpoint, token: discovery.token_endpoint };
}

const redirectUri = (): string => `${location.origin}${location.pathname}`;

/** To the provider's sign-in, and back here with a code. */
export async function signIn(config: Config): Promise<void> {
  if (!config.issuer) throw new Error("no identity provider is configured (AUTH_ISSUER)");
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem("skybook.pkce", JSON.stringify({ verifier, state, back: location.hash }));
  const { authorize } = await endpoints(config.issuer);
  const params = new URLSearchParams({
    response_type: "code", client_id: CLIENT_ID, redirect_uri: redirectUri(), scope: "openid",
    code_challenge: challenge, code_challenge_method: "S256", state,
  });
  location.assign(`${authorize}?${params}`);
}

/** Back from the provider: the code traded for the tokens. */
export async function completeSignIn(config: Config): Promise<void> {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  const pending = JSON.parse(sessionStorage.getItem("skybook.pkce") ?? "null");
  if (!code || !pending || !config.issuer) return;
  sessionStorage.removeItem("skybook.pkce");
  if (params.get("state") !== pending.state) throw new Error("the sign-in came back with another state");
  const { token: tokenUrl } = await endpoints(config.issuer);
  const response = await fetch(tokenUrl, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", code, redirect_uri: redirectUri(), client_id: CLIENT_ID,
      code_verifier: pending.verifier,
    }),
  });
  if (!response.ok) throw new Error(`the sign-in was refused (${response.status})`);
  const tokens = await response.json();
  const claims = JSON.parse(atob(tokens.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
  const s: Session = {
    token: tokens.access_token, name: claims.sub, roles: claims.roles ?? [],
    expires: Date.now() + tokens.expires_in * 1000,
  };
  sessionStorage.setItem(KEY, JSON.stringify(s));
  history.replaceState(null, "", `${location.pathname}${pending.back || "#/flights"}`);
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}
