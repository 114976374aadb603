//! A devnet-only key that collects block rewards and pays them out, so tests and the demo
//! can fund addresses with exact amounts. Its key is fixed and public: regtest only.

use bitcoin::key::{CompressedPublicKey, Secp256k1};
use bitcoin::secp256k1::{All, Message, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::transaction::Version;
use bitcoin::{
    absolute::LockTime, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};

use crate::validation::Coin;

/// Fee the faucet pays per transaction; generous so it never needs estimation.
const FEE_SAT: u64 = 10_000;

pub struct Faucet {
    secp: Secp256k1<All>,
    key: SecretKey,
    script: ScriptBuf,
}

impl Faucet {
    pub(crate) fn new() -> Self {
        let secp = Secp256k1::new();
        let key = SecretKey::from_slice(&[0xfa; 32]).expect("valid constant key");
        let pubkey = CompressedPublicKey(key.public_key(&secp));
        let script = ScriptBuf::new_p2wpkh(&pubkey.wpubkey_hash());
        Self { secp, key, script }
    }

    pub fn script_pubkey(&self) -> &ScriptBuf {
        &self.script
    }

    /// Builds and signs a payment to `outputs` from `coins`, with change back to the faucet.
    /// Returns `None` if the coins do not cover outputs plus fee.
    pub(crate) fn pay(
        &self,
        coins: &[(OutPoint, Coin)],
        outputs: &[(ScriptBuf, u64)],
    ) -> Option<Transaction> {
        let wanted_sat: u64 = outputs.iter().map(|(_, sat)| sat).sum::<u64>() + FEE_SAT;
        let mut selected = Vec::new();
        let mut selected_sat = 0;
        for (outpoint, coin) in coins {
            if selected_sat >= wanted_sat {
                break;
            }
            selected_sat += coin.output.value.to_sat();
            selected.push((*outpoint, coin.output.value));
        }
        if selected_sat < wanted_sat {
            return None;
        }
        let mut tx_outputs: Vec<TxOut> = outputs
            .iter()
            .map(|(script, sat)| TxOut {
                value: Amount::from_sat(*sat),
                script_pubkey: script.clone(),
            })
            .collect();
        let change_sat = selected_sat - wanted_sat;
        if change_sat > 0 {
            tx_outputs.push(TxOut {
                value: Amount::from_sat(change_sat),
                script_pubkey: self.script.clone(),
            });
        }
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: selected
                .iter()
                .map(|(outpoint, _)| TxIn {
                    previous_output: *outpoint,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output: tx_outputs,
        };
        self.sign(
            &mut tx,
            &selected.iter().map(|(_, value)| *value).collect::<Vec<_>>(),
        );
        Some(tx)
    }

    /// Signs every input of `tx`, each spending a faucet output of the given value.
    pub fn sign(&self, tx: &mut Transaction, input_values: &[Amount]) {
        let pubkey = self.key.public_key(&self.secp);
        let mut cache = SighashCache::new(tx.clone());
        let witnesses: Vec<Witness> = input_values
            .iter()
            .enumerate()
            .map(|(index, value)| {
                let sighash = cache
                    .p2wpkh_signature_hash(index, &self.script, *value, EcdsaSighashType::All)
                    .expect("input index in range");
                let signature = self.secp.sign_ecdsa(&Message::from(sighash), &self.key);
                Witness::p2wpkh(&bitcoin::ecdsa::Signature::sighash_all(signature), &pubkey)
            })
            .collect();
        for (input, witness) in tx.input.iter_mut().zip(witnesses) {
            input.witness = witness;
        }
    }
}
