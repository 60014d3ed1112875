// Dead letters, for operators: the events the broker gave up on after its
// retries, kept by store-dead-letter, and replayed once what refused them
// is fixed.
import { CallError, command, query, type Page } from "./api";
import { hasRole } from "./auth";
import { h, say, when } from "./dom";

interface DeadLetter {
  id: string; event_id: string; event_type: string; event_source: string; error_dest: string;
  error_code: number | null; deliveries: number; received_at: string; status: string;
}
interface Replayed { replayed: number; failed: number; remaining: number }

export async function deadLetters(page: HTMLElement): Promise<void> {
  page.replaceChildren(h("h1", {}, "Dead letters"));
  if (!hasRole("operator")) {
    page.append(h("p", {}, "Operators only: sign in as an operator."));
    return;
  }
  const status = h("div", { class: "status" });
  const letters = await query<Page<DeadLetter>>("list-dead-letters", { status: "pending", limit: 50 });
  const rows = letters.items.map((letter) => {
    const replay = h("button", { type: "button" }, `Replay ${letter.event_type} ${letter.event_id}`);
    replay.addEventListener("click", async () => {
      try {
        const done = await command<Replayed>("replay-dead-letters", { ids: [letter.id] }, `replay-${letter.id}`);
        say(status, `Replayed ${done.replayed}, failed ${done.failed}.`);
        await deadLetters(page);
        page.append(status);
      } catch (e) {
        say(status, e instanceof CallError ? e.message : String(e), "error");
      }
    });
    return h("tr", {},
      h("td", {}, letter.event_type), h("td", {}, letter.event_source), h("td", {}, when(letter.received_at)),
      h("td", {}, letter.error_code === null ? "unreachable" : String(letter.error_code)),
      h("td", {}, letter.error_dest), h("td", {}, String(letter.deliveries)), h("td", {}, replay));
  });
  page.append(rows.length
    ? h("table", { class: "letters", "aria-label": "Pending dead letters" },
      h("thead", {}, h("tr", {}, ...["Type", "Source", "Received", "Answered", "Refused by", "Deliveries", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, ...rows))
    : h("p", {}, "No pending dead letter."), status);
}
