"""The Account dialog's words (static/js/account_menu.js): what a deposit asks to confirm,
with the free balance and the day's allowance when they are known, and without the
sentence of one that is not."""

from __future__ import annotations

from playwright.sync_api import Page

RUN_DEPOSIT_WORDS = """async (cases) => {
  const { depositWords } = await import("/static/js/account_menu.js");
  const cents = (text) => (text === null ? null : BigInt(text));
  return cases.map(([amount, balance, allowance]) =>
    depositWords(cents(amount), cents(balance), cents(allowance)));
}"""

DEPOSITS = [
    (("100000", "500000", "10000000"),
     "Add $1,000.00 of paper money to your free balance? It becomes $6,000.00. "
     "You can deposit $99,000.00 more today."),
    (("1", "123456789012345678901", "9900000"),
     "Add $0.01 of paper money to your free balance? It becomes $1,234,567,890,123,456,789.02. "
     "You can deposit $98,999.99 more today."),
    (("9900000", "600000", "9900000"),
     "Add $99,000.00 of paper money to your free balance? It becomes $105,000.00. "
     "That uses the rest of today's deposit allowance."),
    (("100000", None, "10000000"),
     "Add $1,000.00 of paper money to your free balance? You can deposit $99,000.00 more today."),
    (("100000", "500000", None),
     "Add $1,000.00 of paper money to your free balance? It becomes $6,000.00."),
    (("100000", None, None), "Add $1,000.00 of paper money to your free balance?"),
    (("10000001", "500000", "10000000"),
     "Add $100,000.01 of paper money to your free balance? Only $100,000.00 more can be "
     "deposited today, so it will be refused."),
    (("500", "500000", "0"),
     "Add $5.00 of paper money to your free balance? You have used today's deposit "
     "allowance, so it will be refused."),
]  # fmt: skip


def test_a_deposit_is_confirmed_in_words_from_what_is_known(module_page: Page) -> None:
    cases = [list(case) for case, _ in DEPOSITS]
    results = module_page.evaluate(RUN_DEPOSIT_WORDS, cases)
    for (case, want), got in zip(DEPOSITS, results, strict=True):
        assert got == want, case
