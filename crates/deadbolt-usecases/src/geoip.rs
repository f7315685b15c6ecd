//! Where a client address is, from a MaxMind GeoIP2/GeoLite2 database (`.mmdb`), for the
//! country and impossible-travel signals and country restrictions.

use anyhow::Context;
use deadbolt_core::risk::{is_country_code, Coordinates};
use serde::Deserialize;
use std::net::IpAddr;

pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

/// What we read of a record: City databases have both parts, Country databases the first.
#[derive(Deserialize)]
struct Record {
    country: Option<Country>,
    location: Option<Location>,
}

#[derive(Deserialize)]
struct Country {
    iso_code: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

/// A client address's country (ISO 3166-1 alpha-2) and position, as far as the database knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Located {
    pub country: Option<String>,
    pub coordinates: Option<Coordinates>,
}

impl GeoIp {
    pub fn open(path: &str) -> anyhow::Result<Self> {
        let reader = maxminddb::Reader::open_readfile(path)
            .with_context(|| format!("opening the GeoIP database {path}"))?;
        Ok(Self { reader })
    }

    /// Nothing known (an address the database lacks, or a record it cannot read) is an answer,
    /// not an error: the signals that need a place are then silent.
    pub fn locate(&self, ip: IpAddr) -> Located {
        let record = self
            .reader
            .lookup(ip)
            .ok()
            .and_then(|found| found.decode::<Record>().ok().flatten());
        let Some(record) = record else {
            return Located::default();
        };
        let country = record
            .country
            .and_then(|c| c.iso_code)
            .filter(|c| is_country_code(c));
        let coordinates = record
            .location
            .and_then(|l| match (l.latitude, l.longitude) {
                (Some(latitude), Some(longitude))
                    if (-90.0..=90.0).contains(&latitude)
                        && (-180.0..=180.0).contains(&longitude) =>
                {
                    Some(Coordinates {
                        latitude,
                        longitude,
                    })
                }
                _ => None,
            });
        Located {
            country,
            coordinates,
        }
    }
}
