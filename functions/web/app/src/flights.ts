// Flights: search upcoming flights, see what a passenger pays and why, and
// book one (signed in as a passenger or an agent).
import { CallError, command, query, type Booking, type Destination, type Flight, type Page } from "./api";
import { hasRole, signedIn } from "./auth";
import { h, money, say, when } from "./dom";

function breakdown(flight: Flight): HTMLElement {
  const p = flight.price;
  return h("table", { class: "price", "aria-label": `Price of ${flight.flight_number}` },
    h("tbody", {},
      h("tr", {}, h("th", { scope: "row" }, "Base price"), h("td", {}, money(p.base_price))),
      h("tr", {}, h("th", { scope: "row" }, "Promotion"), h("td", {}, `−${money(p.discount)}`)),
      h("tr", {}, h("th", { scope: "row" }, "Tax"), h("td", {}, money(p.tax))),
      h("tr", { class: "total" }, h("th", { scope: "row" }, "Total"), h("td", {}, money(p.total)))));
}

function bookForm(flight: Flight, status: HTMLElement): HTMLElement {
  const id = `book-${flight.id}`;
  const me = signedIn();
  const form = h("form", { class: "book", "aria-label": `Book ${flight.flight_number}` },
    h("label", { for: `${id}-name` }, "Passenger's name"),
    h("input", { id: `${id}-name`, name: "name", required: true, value: me?.name ?? "", autocomplete: "name" }),
    h("label", { for: `${id}-age` }, "Age"),
    h("input", { id: `${id}-age`, name: "age", type: "number", min: "0", max: "130", required: true, value: "30" }),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "pet", disabled: !flight.allows_pets }),
      flight.allows_pets ? " Travelling with a pet" : " No pets on this destination"),
    h("button", { type: "submit" }, `Book ${flight.flight_number} for ${money(flight.price.total)}`));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form as HTMLFormElement);
    try {
      const booking = await command<Booking>("create-booking", {
        flight_id: flight.id,
        passenger_name: String(data.get("name")),
        passenger_age: Number(data.get("age")),
        has_pet: data.get("pet") === "on",
      });
      say(status, `Booked: ${booking.passenger_name} on ${booking.flight_number}, ${money(booking.price.total)}.`);
    } catch (e) {
      say(status, e instanceof CallError ? e.message : String(e), "error");
    }
  });
  return form;
}

function card(flight: Flight): HTMLElement {
  const status = h("div", { class: "status" });
  const canBook = hasRole("passenger") || hasRole("agent");
  return h("li", { class: "flight" },
    h("h3", {}, `${flight.flight_number} to ${flight.destination_name}`),
    h("p", {}, `${when(flight.departure_at)} · ${flight.seats_left} of ${flight.capacity} seats left`),
    breakdown(flight),
    canBook ? bookForm(flight, status) : h("p", { class: "hint" }, "Sign in as a passenger to book."),
    status);
}

export async function flights(page: HTMLElement): Promise<void> {
  const destinations = await query<Page<Destination>>("list-destinations", { limit: 100 });
  const results = h("div", { class: "results" });
  const form = h("form", { class: "search", role: "search", "aria-label": "Search flights" },
    h("label", { for: "destination" }, "Destination"),
    h("select", { id: "destination", name: "destination" }, h("option", { value: "" }, "Anywhere"),
      ...destinations.items.map((d) => h("option", { value: d.id }, d.name))),
    h("label", { for: "max-price" }, "Highest total price"),
    h("input", { id: "max-price", name: "max_price", inputmode: "decimal", placeholder: "e.g. 950.00" }),
    h("button", { type: "submit" }, "Search flights"));
  const search = async () => {
    const data = new FormData(form as HTMLFormElement);
    try {
      const found = await query<Page<Flight>>("list-flights", {
        destination_id: String(data.get("destination") ?? ""),
        max_price: String(data.get("max_price") ?? "").trim(),
        limit: 20,
      });
      results.replaceChildren(found.items.length
        ? h("ul", { class: "flights", "aria-label": "Flights found" }, ...found.items.map(card))
        : h("p", {}, "No upcoming flight matches."));
    } catch (e) {
      say(results, e instanceof CallError ? e.message : String(e), "error");
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void search();
  });
  page.replaceChildren(h("h1", {}, "Flights"), form, results);
  await search();
}
