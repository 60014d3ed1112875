// The app: the configuration and the sign-in first, then a page per route
// (#/flights, #/bookings, #/stats, #/chat, #/dead-letters), focus moved to it for keyboard and
// screen-reader users.
import "./style.css";
import { CallError, loadConfig } from "./api";
import { completeSignIn, signIn, signOut, signedIn } from "./auth";
import { bookings } from "./bookings";
import { chat } from "./chat";
import { deadLetters } from "./deadletters";
import { h, say } from "./dom";
import { flights } from "./flights";
import { stats } from "./stats";

const routes: Record<string, (page: HTMLElement) => Promise<void>> = {
  "#/flights": flights,
  "#/bookings": bookings,
  "#/stats": stats,
  "#/chat": chat,
  "#/dead-letters": deadLetters,
};

async function render(): Promise<void> {
  const config = await loadConfig();
  const who = document.getElementById("who")!;
  const me = signedIn();
  const button = h("button", { type: "button" }, me ? "Sign out" : "Sign in");
  button.addEventListener("click", () => {
    if (me) {
      signOut();
      void render();
    } else {
      signIn(config).catch((e) => say(document.getElementById("page")!, `Signing in failed: ${e}`, "error"));
    }
  });
  who.replaceChildren(me ? h("span", {}, `${me.name} (${me.roles.join(", ") || "no role"})`) : "", button);
  const route = routes[location.hash] ? location.hash : "#/flights";
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === route) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const page = document.getElementById("page")!;
  try {
    await routes[route](page);
  } catch (e) {
    say(page, e instanceof CallError ? `${e.message} (${e.code})` : String(e), "error");
  }
  page.focus();
}

async function start(): Promise<void> {
  try {
    await completeSignIn(await loadConfig());
  } catch (e) {
    say(document.getElementById("page")!, String(e), "error");
  }
  window.addEventListener("hashchange", () => void render());
  await render();
}

void start();
