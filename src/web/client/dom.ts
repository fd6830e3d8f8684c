/** The page's DOM helpers: every value from a recording goes in as text, never as HTML. */

/** The element with this id; a missing one is a bug in the page. */
export function $(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (!found) throw new Error(`missing #${id}`);
  return found;
}

/** Creates an element whose content is text only. */
export function el(tag: string, text?: string, className?: string): HTMLElement {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}
