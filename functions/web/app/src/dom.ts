// A few lines of DOM building: elements with attributes and children, text
// always as text (nothing a function answers is ever read as HTML).
export function h(tag: string, attrs: Record<string, string | boolean> = {}, ...children: (Node | string | null)[]): HTMLElement {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false) continue;
    node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child !== null) node.append(child);
  return node;
}

export const money = (amount: string): string => `$${amount}`;

export const when = (iso: string): string =>
  new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A message the screen reader announces, in place of `target`'s content. */
export function say(target: HTMLElement, text: string, kind: "error" | "info" = "info"): void {
  target.replaceChildren(h("p", { class: kind, role: kind === "error" ? "alert" : "status" }, text));
}
