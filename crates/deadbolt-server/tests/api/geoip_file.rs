//! Writes a small MaxMind DB (`.mmdb`, format 2.0, IPv4 tree, 24-bit records) for the tests:
//! a few networks with a country and a position, in the shape of a GeoIP2 City database. Our
//! own writer, read by the `maxminddb` crate the server uses.

use std::path::Path;

pub struct GeoEntry {
    pub network: &'static str,
    pub country: &'static str,
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Clone, Copy)]
enum Record {
    Empty,
    Node(usize),
    Data(usize),
}

fn control(kind: u8, size: usize, out: &mut Vec<u8>) {
    // sizes from 29 to 284 take one more byte after the control byte (and its type byte)
    assert!(size < 285);
    let (field, extra) = if size < 29 {
        (size as u8, None)
    } else {
        (29, Some((size - 29) as u8))
    };
    if kind <= 7 {
        out.push((kind << 5) | field);
    } else {
        out.push(field);
        out.push(kind - 7);
    }
    out.extend(extra);
}

fn string(s: &str, out: &mut Vec<u8>) {
    control(2, s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

fn double(v: f64, out: &mut Vec<u8>) {
    control(3, 8, out);
    out.extend_from_slice(&v.to_be_bytes());
}

fn uint(kind: u8, v: u64, bytes: usize, out: &mut Vec<u8>) {
    control(kind, bytes, out);
    out.extend_from_slice(&v.to_be_bytes()[8 - bytes..]);
}

fn place(e: &GeoEntry, out: &mut Vec<u8>) {
    control(7, 2, out);
    string("country", out);
    control(7, 1, out);
    string("iso_code", out);
    string(e.country, out);
    string("location", out);
    control(7, 2, out);
    string("latitude", out);
    double(e.latitude, out);
    string("longitude", out);
    double(e.longitude, out);
}

pub fn write_mmdb(path: &Path, entries: &[GeoEntry]) {
    let mut data = Vec::new();
    let mut nodes: Vec<[Record; 2]> = vec![[Record::Empty; 2]];
    for e in entries {
        let offset = data.len();
        place(e, &mut data);
        let net: ipnet::Ipv4Net = e.network.parse().unwrap();
        let bits = u32::from(net.network());
        let mut node = 0;
        for depth in 0..net.prefix_len() {
            let bit = ((bits >> (31 - depth)) & 1) as usize;
            if depth + 1 == net.prefix_len() {
                nodes[node][bit] = Record::Data(offset);
            } else {
                node = match nodes[node][bit] {
                    Record::Node(next) => next,
                    _ => {
                        nodes.push([Record::Empty; 2]);
                        let next = nodes.len() - 1;
                        nodes[node][bit] = Record::Node(next);
                        next
                    }
                };
            }
        }
    }
    let count = nodes.len();
    let mut file = Vec::new();
    for pair in &nodes {
        for r in pair {
            let value = match *r {
                Record::Empty => count,
                Record::Node(i) => i,
                Record::Data(offset) => count + 16 + offset,
            };
            file.extend_from_slice(&(value as u32).to_be_bytes()[1..]);
        }
    }
    file.extend_from_slice(&[0; 16]);
    file.extend_from_slice(&data);
    file.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    let meta = &mut file;
    control(7, 9, meta);
    string("binary_format_major_version", meta);
    uint(5, 2, 2, meta);
    string("binary_format_minor_version", meta);
    uint(5, 0, 2, meta);
    string("build_epoch", meta);
    uint(9, 1_700_000_000, 8, meta);
    string("database_type", meta);
    string("Deadbolt-Test-City", meta);
    string("description", meta);
    control(7, 1, meta);
    string("en", meta);
    string("networks for Deadbolt's tests", meta);
    string("ip_version", meta);
    uint(5, 4, 2, meta);
    string("languages", meta);
    control(11, 1, meta);
    string("en", meta);
    string("node_count", meta);
    uint(6, count as u64, 4, meta);
    string("record_size", meta);
    uint(5, 24, 2, meta);
    std::fs::write(path, file).unwrap();
}

/// Paris, New York and Berlin, each a documentation network.
pub fn three_cities(path: &Path) {
    write_mmdb(
        path,
        &[
            GeoEntry {
                network: "198.51.100.0/24",
                country: "FR",
                latitude: 48.8566,
                longitude: 2.3522,
            },
            GeoEntry {
                network: "203.0.113.0/24",
                country: "US",
                latitude: 40.7128,
                longitude: -74.006,
            },
            GeoEntry {
                network: "192.0.2.0/24",
                country: "DE",
                latitude: 52.52,
                longitude: 13.405,
            },
        ],
    );
}
