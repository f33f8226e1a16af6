"""A standard Bybit client library (ccxt), unchanged but for its URLs, against toolkit venue.

usage: python3 ccxt_bybit.py BASE_URL API_KEY  (the secret in BYBIT_API_SECRET)

It loads every market, reads the book, posts a post-only buy under the touch, sees it open,
cancels it, and reads the positions and the balance; what it saw is printed as one JSON object.
"""

import json
import os
import sys

import ccxt

base, key = sys.argv[1], sys.argv[2]
symbol = "BTC/USDT:USDT"
exchange = ccxt.bybit({"apiKey": key, "secret": os.environ["BYBIT_API_SECRET"]})
exchange.urls["api"] = {name: base for name in ("spot", "futures", "v2", "public", "private")}

markets = exchange.load_markets()
market = markets[symbol]
book = exchange.fetch_order_book(symbol)
bid, ask = book["bids"][0][0], book["asks"][0][0]
price = bid - 100 * market["precision"]["price"]
created = exchange.create_order(symbol, "limit", "buy", 0.001, price, {"postOnly": True})
open_orders = exchange.fetch_open_orders(symbol)
one = exchange.fetch_open_order(created["id"], symbol)
cancelled = exchange.cancel_order(created["id"], symbol)
after = exchange.fetch_open_orders(symbol)
positions = exchange.fetch_positions([symbol])
balance = exchange.fetch_balance()

print(
    json.dumps(
        {
            "swaps": sorted(name for name, m in markets.items() if m["swap"]),
            "precision": [market["precision"]["price"], market["precision"]["amount"]],
            "limits": [market["limits"]["amount"]["min"], market["limits"]["cost"]["min"]],
            "book": bid < ask,
            "created": created["id"],
            "open": [[o["id"], o["status"], o["price"], o["amount"], o["postOnly"]] for o in open_orders],
            "one": [one["id"], one["status"], one["side"], one["type"]],
            "cancelled": cancelled["id"],
            "after": len(after),
            "positions": [[p["symbol"], p["contracts"]] for p in positions],
            "usdt": [balance["USDT"]["total"], balance["USDT"]["free"]],
            "price": price,
        }
    )
)
