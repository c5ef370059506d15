// What an order would do, before it is sent: the margin it locks, its liquidation price, the
// free balance left, the loss at its stop loss and the profit at its take profit, computed
// as the engine will (BigInt on scaled integers). Pure: the ticket shows the result.

const HUNDRED_PERCENT_HUNDREDTHS = 10000n;

/**
 * @param contract  the instrument's Contract (money.js)
 * @param order  {side, entry, qty, leverage, stop, profit}: `entry` (ticks) and `qty`
 *   (lots) null when unknown; `stop` and `profit` null when unset or on the wrong side
 * @param free  the free balance in cents, or null
 * @returns {margin, liquidation, freeAfter, loss, stopNeverFires, profit}: cents and ticks,
 *   null where unknown; `loss` is positive for a loss
 */
export function previewOrder(contract, { side, entry, qty, leverage, stop, profit }, free) {
  const preview = { margin: null, liquidation: null, freeAfter: null, loss: null, stopNeverFires: false, profit: null };
  if (entry === null || qty === null) return preview;
  const margin = contract.margin(entry, qty, leverage);
  const liquidation = contract.liquidationPrice(side, entry, qty, margin);
  Object.assign(preview, { margin, liquidation, freeAfter: free === null ? null : free - margin });
  if (stop !== null) {
    // A margin call outranks a stop loss at the same price (the engine's rule): a stop at
    // or beyond the liquidation price never fires, and a close never takes more than the
    // margin.
    preview.stopNeverFires = side === "buy" ? stop <= liquidation : stop >= liquidation;
    const loss = -contract.pnl(side, entry, qty, preview.stopNeverFires ? liquidation : stop);
    preview.loss = loss > margin ? margin : loss;
  }
  if (profit !== null) preview.profit = contract.pnl(side, entry, qty, profit);
  return preview;
}

/** `loss` in hundredths of a percent of `equity`, rounded down; null without a positive
 * equity to compare with. */
export function shareOfEquity(loss, equity) {
  if (equity === null || equity <= 0n || loss < 0n) return null;
  return (loss * HUNDRED_PERCENT_HUNDREDTHS) / equity;
}
