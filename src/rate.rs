//! The `--rate-limit N/PERIOD` grammar (CONTRACTS.md), shared by the onboarding run and the
//! emulator: `500/min`, `50/6s`, `1000/2min`, `10/h`, or `off`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The shortest period a rate may have: below it, the pace would be no limit at all.
pub const MIN_PERIOD: Duration = Duration::from_secs(1);
/// The longest.
pub const MAX_PERIOD: Duration = Duration::from_secs(24 * 3600);

/// At most `requests` in any `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub period: Duration,
}

/// A rate limit, or none at all (benchmarks only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateSetting {
    Limit(RateLimit),
    Off,
}

impl Default for RateSetting {
    fn default() -> Self {
        RateSetting::Limit(RateLimit {
            requests: 500,
            period: Duration::from_secs(60),
        })
    }
}

impl FromStr for RateSetting {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(RateSetting::Off);
        }
        let bad = || {
            format!("`{text}` is not a rate: write N/PERIOD such as `500/min`, `50/6s` or `off`")
        };
        let (count, period) = text.split_once('/').ok_or_else(bad)?;
        let requests: u32 = count
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(bad)?;
        let period = period.trim();
        let unit_at = period
            .find(|c: char| c.is_ascii_alphabetic())
            .ok_or_else(bad)?;
        let (amount, unit) = period.split_at(unit_at);
        let amount: f64 = if amount.is_empty() {
            1.0
        } else {
            amount.parse().map_err(|_| bad())?
        };
        let unit_seconds = match unit {
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        if !amount.is_finite() || amount <= 0.0 {
            return Err(bad());
        }
        let period = Duration::try_from_secs_f64(amount * unit_seconds)
            .ok()
            .filter(|p| (MIN_PERIOD..=MAX_PERIOD).contains(p))
            .ok_or_else(|| {
                format!("`{text}`: the period of a rate must be between 1 second and 24 hours")
            })?;
        Ok(RateSetting::Limit(RateLimit { requests, period }))
    }
}

impl fmt::Display for RateSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateSetting::Off => f.write_str("off"),
            RateSetting::Limit(limit) => {
                write!(f, "{}/{}s", limit.requests, limit.period.as_secs_f64())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(text: &str) -> (u32, f64) {
        match text.parse::<RateSetting>().unwrap() {
            RateSetting::Limit(l) => (l.requests, l.period.as_secs_f64()),
            RateSetting::Off => (0, 0.0),
        }
    }

    #[test]
    fn the_contract_grammar() {
        assert_eq!(limit("500/min"), (500, 60.0));
        assert_eq!(limit("50/6s"), (50, 6.0));
        assert_eq!(limit("1000/2min"), (1000, 120.0));
        assert_eq!(limit("10/h"), (10, 3600.0));
        assert_eq!(limit("7/sec"), (7, 1.0));
        assert_eq!(limit("5/m"), (5, 60.0));
        assert_eq!(limit("1/24h"), (1, 86400.0));
        assert_eq!(limit("1/1s"), (1, 1.0));
        assert_eq!("off".parse::<RateSetting>(), Ok(RateSetting::Off));
        for bad in [
            "0/min",
            "-5/min",
            "500",
            "500/",
            "500/days",
            "x/min",
            "500/0s",
            "5.5/min",
            "1/0.0000000001s",
            "1/0.5s",
            "99999999999999999999h",
            "1/99999999999999999999h",
            "1/25h",
            "1/1e400s",
            "1/NaNs",
        ] {
            assert!(bad.parse::<RateSetting>().is_err(), "{bad}");
        }
    }
}
