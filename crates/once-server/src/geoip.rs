//! Country lookups for secrets' access policies, from a local MaxMind-format database
//! (`access.geoip_db` / `once serve --geoip-db`). Nothing is fetched: the admin keeps the file
//! up to date (MaxMind's `geoipupdate`, or DB-IP's monthly lite download).

use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use maxminddb::{PathElement, Reader};

/// A country database held in memory (a country database is a few MiB).
pub struct MaxMind {
    reader: Reader<Vec<u8>>,
}

impl MaxMind {
    /// Opens and checks the database: it must answer with `country.iso_code` records.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let reader = Reader::open_readfile(path)
            .with_context(|| format!("cannot read the GeoIP database {}", path.display()))?;
        let kind = &reader.metadata().database_type;
        tracing::info!(path = %path.display(), database_type = %kind, "GeoIP database loaded");
        Ok(MaxMind { reader })
    }
}

impl once_core::GeoIp for MaxMind {
    fn country(&self, ip: IpAddr) -> Option<String> {
        let result = self.reader.lookup(ip.to_canonical()).ok()?;
        let code: Option<String> =
            result.decode_path(&[PathElement::Key("country"), PathElement::Key("iso_code")]).ok()?;
        code.filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
            .map(|c| c.to_ascii_uppercase())
    }
}
