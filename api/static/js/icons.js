// Icons drawn as SVG paths (no icon font, no emoji font needed): each a 20×20 stroke in
// the text's colour, hidden from assistive technology (the control carries the name).

const PATHS = {
  pencil: "M4 16l1-4 8.5-8.5a1.4 1.4 0 0 1 2 0l1 1a1.4 1.4 0 0 1 0 2L8 15z M11.5 5.5l3 3",
  trash: "M4 6h12 M8 6V4h4v2 M6 6l1 11h6l1-11 M9 9v5 M11 9v5",
  clip: "M15 9l-6 6a3 3 0 0 1-4.2-4.2l6.5-6.5a2 2 0 0 1 2.8 2.8l-6.4 6.4a1 1 0 0 1-1.4-1.4L12 6.4",
};

export function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 20 20");
  svg.setAttribute("width", "18");
  svg.setAttribute("height", "18");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.classList.add("icon-svg");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", PATHS[name]);
  svg.append(path);
  return svg;
}
