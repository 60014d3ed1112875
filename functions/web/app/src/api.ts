// How the page reaches the functions: their URLs from the site's
// /config.json, each call with the signed-in person's token, each error
// as the function's own {"error": {code, message}}.
import { token } from "./auth";

export interface Config {
  functions: Record<string, string>;
  issuer: string | null;
  audience: string;
}

let config: Config | undefined;

export async function loadConfig(): Promise<Config> {
  config ??= (await (await fetch("config.json")).json()) as Config;
  return config;
}

export class CallError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

function url(fn: string): string {
  const base = config?.functions[fn];
  if (!base) throw new CallError(0, "no_url", `no URL is known for ${fn} (FUNCTION_URLS)`);
  return base;
}

async function answer<T>(response: Response): Promise<T> {
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = body?.error ?? { code: "unreadable", message: response.statusText };
    throw new CallError(response.status, error.code, error.message);
  }
  return body as T;
}

function identity(): Record<string, string> {
  const t = token();
  return t ? { authorization: `Bearer ${t}` } : {};
}

/** A query by GET, its input as parameters. */
export async function query<T>(fn: string, input: Record<string, string | number | undefined> = {}): Promise<T> {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(input)) if (v !== undefined && v !== "") params.set(k, String(v));
  const search = params.toString();
  return answer<T>(await fetch(`${url(fn)}/${search ? `?${search}` : ""}`, { headers: identity() }));
}

/** A command by POST, with a key that makes a retry safe. */
export async function command<T>(fn: string, input: unknown, key: string = crypto.randomUUID()): Promise<T> {
  const response = await fetch(`${url(fn)}/`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key, ...identity() },
    body: JSON.stringify(input),
  });
  return answer<T>(response);
}

export interface Price { base_price: string; discount: string; tax: string; total: string }
export interface Flight {
  id: string; flight_number: string; destination_id: string; destination_name: string;
  departure_at: string; capacity: number; seats_left: number; allows_pets: boolean; price: Price;
}
export interface Destination { id: string; name: string; tax_amount: string; is_promotion: boolean; allows_pets: boolean }
export interface Page<T> { items: T[]; next_cursor: string | null }
export interface Booking {
  id: string; status: "confirmed" | "cancelled"; flight_id: string; flight_number: string; departure_at: string;
  destination_name: string; passenger_name: string; passenger_age: number; has_pet: boolean; price: Price;
  created_at: string; cancelled_at: string | null;
}
export interface DestinationStats { id: string; name: string; bookings: number; revenue: string }
export interface Stats {
  total_revenue: string; total_bookings: number; pet_bookings: number; total_candy_cost: string;
  passengers_under_12: number; destinations: DestinationStats[]; candy_log?: string[];
}
