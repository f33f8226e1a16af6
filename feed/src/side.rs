//! Order and trade side.

use std::fmt;

/// Buy or sell: the side of an order, or the taker side of a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// Buy: an order joining the bids, or a trade whose taker bought.
    Buy,
    /// Sell: an order joining the asks, or a trade whose taker sold.
    Sell,
}

impl Side {
    /// `+1` for a buy, `-1` for a sell.
    pub const fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }

    /// The other side.
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// Bybit's spelling: `Buy`, `Sell`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "Buy",
            Side::Sell => "Sell",
        }
    }

    /// Parses Bybit's spelling.
    pub fn from_bybit(text: &str) -> Option<Side> {
        match text {
            "Buy" => Some(Side::Buy),
            "Sell" => Some(Side::Sell),
            _ => None,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
