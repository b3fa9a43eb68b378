//! Wire types of Once's HTTP APIs, shared by the server and the client.
//!
//! `v1` mirrors Onetime Secret's API v1 field for field (names, JSON types, which fields appear
//! in which state), so OTS clients work unchanged. `v2` is Once's own API.

pub mod v1;
pub mod v2;
