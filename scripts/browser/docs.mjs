// The docs page in a real browser (Debian's Chromium, driven by Playwright):
// against the local stack, it lists every function and event, a function
// is tried with the keyboard alone and answers, a call that needs an
// identity is refused without one, no form control lacks a label, and the
// page logs no error (a blocked script or call would). A screenshot of the
// page is kept in target/browser/.
//
//   TOOLS_NODE=target/tools/node node scripts/browser/docs.mjs target/devstack/urls.json
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(path.join(process.env.TOOLS_NODE, "package.json"));
const { chromium } = require("playwright-core");

const urls = JSON.parse(fs.readFileSync(process.argv[2], "utf8")).functions;
const out = path.resolve(path.dirname(process.argv[2]), "../browser");
fs.mkdirSync(out, { recursive: true });

const fail = (message) => {
  console.error(`browser: ${message}`);
  process.exitCode = 1;
  throw new Error(message);
};

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium" });
try {
  const page = await browser.newPage();
  const errors = [];
  // A refusal the page asks for (the 401 below) is no error of the page's.
  page.on("console", (m) => m.type() === "error" && !/status of 401/.test(m.text()) && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  const started = Date.now();
  await page.goto(urls["serve-docs"]);
  await page.locator("section#list-destinations").waitFor();
  const loaded = Date.now() - started;

  const functions = await page.locator("section.function").count();
  const events = await page.locator("section.event").count();
  if (functions < 10 || events < 3) fail(`the page lists ${functions} functions and ${events} events`);

  // Keyboard only: to the request body, type, Tab to the button, Enter.
  const section = page.locator("section#list-destinations");
  await section.getByLabel("Request body (JSON)").focus();
  await page.keyboard.press("Control+A");
  await page.keyboard.type("{}");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  const answer = section.locator("pre.result");
  await answer.filter({ hasText: /^200 / }).waitFor({ timeout: 10000 }).catch(async () => {
    fail(`list-destinations answered: ${await answer.textContent()}`);
  });
  if (!(await answer.textContent()).includes('"items"')) fail("list-destinations' answer holds no items");

  // What needs an identity is refused without one: the function, not the browser, says so.
  const create = page.locator("section#create-destination");
  await create.getByRole("button", { name: "Send to create-destination" }).click();
  await create.locator("pre.result").filter({ hasText: /^401 / }).waitFor({ timeout: 10000 }).catch(async () => {
    fail(`create-destination without a key answered: ${await create.locator("pre.result").textContent()}`);
  });

  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, textarea, select")]
      .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute("aria-label"))
      .map((c) => c.id || c.name || c.outerHTML));
  if (unlabelled.length) fail(`form controls without a label: ${unlabelled.join(", ")}`);
  if (errors.length) fail(`the page logged errors: ${errors.join(" | ")}`);

  await page.screenshot({ path: path.join(out, "docs.png"), fullPage: true });
  console.log(`browser: the docs page in Chromium lists ${functions} functions and ${events} events ` +
    `(loaded in ${loaded} ms); list-destinations tried by keyboard answered 200, create-destination ` +
    `without a key 401; screenshot target/browser/docs.png`);
} finally {
  await browser.close();
}
