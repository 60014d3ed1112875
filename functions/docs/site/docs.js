// The docs page: renders each function's OpenAPI document (what it takes,
// what it answers, who may call it) with a form to try it, and the events
// of the AsyncAPI document. Plain DOM, no framework: it is small and must
// work wherever the function serves it.
"use strict";

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
};

// The properties of a schema as rows: name, type, required, description.
function fields(schema) {
  const table = el("table", {}, el("thead", {}, el("tr", {},
    el("th", { scope: "col", text: "field" }), el("th", { scope: "col", text: "type" }),
    el("th", { scope: "col", text: "required" }), el("th", { scope: "col", text: "meaning" }))));
  const body = el("tbody");
  const required = new Set(schema.required || []);
  for (const [name, property] of Object.entries(schema.properties || {})) {
    body.append(el("tr", {},
      el("td", {}, el("code", { text: name })),
      el("td", { text: typeOf(property) }),
      el("td", { text: required.has(name) ? "yes" : "" }),
      el("td", { text: property.description || property.title || "" })));
  }
  table.append(body);
  return table;
}

function typeOf(schema) {
  if (!schema) return "";
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.anyOf || schema.oneOf) return (schema.anyOf || schema.oneOf).map(typeOf).join(" | ");
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type || "any";
  if (type === "array") return `array of ${typeOf(schema.items)}`;
  return schema.format ? `${type} (${schema.format})` : type;
}

// A starting body: each required field with a value of its type.
function example(schema) {
  const out = {};
  for (const name of schema.required || []) {
    const property = (schema.properties || {})[name] || {};
    const type = Array.isArray(property.type) ? property.type[0] : property.type;
    out[name] = type === "integer" || type === "number" ? 0 : type === "boolean" ? false : "";
  }
  return JSON.stringify(out, null, 2);
}

async function send(url, init, output) {
  output.textContent = "…";
  const token = document.getElementById("token").value.trim();
  if (token) init.headers = { ...(init.headers || {}), authorization: `Bearer ${token}` };
  try {
    const response = await fetch(url, init);
    const text = await response.text();
    let shown = text;
    try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* not JSON */ }
    output.textContent = `${response.status} ${response.statusText}\n${shown}`;
  } catch (error) {
    output.textContent = `The call did not reach the function (${error}). Is this page's origin in its CORS_ALLOWED_ORIGINS?`;
  }
}

function functionSection(name, doc, url) {
  const item = doc.paths["/"];
  const post = item.post;
  const schemas = doc.components.schemas;
  const section = el("section", { class: "function", id: name, "aria-labelledby": `${name}-title` },
    el("h2", { id: `${name}-title`, text: name }),
    el("p", { text: doc.info.summary || "" }),
    el("p", { class: "muted", text: post.description }),
    el("p", {}, el("span", { class: "method", text: "POST" }), " ", el("code", { text: url || `https://${name}.<domain>/` })));
  section.append(el("h3", { text: "Request" }), fields(schemas.Request));
  section.append(el("h3", { text: "Reply" }), fields(schemas.Reply));
  const id = `${name}-body`;
  const body = el("textarea", { id, spellcheck: "false" });
  body.value = example(schemas.Request);
  const output = el("pre", { class: "result", role: "status" });
  const button = el("button", { type: "button", text: `Send to ${name}` });
  button.addEventListener("click", () => send(url, {
    method: "POST", headers: { "content-type": "application/json" }, body: body.value,
  }, output));
  if (url) section.append(el("label", { for: id, text: "Request body (JSON)" }), body, button, output);
  else section.append(el("p", { class: "muted", text: "No URL is known for this function here (FUNCTION_URLS)." }));
  if (item.get && url) {
    const params = item.get.parameters.map((p) => p.name).join(", ");
    section.append(el("p", {}, el("span", { class: "method", text: "GET" }), " ",
      el("code", { text: `${url}/?${params ? params.split(", ").map((p) => `${p}=…`).join("&") : ""}` })));
  }
  return section;
}

function eventSections(asyncapi) {
  const out = [];
  const operations = Object.values(asyncapi.operations);
  for (const [key, channel] of Object.entries(asyncapi.channels)) {
    const message = asyncapi.components.messages[key];
    const senders = operations.filter((o) => o.action === "send" && o.channel.$ref.endsWith(`/${key}`));
    const receivers = operations.filter((o) => o.action === "receive" && o.channel.$ref.endsWith(`/${key}`));
    out.push(el("section", { class: "event", id: key, "aria-labelledby": `${key}-title` },
      el("h2", { id: `${key}-title`, text: channel.address }),
      el("p", { text: message.summary || "" }),
      el("p", { class: "muted", text: channel.description }),
      el("h3", { text: "Sent by" }), el("ul", {}, ...senders.map((o) => el("li", { text: o.title }))),
      el("h3", { text: "Received by" }), el("ul", {}, ...receivers.map((o) => el("li", { text: o.title }))),
      el("h3", { text: "Data" }), fields(message.payload)));
  }
  return out;
}

async function main() {
  const main = document.getElementById("main");
  const [config, api] = await Promise.all([
    fetch("config.json").then((r) => r.json()),
    fetch("api.json").then((r) => r.json()),
  ]);
  main.replaceChildren();
  const toc = document.getElementById("toc");
  for (const [name, doc] of Object.entries(api.openapi)) {
    main.append(functionSection(name, doc, (config.functions || {})[name]));
    toc.append(el("li", {}, el("a", { href: `#${name}`, text: name })));
  }
  main.append(el("h2", { text: "Events on the Broker" }));
  for (const section of eventSections(api.asyncapi)) {
    main.append(section);
    toc.append(el("li", {}, el("a", { href: `#${section.id}`, text: section.querySelector("h2").textContent })));
  }
}

main().catch((error) => {
  document.getElementById("main").textContent = `The API documents could not be loaded: ${error}`;
});
