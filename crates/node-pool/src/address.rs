//! On-chain addresses as the rest of Fulgur receives them: text, checked for the network.

use std::str::FromStr;

use ldk_node::bitcoin::{Address, Network};

use crate::error::NodeError;

/// The longest address accepted (a bech32m address of any witness version fits).
const MAX_ADDRESS_LEN: usize = 90;

/// Parses `text` as an address on `network`.
pub fn parse_address(text: &str, network: Network) -> Result<Address, NodeError> {
    if text.len() > MAX_ADDRESS_LEN {
        return Err(NodeError::InvalidAddress(format!(
            "longer than {MAX_ADDRESS_LEN} characters"
        )));
    }
    Address::from_str(text)
        .map_err(|e| NodeError::InvalidAddress(e.to_string()))?
        .require_network(network)
        .map_err(|e| NodeError::InvalidAddress(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_syntax_and_network() {
        let regtest = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
        assert!(parse_address(regtest, Network::Regtest).is_ok());
        assert!(matches!(
            parse_address(regtest, Network::Bitcoin),
            Err(NodeError::InvalidAddress(_))
        ));
        assert!(parse_address("not an address", Network::Regtest).is_err());
        assert!(parse_address(&"b".repeat(91), Network::Regtest).is_err());
    }
}
