// How an asset is named on screen: "BTC/USDC". The API, the WebSocket channels and the
// stored choices keep the exchange's symbol ("BTC_USDC"); only what a person reads goes
// through here, so every view (picker, tables, notifications, chart, ticket) says the same.

/** "BTC_USDC" -> "BTC/USDC" (a symbol without "_" is shown as it is). */
export function symbolLabel(symbol) {
  return String(symbol).replace("_", "/");
}
