//! The goAML rendering: element names and order as goAML 5's `report` has them
//! (`schema/goaml-str.xsd`). quick-xml escapes; this file only removes what XML 1.0 cannot
//! carry at all (control characters) and cuts text to goAML's lengths.

use std::io;

use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;

use crate::{decimal_btc, decimal_cents, Direction, Report, Transaction, MAX_TEXT_CHARS};

type W = Writer<Vec<u8>>;

/// Longest `account` goAML takes; a node key (66 hex digits) is cut to its first 40 after
/// `LN-` there and given whole in `account_name`.
const MAX_ACCOUNT_CHARS: usize = 50;
const NODE_PREFIX_CHARS: usize = 40;
/// Longest name-like field (`institution_name`, `account_name`, `entity_reference`).
const MAX_NAME_CHARS: usize = 255;
const CUT_MARK: &str = " … (cut; the JSON report has the full text)";

pub(crate) fn render(report: &Report) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    write_report(&mut writer, report).expect("writing to memory does not fail");
    String::from_utf8(writer.into_inner()).expect("quick-xml writes the UTF-8 it is given")
}

/// XML 1.0 allows tab, newline and carriage return among the control characters, and no
/// other; `cut` keeps at most `max` characters.
fn clean(text: &str, max: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_control() && !matches!(c, '\t' | '\n' | '\r')
                || matches!(c, '\u{FFFE}' | '\u{FFFF}')
            {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect();
    if cleaned.chars().count() <= max {
        return cleaned;
    }
    let mark_chars = CUT_MARK.chars().count();
    if max <= mark_chars {
        return cleaned.chars().take(max).collect();
    }
    let mut cut: String = cleaned.chars().take(max - mark_chars).collect();
    cut.push_str(CUT_MARK);
    cut
}

fn text(w: &mut W, name: &str, value: &str, max: usize) -> io::Result<()> {
    w.create_element(name)
        .write_text_content(BytesText::new(&clean(value, max)))?;
    Ok(())
}

fn write_report(w: &mut W, r: &Report) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.create_element("report").write_inner_content(|w| {
        text(w, "rentity_id", &r.rentity_id.to_string(), 20)?;
        text(w, "submission_code", "E", 1)?;
        text(w, "report_code", r.report_code.as_str(), 10)?;
        text(w, "entity_reference", &r.entity_reference, MAX_NAME_CHARS)?;
        if let Some(fiu_ref) = &r.fiu_ref_number {
            text(w, "fiu_ref_number", fiu_ref, MAX_NAME_CHARS)?;
        }
        text(w, "submission_date", &r.submission_date, 19)?;
        text(w, "currency_code_local", &r.currency_code_local, 3)?;
        text(w, "reason", &r.narrative, MAX_TEXT_CHARS)?;
        text(w, "action", &r.action, MAX_TEXT_CHARS)?;
        for t in &r.transactions {
            write_transaction(w, r, t)?;
        }
        w.create_element("report_indicators")
            .write_inner_content(|w| {
                for indicator in &r.indicators {
                    text(w, "indicator", indicator, MAX_NAME_CHARS)?;
                }
                Ok(())
            })?;
        Ok(())
    })?;
    Ok(())
}

fn write_transaction(w: &mut W, r: &Report, t: &Transaction) -> io::Result<()> {
    w.create_element("transaction").write_inner_content(|w| {
        text(w, "transactionnumber", &t.number, MAX_ACCOUNT_CHARS)?;
        text(
            w,
            "transaction_location",
            "Lightning Network",
            MAX_NAME_CHARS,
        )?;
        let description = format!("payment hash {}; {}", t.payment_hash, t.description);
        text(w, "transaction_description", &description, MAX_TEXT_CHARS)?;
        text(w, "date_transaction", &t.date, 19)?;
        text(w, "transmode_code", &r.codes.transmode_code, 20)?;
        text(w, "amount_local", &decimal_cents(t.amount_eur_cents), 30)?;
        match t.direction {
            Direction::Out => {
                side(w, r, t, Side::FromMyClient)?;
                side(w, r, t, Side::ToCounterparty)?;
            }
            Direction::In => {
                side(w, r, t, Side::FromCounterparty)?;
                side(w, r, t, Side::ToMyClient)?;
            }
        }
        Ok(())
    })?;
    Ok(())
}

#[derive(Clone, Copy)]
enum Side {
    FromMyClient,
    ToCounterparty,
    FromCounterparty,
    ToMyClient,
}

impl Side {
    fn element(self) -> &'static str {
        match self {
            Side::FromMyClient => "t_from_my_client",
            Side::ToCounterparty => "t_to",
            Side::FromCounterparty => "t_from",
            Side::ToMyClient => "t_to_my_client",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Side::FromMyClient | Side::FromCounterparty => "from",
            Side::ToCounterparty | Side::ToMyClient => "to",
        }
    }

    fn is_my_client(self) -> bool {
        matches!(self, Side::FromMyClient | Side::ToMyClient)
    }
}

/// One side of a transaction: our client's account, or the Lightning node across.
fn side(w: &mut W, r: &Report, t: &Transaction, side: Side) -> io::Result<()> {
    let p = side.prefix();
    w.create_element(side.element()).write_inner_content(|w| {
        text(w, &format!("{p}_funds_code"), &r.codes.funds_code, 20)?;
        w.create_element(format!("{p}_foreign_currency"))
            .write_inner_content(|w| {
                text(
                    w,
                    "foreign_currency_code",
                    &r.codes.bitcoin_currency_code,
                    3,
                )?;
                text(w, "foreign_amount", &decimal_btc(t.amount_msat), 30)?;
                text(
                    w,
                    "foreign_exchange_rate",
                    &decimal_cents(t.eur_cents_per_btc),
                    30,
                )?;
                Ok(())
            })?;
        w.create_element(format!("{p}_account"))
            .write_inner_content(|w| {
                if side.is_my_client() {
                    text(
                        w,
                        "institution_name",
                        &r.codes.institution_name,
                        MAX_NAME_CHARS,
                    )?;
                    text(w, "account", &t.account_id, MAX_ACCOUNT_CHARS)?;
                    text(w, "account_name", &r.subject.name, MAX_NAME_CHARS)?;
                    if let Some(customer) = &r.subject.customer_id {
                        text(w, "client_number", customer, MAX_ACCOUNT_CHARS)?;
                    }
                    text(w, "personal_account_type", &r.codes.account_type_code, 20)?;
                    text(w, "status_code", &r.codes.account_status_code, 20)?;
                } else {
                    text(w, "institution_name", "Lightning Network", MAX_NAME_CHARS)?;
                    text(w, "non_bank_institution", "true", 5)?;
                    let node = t.counterparty_node.as_deref().unwrap_or("unknown");
                    let account: String = node.chars().take(NODE_PREFIX_CHARS).collect();
                    text(w, "account", &format!("LN-{account}"), MAX_ACCOUNT_CHARS)?;
                    text(
                        w,
                        "account_name",
                        &format!("Lightning node {node}"),
                        MAX_NAME_CHARS,
                    )?;
                }
                Ok(())
            })?;
        let country = if side.is_my_client() {
            &r.subject.country
        } else {
            &r.codes.unknown_country
        };
        text(w, &format!("{p}_country"), country, 2)?;
        Ok(())
    })?;
    Ok(())
}
