//! A listed party as screening sees it, whatever list it came from.

/// What a listed party is. OFAC's `SDN_Type` is `individual`, `vessel`, `aircraft` or
/// null (an entity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Person,
    Organization,
    Vessel,
    Aircraft,
}

/// One name of an entry: its primary name or an alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListName {
    pub name: String,
    /// OFAC's `aka`/`fka`/`nka` aliases are `alias: true`; the `SDN_Name` is not.
    pub alias: bool,
}

/// A listed party: its names, and the qualifiers that raise or lower a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Within its list (for OFAC, the SDN entity number `ent_num`).
    pub id: String,
    pub kind: EntryKind,
    pub names: Vec<ListName>,
    /// Sanctions programs (OFAC: `SDGT`, `CUBA`, …).
    pub programs: Vec<String>,
    /// Countries of its addresses and nationalities, as written in the list.
    pub countries: Vec<String>,
    /// Years of birth the list gives (persons).
    pub birth_years: Vec<u16>,
    /// Digital-currency addresses by ticker (`XBT`, `ETH`, …), as listed.
    pub addresses: Vec<(String, String)>,
}
