// Ask about flights: the AI function answers from real data it retrieves
// (upcoming flights from PostgreSQL, demand from the live stats), and the
// page shows what it used, so an answer can be checked.
import { CallError, command } from "./api";
import { signedIn } from "./auth";
import { h, say } from "./dom";

interface ToolUse { tool: string; arguments: unknown; summary: string }
interface Answer { answer: string; used: ToolUse[] }

export async function chat(page: HTMLElement): Promise<void> {
  page.replaceChildren(h("h1", {}, "Ask about flights"));
  if (!signedIn()) {
    page.append(h("p", {}, "Sign in to ask."));
    return;
  }
  const reply = h("div", { class: "reply", "aria-live": "polite" });
  const form = h("form", { class: "ask", "aria-label": "Ask a question" },
    h("label", { for: "question" }, "Your question"),
    h("textarea", { id: "question", name: "question", required: true, maxlength: "1000", rows: "3" }),
    h("button", { type: "submit" }, "Ask"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = String(new FormData(form as HTMLFormElement).get("question") ?? "");
    say(reply, "Thinking…");
    try {
      // A question changes nothing: a POST only because it is long.
      const answer = await command<Answer>("ai-chat", { question });
      reply.replaceChildren(h("p", { class: "answer" }, answer.answer),
        answer.used.length
          ? h("details", { open: true }, h("summary", {}, "The data it used"),
            h("ul", { class: "used" }, ...answer.used.map((u) => h("li", {}, `${u.tool}: ${u.summary}`))))
          : h("p", { class: "hint" }, "It used no data for this answer."));
    } catch (e) {
      say(reply, e instanceof CallError ? e.message : String(e), "error");
    }
  });
  page.append(form, reply);
}
