// My bookings: what the signed-in person booked (an agent: every booking),
// and cancelling one before its flight leaves.
import { CallError, command, query, type Booking, type Page } from "./api";
import { hasRole, signedIn } from "./auth";
import { h, money, say, when } from "./dom";

export async function bookings(page: HTMLElement): Promise<void> {
  page.replaceChildren(h("h1", {}, "My bookings"));
  if (!signedIn()) {
    page.append(h("p", {}, "Sign in to see your bookings."));
    return;
  }
  if (!["passenger", "agent", "admin"].some(hasRole)) {
    page.append(h("p", {}, "Bookings are read by passengers (their own), agents and admins."));
    return;
  }
  const status = h("div", { class: "status" });
  const list = await query<Page<Booking>>("list-bookings", { limit: 50 });
  const rows = list.items.map((b) => {
    const cancel = h("button", { type: "button", disabled: b.status === "cancelled" }, `Cancel ${b.flight_number} for ${b.passenger_name}`);
    cancel.addEventListener("click", async () => {
      try {
        await command("cancel-booking", { id: b.id }, `cancel-${b.id}`);
        say(status, `Cancelled: ${b.passenger_name} on ${b.flight_number}.`);
        await bookings(page);
      } catch (e) {
        say(status, e instanceof CallError ? e.message : String(e), "error");
      }
    });
    return h("tr", {},
      h("td", {}, b.flight_number), h("td", {}, b.destination_name), h("td", {}, when(b.departure_at)),
      h("td", {}, b.passenger_name), h("td", {}, money(b.price.total)), h("td", {}, b.status), h("td", {}, cancel));
  });
  page.append(rows.length
    ? h("table", { class: "bookings", "aria-label": "Bookings" },
      h("thead", {}, h("tr", {}, ...["Flight", "To", "Departs", "Passenger", "Total", "Status", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ...rows))
    : h("p", {}, "No bookings yet."), status);
}
