// The stats the consumers keep in Redis: totals, and destinations by
// bookings and revenue as bar charts (with the numbers as text beside them).
import { query, type Stats } from "./api";
import { hasRole } from "./auth";
import { h, money } from "./dom";

function bars(title: string, rows: { label: string; value: number; shown: string }[]): HTMLElement {
  const most = Math.max(1, ...rows.map((r) => r.value));
  return h("figure", { class: "chart" }, h("figcaption", {}, title),
    h("ul", { class: "bars" }, ...rows.map((r) => {
      const fill = h("span", { class: "fill", "aria-hidden": "true" });
      // Through the CSSOM: the page's policy allows no style attribute.
      fill.style.width = `${Math.round((r.value / most) * 100)}%`;
      return h("li", {}, h("span", { class: "label" }, r.label), fill, h("span", { class: "value" }, r.shown));
    })));
}

export async function stats(page: HTMLElement): Promise<void> {
  const names = hasRole("operator") || hasRole("admin");
  const s = await query<Stats>("get-stats", { destinations: 10, ...(names ? { candy_log: 10 } : {}) });
  const totals = h("dl", { class: "totals" },
    h("dt", {}, "Bookings"), h("dd", { id: "total-bookings" }, String(s.total_bookings)),
    h("dt", {}, "Revenue"), h("dd", {}, money(s.total_revenue)),
    h("dt", {}, "With a pet"), h("dd", {}, String(s.pet_bookings)),
    h("dt", {}, "Candy for passengers under 12"), h("dd", {}, `${s.passengers_under_12} (${money(s.total_candy_cost)})`));
  const candy = s.candy_log ? h("section", {}, h("h2", {}, "Latest candy"), h("ul", {}, ...s.candy_log.map((n) => h("li", {}, n)))) : "";
  page.replaceChildren(h("h1", {}, "Stats"), totals,
    bars("Bookings by destination", s.destinations.map((d) => ({ label: d.name, value: d.bookings, shown: String(d.bookings) }))),
    bars("Revenue by destination", s.destinations.map((d) => ({ label: d.name, value: Number(d.revenue), shown: money(d.revenue) }))),
    candy);
}
