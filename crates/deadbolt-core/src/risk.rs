//! Risk at sign-in: what looks unusual about a sign-in with a correct password (signals), and
//! what policy says to do about it (the response). The facts come from the layers above (what
//! the account has seen before, where the client address is); the judgement is made here.

use crate::account::Role;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;
use time::OffsetDateTime;

/// Something unusual about a sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// A device (User-Agent) the account has not signed in from.
    NewDevice,
    /// A network (/24 for IPv4, /48 for IPv6) the account has not signed in from.
    NewNetwork,
    /// A country (by the GeoIP database) the account has not signed in from.
    NewCountry,
    /// Faster than policy's speed from the place of the previous sign-in.
    ImpossibleTravel,
    /// Many wrong passwords for the account just before this right one.
    FailureBurst,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewDevice => "new_device",
            Self::NewNetwork => "new_network",
            Self::NewCountry => "new_country",
            Self::ImpossibleTravel => "impossible_travel",
            Self::FailureBurst => "failure_burst",
        }
    }

    /// The `reason` a client is given (API.md's list): networks and countries are both a
    /// new location; a burst of failures is a rule of policy rather than a place.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NewDevice => "new_device",
            Self::NewNetwork | Self::NewCountry => "new_location",
            Self::ImpossibleTravel => "impossible_travel",
            Self::FailureBurst => "policy",
        }
    }
}

/// What policy does about a signal, from the mildest to the strictest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskResponse {
    /// Sign in as usual.
    Allow,
    /// Ask an account with MFA for its second factor even on a trusted device; an account
    /// without MFA signs in as usual.
    SecondFactor,
    /// As `second_factor`, and an account without MFA must enter a code sent to its verified
    /// email.
    EmailCode,
    /// No sign-in.
    Refuse,
}

/// Where a sign-in with the right password goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Refuse,
    /// An account without MFA proves it holds its verified email.
    EmailCheck,
    /// The account's second factor; a trusted device stands in for it only when risk allows.
    SecondFactor {
        device_may_stand_in: bool,
    },
    SignIn,
}

/// The step after a right password, by policy's `response` to the sign-in's risk, for an account
/// with or without MFA and a verified email or not.
pub fn next_step(response: RiskResponse, has_mfa: bool, email_verified: bool) -> NextStep {
    match (response, has_mfa) {
        (RiskResponse::Refuse, _) => NextStep::Refuse,
        (_, true) => NextStep::SecondFactor {
            device_may_stand_in: response == RiskResponse::Allow,
        },
        (RiskResponse::EmailCode, false) if email_verified => NextStep::EmailCheck,
        // a code to an address nobody proved is no second factor
        (RiskResponse::EmailCode, false) => NextStep::Refuse,
        (RiskResponse::Allow | RiskResponse::SecondFactor, false) => NextStep::SignIn,
    }
}

/// Policy's risk rules: a response per signal, and the thresholds of the signals that have one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskPolicy {
    pub new_device: RiskResponse,
    pub new_network: RiskResponse,
    pub new_country: RiskResponse,
    pub impossible_travel: RiskResponse,
    pub failure_burst: RiskResponse,
    /// Faster than this between two sign-ins' places is impossible travel.
    pub max_travel_kmh: u32,
    /// Wrong passwords for the account (within the login throttle's window, since its last
    /// sign-in) that make a burst.
    pub burst_failures: u32,
}

impl Default for RiskPolicy {
    fn default() -> Self {
        Self {
            new_device: RiskResponse::Allow,
            new_network: RiskResponse::Allow,
            new_country: RiskResponse::SecondFactor,
            impossible_travel: RiskResponse::EmailCode,
            failure_burst: RiskResponse::SecondFactor,
            // a little faster than an airliner
            max_travel_kmh: 1000,
            burst_failures: 5,
        }
    }
}

impl RiskPolicy {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(100..=100_000).contains(&self.max_travel_kmh) {
            out.push((
                "max_travel_kmh",
                "must be between 100 and 100000".to_owned(),
            ));
        }
        if !(1..=1000).contains(&self.burst_failures) {
            out.push(("burst_failures", "must be between 1 and 1000".to_owned()));
        }
        out
    }

    pub fn response_to(&self, signal: Signal) -> RiskResponse {
        match signal {
            Signal::NewDevice => self.new_device,
            Signal::NewNetwork => self.new_network,
            Signal::NewCountry => self.new_country,
            Signal::ImpossibleTravel => self.impossible_travel,
            Signal::FailureBurst => self.failure_burst,
        }
    }

    /// The strictest response among `signals`, with the signal that called for it (the first
    /// of equals). No signal: allow.
    pub fn decide(&self, signals: &[Signal]) -> (RiskResponse, Option<Signal>) {
        signals
            .iter()
            .map(|s| (self.response_to(*s), Some(*s)))
            .fold((RiskResponse::Allow, None), |best, next| {
                if next.0 > best.0 {
                    next
                } else {
                    best
                }
            })
    }
}

/// A point on the earth, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

impl Coordinates {
    /// Great-circle distance (haversine, mean earth radius).
    pub fn distance_km(self, other: Coordinates) -> f64 {
        const EARTH_RADIUS_KM: f64 = 6371.0;
        let (la1, la2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dla = la2 - la1;
        let dlo = (other.longitude - self.longitude).to_radians();
        let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
    }
}

/// Where a sign-in came from, as far as is known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Place {
    pub network: Option<IpNet>,
    /// ISO 3166-1 alpha-2, from the GeoIP database.
    pub country: Option<String>,
    pub coordinates: Option<Coordinates>,
}

/// The time and place of the last sign-in GeoIP could place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PreviousSignIn {
    pub at: OffsetDateTime,
    pub coordinates: Coordinates,
}

/// What the account had seen before this sign-in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// False when the account never completed a sign-in: everything would look new, and
    /// nothing is.
    pub signed_in_before: bool,
    pub previous: Option<PreviousSignIn>,
    pub device_known: bool,
    pub network_known: bool,
    pub country_known: bool,
    /// Wrong passwords since the last sign-in, within the login throttle's window.
    pub recent_failures: u32,
}

/// GeoIP places within this distance of each other are the same place: city positions are
/// approximate, and a nearby network can locate a hundred kilometres off.
const SAME_PLACE_KM: f64 = 100.0;

/// The signals of a sign-in from `here` at `now`, given the account's `history`.
pub fn signals(
    policy: &RiskPolicy,
    history: &History,
    here: &Place,
    now: OffsetDateTime,
) -> Vec<Signal> {
    let mut out = Vec::new();
    if history.recent_failures >= policy.burst_failures {
        out.push(Signal::FailureBurst);
    }
    if !history.signed_in_before {
        return out;
    }
    if !history.device_known {
        out.push(Signal::NewDevice);
    }
    if here.network.is_some() && !history.network_known {
        out.push(Signal::NewNetwork);
    }
    if here.country.is_some() && !history.country_known {
        out.push(Signal::NewCountry);
    }
    if let (Some(previous), Some(to)) = (history.previous, here.coordinates) {
        let km = previous.coordinates.distance_km(to);
        // a minute at least between two sign-ins, so that two at once are not infinitely fast
        let hours = ((now - previous.at).whole_seconds().max(60) as f64) / 3600.0;
        if km > SAME_PLACE_KM && km / hours > f64::from(policy.max_travel_kmh) {
            out.push(Signal::ImpossibleTravel);
        }
    }
    out
}

/// The network an address belongs to for "new network": its /24 (IPv4) or /48 (IPv6), the
/// blocks a site or a home line usually gets. An IPv4 address mapped into IPv6 counts as IPv4.
pub fn network_of(ip: IpAddr) -> IpNet {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let prefix = if ip.is_ipv4() { 24 } else { 48 };
    // the prefix is within range for the family, so this cannot fail
    IpNet::new(ip, prefix).map_or_else(|_| IpNet::from(ip), |n| n.trunc())
}

/// Where the accounts of a role may sign in from: any listed network, or any listed country.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocationRule {
    pub networks: Vec<IpNet>,
    /// ISO 3166-1 alpha-2 codes, upper case.
    pub countries: Vec<String>,
}

impl LocationRule {
    fn admits(&self, ip: Option<IpAddr>, country: Option<&str>) -> bool {
        let by_network = ip.is_some_and(|ip| self.networks.iter().any(|n| n.contains(&ip)));
        let by_country = country.is_some_and(|c| self.countries.iter().any(|k| k == c));
        by_network || by_country
    }
}

/// Whether an account with `roles` may sign in from `ip` (in `country`): every role of the
/// account that has a rule must admit the place. An unknown place is admitted by no rule.
pub fn location_allows(
    rules: &BTreeMap<String, LocationRule>,
    roles: &[Role],
    ip: Option<IpAddr>,
    country: Option<&str>,
) -> bool {
    roles
        .iter()
        .filter_map(|r| rules.get(r.as_str()))
        .all(|rule| rule.admits(ip, country))
}

/// Whether `code` is an ISO 3166-1 alpha-2 country code as GeoIP databases write them.
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    const PARIS: Coordinates = Coordinates {
        latitude: 48.8566,
        longitude: 2.3522,
    };
    const NEW_YORK: Coordinates = Coordinates {
        latitude: 40.7128,
        longitude: -74.0060,
    };

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::seconds(1_700_000_000 + seconds)
    }

    fn seen_everything(previous_at: OffsetDateTime, from: Coordinates) -> History {
        History {
            signed_in_before: true,
            previous: Some(PreviousSignIn {
                at: previous_at,
                coordinates: from,
            }),
            device_known: true,
            network_known: true,
            country_known: true,
            recent_failures: 0,
        }
    }

    fn place(to: Coordinates) -> Place {
        Place {
            network: Some(network_of("192.0.2.7".parse().unwrap())),
            country: Some("FR".into()),
            coordinates: Some(to),
        }
    }

    #[test]
    fn paris_to_new_york_distance_is_about_5840_km() {
        let km = PARIS.distance_km(NEW_YORK);
        assert!((5800.0..5880.0).contains(&km), "{km}");
        assert!(PARIS.distance_km(PARIS) < 1e-9);
    }

    #[test]
    fn an_hour_to_cross_the_atlantic_is_impossible_eight_hours_is_a_flight() {
        let policy = RiskPolicy::default();
        let one_hour = seen_everything(at(0), PARIS);
        assert_eq!(
            signals(&policy, &one_hour, &place(NEW_YORK), at(3600)),
            [Signal::ImpossibleTravel]
        );
        assert!(signals(&policy, &one_hour, &place(NEW_YORK), at(8 * 3600)).is_empty());
    }

    #[test]
    fn nearby_places_are_never_travel_even_at_once() {
        let policy = RiskPolicy::default();
        let near_paris = Coordinates {
            latitude: 48.9,
            longitude: 2.5,
        };
        let history = seen_everything(at(0), PARIS);
        assert!(signals(&policy, &history, &place(near_paris), at(1)).is_empty());
    }

    #[test]
    fn a_first_sign_in_is_new_in_nothing_but_a_burst_still_counts() {
        let policy = RiskPolicy::default();
        let mut history = History::default();
        assert!(signals(&policy, &history, &place(PARIS), at(0)).is_empty());
        history.recent_failures = policy.burst_failures;
        assert_eq!(
            signals(&policy, &history, &place(PARIS), at(0)),
            [Signal::FailureBurst]
        );
    }

    #[test]
    fn unseen_device_network_and_country_are_each_a_signal() {
        let policy = RiskPolicy::default();
        let mut history = seen_everything(at(0), PARIS);
        history.device_known = false;
        history.network_known = false;
        history.country_known = false;
        assert_eq!(
            signals(&policy, &history, &place(PARIS), at(60)),
            [Signal::NewDevice, Signal::NewNetwork, Signal::NewCountry]
        );
        // without a GeoIP answer there is no country to be new
        let unknown = Place {
            country: None,
            ..place(PARIS)
        };
        assert!(!signals(&policy, &history, &unknown, at(60)).contains(&Signal::NewCountry));
    }

    #[test]
    fn the_next_step_by_response_and_account() {
        use RiskResponse::*;
        let with_mfa = |r| next_step(r, true, true);
        assert_eq!(
            with_mfa(Allow),
            NextStep::SecondFactor {
                device_may_stand_in: true
            }
        );
        for r in [SecondFactor, EmailCode] {
            assert_eq!(
                with_mfa(r),
                NextStep::SecondFactor {
                    device_may_stand_in: false
                }
            );
        }
        assert_eq!(with_mfa(Refuse), NextStep::Refuse);
        assert_eq!(next_step(Allow, false, true), NextStep::SignIn);
        assert_eq!(next_step(SecondFactor, false, false), NextStep::SignIn);
        assert_eq!(next_step(EmailCode, false, true), NextStep::EmailCheck);
        assert_eq!(next_step(EmailCode, false, false), NextStep::Refuse);
        assert_eq!(next_step(Refuse, false, true), NextStep::Refuse);
    }

    #[test]
    fn the_strictest_response_wins() {
        let policy = RiskPolicy {
            new_device: RiskResponse::SecondFactor,
            new_network: RiskResponse::Refuse,
            ..RiskPolicy::default()
        };
        assert_eq!(policy.decide(&[]), (RiskResponse::Allow, None));
        assert_eq!(
            policy.decide(&[Signal::NewDevice, Signal::NewNetwork]),
            (RiskResponse::Refuse, Some(Signal::NewNetwork))
        );
        assert_eq!(
            policy.decide(&[Signal::NewDevice]),
            (RiskResponse::SecondFactor, Some(Signal::NewDevice))
        );
    }

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        let v4 = network_of("203.0.113.77".parse().unwrap());
        assert_eq!(v4.to_string(), "203.0.113.0/24");
        let v6 = network_of("2001:db8:1234:5678::1".parse().unwrap());
        assert_eq!(v6.to_string(), "2001:db8:1234::/48");
        let mapped = network_of("::ffff:203.0.113.9".parse().unwrap());
        assert_eq!(mapped, v4);
    }

    #[test]
    fn a_role_rule_admits_listed_networks_or_countries_only() {
        let rules = BTreeMap::from([(
            "admin".to_owned(),
            LocationRule {
                networks: vec!["10.0.0.0/8".parse().unwrap()],
                countries: vec!["DE".into()],
            },
        )]);
        let admin = [Role::parse("admin").unwrap()];
        let ip = |s: &str| Some(s.parse().unwrap());
        assert!(location_allows(&rules, &admin, ip("10.1.2.3"), None));
        assert!(location_allows(&rules, &admin, ip("192.0.2.1"), Some("DE")));
        assert!(!location_allows(
            &rules,
            &admin,
            ip("192.0.2.1"),
            Some("FR")
        ));
        assert!(!location_allows(&rules, &admin, None, None));
        // roles without a rule are not restricted
        assert!(location_allows(&rules, &[], ip("192.0.2.1"), None));
    }
}
