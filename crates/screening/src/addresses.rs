//! Sanctioned Bitcoin addresses: exact identifiers, each checked to be an address of the
//! network it is screened on. A list line that is not one (the OFAC-derived XBT list has
//! a Tron address labelled XBT) is refused with its line and reason and reported, not
//! kept; a file that is not text, or holds no address, is refused whole.

use std::str::FromStr;

use bitcoin::{Address, Network};

use crate::ListError;

/// One line refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedAddress {
    pub line: u64,
    pub address: String,
    pub reason: String,
}

/// The addresses accepted, in their canonical form (bech32 in lower case), and the lines
/// refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressList {
    pub addresses: Vec<String>,
    pub refused: Vec<RefusedAddress>,
}

/// The canonical form of `address` on `network`, or why it is not an address there.
pub fn bitcoin_address(address: &str, network: Network) -> Result<String, String> {
    let parsed =
        Address::from_str(address.trim()).map_err(|e| format!("not a Bitcoin address ({e})"))?;
    parsed
        .require_network(network)
        .map(|a| a.to_string())
        .map_err(|_| format!("not an address of the {network} network"))
}

/// One address per line (blank lines and `#` comments skipped).
pub fn parse_bitcoin_addresses(bytes: &[u8], network: Network) -> Result<AddressList, ListError> {
    const FILE: &str = "address list";
    let text = std::str::from_utf8(bytes).map_err(|e| ListError::Malformed {
        file: FILE,
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64,
        reason: "not UTF-8".into(),
    })?;
    let mut list = AddressList {
        addresses: Vec::new(),
        refused: Vec::new(),
    };
    for (at, line) in text.lines().enumerate() {
        let address = line.trim();
        if address.is_empty() || address.starts_with('#') {
            continue;
        }
        match bitcoin_address(address, network) {
            Ok(canonical) if !list.addresses.contains(&canonical) => list.addresses.push(canonical),
            Ok(_) => {}
            Err(reason) => list.refused.push(RefusedAddress {
                line: at as u64 + 1,
                address: address.to_string(),
                reason,
            }),
        }
    }
    if list.addresses.is_empty() {
        return Err(ListError::Empty(FILE));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_per_network() {
        let list = "# sanctioned\n12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h\n\nBC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ\nTUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq\n12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h\n";
        let parsed = parse_bitcoin_addresses(list.as_bytes(), Network::Bitcoin).expect("parses");
        assert_eq!(
            parsed.addresses,
            [
                "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h",
                "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
            ]
        );
        assert_eq!(parsed.refused.len(), 1);
        assert_eq!(parsed.refused[0].line, 5);
        assert!(
            parsed.refused[0]
                .reason
                .starts_with("not a Bitcoin address"),
            "{:?}",
            parsed.refused
        );
        // A mainnet address is not a regtest one.
        let regtest =
            parse_bitcoin_addresses(b"12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h\n", Network::Regtest);
        assert_eq!(regtest, Err(ListError::Empty("address list")));
        assert!(matches!(
            parse_bitcoin_addresses(b"1A\n\xff\n", Network::Bitcoin),
            Err(ListError::Malformed { line: 2, .. })
        ));
    }
}
