// Small DOM helpers shared by the dashboard's modules.

export const $ = (id) => document.getElementById(id);

export function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

export function button(label, onClick, className = 'secondary', ariaLabel) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.className = className;
  if (ariaLabel) b.setAttribute('aria-label', ariaLabel);
  b.addEventListener('click', onClick);
  return b;
}

/** A table cell holding a coloured state badge (its CSS class is the state). */
export function badgeCell(text) {
  const td = cell('');
  const badge = document.createElement('span');
  badge.className = `badge ${text}`;
  badge.textContent = text;
  td.append(badge);
  return td;
}

/** An element with a class and text. */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** "12 s ago", "3 min ago", "2 h ago", or the local date and time; "never" for null. */
export function ago(iso) {
  if (!iso) return 'never';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}
