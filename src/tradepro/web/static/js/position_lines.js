// Dragging a position's take profit or stop loss line on the chart, with a mouse, a pen or
// a finger. The chart library draws price lines but cannot drag them: pointer events on the
// chart's box find the line under the pointer (by its coordinate on the price scale), and
// while a line is dragged the chart's own scrolling and zooming are off, so the gesture
// moves the line, not the chart. On release the new level goes to `onDrop`, which asks the
// user to confirm; the chart holds the line there until then.

import { LINES_DRAGGABLE } from "./chart.js";

/** How close (px) the pointer must be to a line to take it: a finger is less precise. */
const REACH = { mouse: 6, pen: 8, touch: 16 };

export class LineDragger {
  /**
   * @param chart  the PriceChart
   * @param onDrop  (position, kind, ticks) => void: the line `kind` ("takeProfit",
   *   "stopLoss") of `position` was dropped at `ticks`
   */
  constructor(chart, onDrop) {
    this.chart = chart;
    this.onDrop = onDrop;
    this.drag = null;
    const box = chart.box;
    box.addEventListener("pointerdown", (event) => this.down(event), { capture: true });
    box.addEventListener("pointermove", (event) => this.move(event), { capture: true });
    box.addEventListener("pointerup", (event) => this.up(event), { capture: true });
    box.addEventListener("pointercancel", () => this.cancel(), { capture: true });
    // A finger dragging a line must not scroll the page (that would cancel the drag).
    box.addEventListener("touchmove", (event) => {
      if (this.drag === null) return;
      event.preventDefault();
      event.stopPropagation();
    }, { capture: true, passive: false });
    box.addEventListener("touchstart", (event) => {
      if (this.drag !== null) event.stopPropagation();
    }, { capture: true });
    box.addEventListener("touchend", (event) => {
      if (this.drag !== null) event.stopPropagation();
    }, { capture: true });
  }

  /** The pointer's height in the chart (the price scale's coordinate). */
  offset(event) {
    return event.clientY - this.chart.box.getBoundingClientRect().top;
  }

  /** The draggable line nearest to `y` within reach, or null. */
  lineAt(y, pointerType) {
    const reach = REACH[pointerType] ?? REACH.mouse;
    let best = null;
    for (const level of this.chart.levels) {
      if (!LINES_DRAGGABLE.has(level.kind) || level.position === undefined) continue;
      const at = this.chart.coordinateOf(level.value);
      if (at === null) continue;
      const gap = Math.abs(at - y);
      if (gap <= reach && (best === null || gap < best.gap)) best = { level, gap };
    }
    return best === null ? null : best.level;
  }

  down(event) {
    if (this.chart.series === null || event.button > 0) return;
    const level = this.lineAt(this.offset(event), event.pointerType);
    if (level === null) return;
    event.preventDefault(); // no mousedown for the chart: it would scroll
    event.stopPropagation();
    this.drag = { position: level.position, kind: level.kind, from: level.ticks, ticks: level.ticks, pointerId: event.pointerId };
    this.chart.box.setPointerCapture?.(event.pointerId);
    this.chart.chart.applyOptions({ handleScroll: false, handleScale: false });
    this.chart.freezeScale(true);
    this.chart.box.dataset.dragging = level.kind;
  }

  move(event) {
    if (this.drag === null) {
      if (event.pointerType === "mouse") {
        const over = this.lineAt(this.offset(event), "mouse");
        if (over === null) delete this.chart.box.dataset.grab;
        else this.chart.box.dataset.grab = over.kind;
      }
      return;
    }
    if (event.pointerId !== this.drag.pointerId) return;
    event.preventDefault();
    event.stopPropagation();
    const ticks = this.chart.priceAt(this.offset(event));
    if (ticks === null || ticks <= 0n) return;
    this.drag.ticks = ticks;
    this.chart.hold(this.drag.position.orderId, this.drag.kind, ticks);
  }

  up(event) {
    if (this.drag === null || event.pointerId !== this.drag.pointerId) return;
    event.preventDefault();
    event.stopPropagation();
    const { position, kind, from, ticks } = this.drag;
    this.finish();
    if (ticks === from) {
      this.chart.release();
      return;
    }
    this.onDrop(position, kind, ticks);
  }

  cancel() {
    if (this.drag === null) return;
    this.finish();
    this.chart.release();
  }

  finish() {
    if (this.chart.box.hasPointerCapture?.(this.drag.pointerId)) this.chart.box.releasePointerCapture(this.drag.pointerId);
    this.drag = null;
    delete this.chart.box.dataset.dragging;
    this.chart.freezeScale(false);
    if (this.chart.chart !== null) this.chart.chart.applyOptions({ handleScroll: true, handleScale: true });
  }
}
