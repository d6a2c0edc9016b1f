//! The commodity universe: price level, volatility, session and venues.

/// One traded commodity and the parameters of its simulated market.
#[derive(Debug, Clone, Copy)]
pub struct Commodity {
    /// Symbol as stored in the `commodity` column.
    pub symbol: &'static str,
    /// Starting price.
    pub price: f64,
    /// Annualised volatility of the geometric Brownian motion.
    pub volatility: f64,
    /// Trading session start, minutes after midnight UTC.
    pub open_minute: u32,
    /// Trading session length in minutes.
    pub session_minutes: u32,
    /// Typical trade size (contracts or lots).
    pub lot: u32,
    /// Venues that report ticks for this commodity.
    pub sources: &'static [&'static str],
}

const fn c(
    symbol: &'static str,
    price: f64,
    volatility: f64,
    open_minute: u32,
    session_minutes: u32,
    lot: u32,
    sources: &'static [&'static str],
) -> Commodity {
    Commodity {
        symbol,
        price,
        volatility,
        open_minute,
        session_minutes,
        lot,
        sources,
    }
}

/// Energy and most metals trade nearly around the clock; grains in the US day session.
pub const COMMODITIES: &[Commodity] = &[
    c("WTI", 71.5, 0.35, 0, 1380, 10, &["NYMEX", "ICE", "PLATTS"]),
    c("BRENT", 75.2, 0.32, 60, 1320, 10, &["ICE", "PLATTS"]),
    c("HENRY_HUB", 3.1, 0.65, 0, 1380, 25, &["NYMEX", "ICE"]),
    c("TTF_GAS", 34.0, 0.70, 360, 720, 20, &["ICE", "EEX"]),
    c("JKM_LNG", 12.4, 0.60, 0, 1380, 15, &["PLATTS", "ICE"]),
    c("UK_POWER", 82.0, 0.80, 420, 600, 5, &["EEX", "ICE"]),
    c("DE_POWER", 95.0, 0.85, 420, 600, 5, &["EEX"]),
    c("PJM_POWER", 48.0, 0.90, 780, 480, 5, &["ICE"]),
    c("API2_COAL", 112.0, 0.45, 420, 600, 5, &["ICE", "EEX"]),
    c("HEATING_OIL", 2.45, 0.38, 0, 1380, 10, &["NYMEX"]),
    c("RBOB", 2.21, 0.40, 0, 1380, 10, &["NYMEX"]),
    c("GOLD", 2350.0, 0.15, 0, 1380, 2, &["COMEX", "LBMA"]),
    c("SILVER", 28.4, 0.25, 0, 1380, 5, &["COMEX", "LBMA"]),
    c("PLATINUM", 980.0, 0.22, 0, 1380, 2, &["NYMEX"]),
    c("COPPER", 4.35, 0.22, 60, 1320, 10, &["COMEX", "LME"]),
    c("ALUMINIUM", 2400.0, 0.20, 60, 1200, 5, &["LME"]),
    c("NICKEL", 17200.0, 0.35, 60, 1200, 2, &["LME"]),
    c("ZINC", 2650.0, 0.24, 60, 1200, 5, &["LME"]),
    c("WHEAT", 5.85, 0.30, 870, 320, 20, &["CBOT"]),
    c("CORN", 4.40, 0.27, 870, 320, 20, &["CBOT"]),
    c("SOYBEANS", 11.9, 0.22, 870, 320, 20, &["CBOT"]),
    c("SUGAR", 0.205, 0.30, 450, 600, 20, &["ICE"]),
    c("COFFEE", 2.30, 0.35, 555, 330, 10, &["ICE"]),
    c("COCOA", 7400.0, 0.55, 585, 300, 5, &["ICE"]),
];
