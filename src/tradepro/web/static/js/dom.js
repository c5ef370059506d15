// Small DOM helpers: every text goes in through textContent, never as HTML.

export function byId(id) {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page has no #${id}`);
  return node;
}

/** Create an element: `props` are attributes, plus `text`, `class`, `dataset`, `on<event>`. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** Show or hide with the `hidden` attribute (no inline styles: the page's CSP forbids them). */
export function show(node, visible) {
  node.hidden = !visible;
}

/** The words of a table's column headers, in order (a table shown as cards labels each
 * cell with them, so the page says each column's name once, in its HTML). */
export function headerLabels(table) {
  return [...table.tHead.rows[0].cells].map((cell) => cell.textContent.trim());
}
