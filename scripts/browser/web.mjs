// The web app in a real browser (Debian's Chromium, driven by Playwright)
// against the local stack: a passenger signs in through the development
// issuer, finds a flight with its price breakdown, books it for a child,
// sees it in their bookings and in the stats once the event has gone
// through the broker, and cancels it, asks a question the AI answers from
// the data it shows; an operator replays a dead letter;
// then the flights page on a phone's screen. No form control lacks a label and the page logs no error.
// Screenshots of each page are kept in target/browser/.
//
//   TOOLS_NODE=target/tools/node node scripts/browser/web.mjs target/devstack/urls.json
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(path.join(process.env.TOOLS_NODE, "package.json"));
const { chromium } = require("playwright-core");

const urls = JSON.parse(fs.readFileSync(process.argv[2], "utf8")).functions;
const out = path.resolve(path.dirname(process.argv[2]), "../browser");
fs.mkdirSync(out, { recursive: true });
const app = urls["serve-web"];

const fail = (message) => {
  console.error(`browser: ${message}`);
  process.exitCode = 1;
  throw new Error(message);
};

async function unlabelled(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("input, textarea, select")]
      .filter((c) => c.type !== "hidden" && !(c.labels && c.labels.length) && !c.getAttribute("aria-label"))
      .map((c) => c.id || c.name || c.outerHTML));
}

async function totalBookings(page) {
  await page.goto(`${app}/#/stats`);
  // A fresh load: the same address again is no navigation at all.
  await page.reload();
  return Number(await page.locator("#total-bookings").textContent());
}

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium" });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("response", (r) => r.status() >= 400 && errors.push(`${r.status()} from ${r.url()}`));

  const started = Date.now();
  await page.goto(app);
  await page.locator("li.flight").first().waitFor();
  const loaded = Date.now() - started;
  if ((await unlabelled(page)).length) fail(`unlabelled controls: ${await unlabelled(page)}`);

  // Signing in, as any OIDC provider would have it: to its page and back.
  const who = `pia-${Date.now().toString(36)}`;
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByLabel("Your name").fill(who);
  await page.getByLabel("passenger").check();
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator(".who", { hasText: `${who} (passenger)` }).waitFor();

  const before = await totalBookings(page);
  await page.screenshot({ path: path.join(out, "web-stats-before.png"), fullPage: true });

  // A flight, its price and why, booked for a child of eight.
  await page.goto(`${app}/#/flights`);
  const flight = page.locator("li.flight").filter({ has: page.locator("form.book") }).first();
  await flight.waitFor();
  const total = (await flight.locator("tr.total td").textContent()).trim();
  if (!/^\$\d+\.\d\d$/.test(total)) fail(`a flight's total reads ${total}`);
  await flight.getByLabel("Passenger's name").fill(`${who} junior`);
  await flight.getByLabel("Age").fill("8");
  await page.screenshot({ path: path.join(out, "web-flights.png"), fullPage: true });
  await flight.getByRole("button", { name: /^Book / }).click();
  await flight.locator(".status", { hasText: `Booked: ${who} junior` }).waitFor();

  await page.goto(`${app}/#/bookings`);
  const row = page.locator("table.bookings tr", { hasText: `${who} junior` });
  await row.waitFor();
  if (!(await row.textContent()).includes(total)) fail(`the booking does not cost ${total}: ${await row.textContent()}`);
  await page.screenshot({ path: path.join(out, "web-bookings.png"), fullPage: true });

  // The booking's event goes through the broker to the stats consumer.
  const deadline = Date.now() + 20000;
  let after = before;
  while (after <= before && Date.now() < deadline) {
    after = await totalBookings(page);
    if (after <= before) await page.waitForTimeout(500);
  }
  if (after !== before + 1) fail(`the stats counted ${after - before} bookings, not 1`);
  await page.screenshot({ path: path.join(out, "web-stats.png"), fullPage: true });

  await page.goto(`${app}/#/bookings`);
  await page.getByRole("button", { name: `Cancel ${await row.locator("td").first().textContent()} for ${who} junior` }).click();
  await page.locator("table.bookings tr", { hasText: `${who} junior` }).filter({ hasText: "cancelled" }).waitFor();

  // A question, answered from the data the model asked for (the smoke
  // stack's stand-in for Groq speaks its protocol), and that data shown.
  await page.goto(`${app}/#/chat`);
  await page.getByLabel("Your question").fill("Which flights can I take?");
  await page.getByRole("button", { name: "Ask" }).click();
  await page.locator(".answer", { hasText: "upcoming flights" }).waitFor({ timeout: 20000 });
  await page.locator("ul.used li", { hasText: "market_data" }).waitFor();
  await page.screenshot({ path: path.join(out, "web-chat.png"), fullPage: true });

  // An operator replays what the broker gave up on.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByLabel("Your name").fill(`ops-${who}`);
  await page.getByLabel("operator").check();
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator(".who", { hasText: "(operator)" }).waitFor();
  await page.goto(`${app}/#/dead-letters`);
  const letter = page.locator("table.letters tr", { hasText: "skybook.smoke.undeliverable" }).first();
  await letter.waitFor();
  await page.screenshot({ path: path.join(out, "web-dead-letters.png"), fullPage: true });
  await letter.getByRole("button", { name: /^Replay / }).click();
  await page.locator(".status", { hasText: "Replayed 1, failed 0." }).waitFor();

  // The same page on a phone's screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${app}/#/flights`);
  await page.locator("li.flight").first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) fail(`on a phone the page is ${overflow}px wider than the screen`);
  await page.screenshot({ path: path.join(out, "web-phone.png"), fullPage: true });

  if (errors.length) fail(`the page logged errors: ${errors.join(" | ")}`);
  const sizes = ["index.html", "app.js", "index.css"].map((f) => fs.statSync(path.resolve(path.dirname(process.argv[2]), "../../functions/web/app/dist", f)).size);
  console.log(`browser: the web app in Chromium (loaded in ${loaded} ms; assets ${sizes.reduce((a, b) => a + b)} bytes): ` +
    `${who} signed in through the issuer, booked a flight at ${total} for a child, saw it in their bookings ` +
    `and in the stats (${before} -> ${after}), cancelled it, asked the AI (answered from the data it showed); an operator replayed a dead letter; usable on a ` +
    `phone's screen; screenshots in target/browser/`);
} finally {
  await browser.close();
}
