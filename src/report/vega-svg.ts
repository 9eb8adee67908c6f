/**
 * Headless vega-lite rendering shared by the report's charts: a vega-lite spec compiled to vega and
 * rendered to an SVG string by vega's string renderer (no browser, no canvas, no network).
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/**
 * Renders a vega-lite spec to a standalone SVG document. The spec's data must be inline (`values`):
 * nothing is loaded.
 */
export async function renderVegaLiteSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Prefixes every `id` of an SVG and every reference to one (`url(#id)`, `href="#id"`), so that several
 * SVGs can be inlined into one HTML page: vega numbers its clip paths and gradients from 1 in each
 * render, so two inlined charts would otherwise share `clip1` and clip each other's marks.
 * @param prefix letters, digits, `-` or `_`, e.g. "chart-a-".
 */
export function prefixSvgIds(svg: string, prefix: string): string {
  return svg
    .replace(/(\s)id="([^"]+)"/g, (_match, space: string, id: string) => `${space}id="${prefix}${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_match, id: string) => `url(#${prefix}${id})`)
    .replace(/(\s(?:xlink:)?href)="#([^"]+)"/g, (_match, attribute: string, id: string) => `${attribute}="#${prefix}${id}"`);
}
