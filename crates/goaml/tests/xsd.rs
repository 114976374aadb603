//! Every rendering is checked by an outside validator (python's `xmlschema`, which
//! `.ci/run` installs) against `schema/goaml-str.xsd`; without it these tests fail rather
//! than skip.

use goaml::validate_with_xmlschema as validate;
use goaml::{Codes, Direction, Report, ReportCode, Subject, Transaction};

const NODE: &str = "02eec7245d6b7d2ccb30380bfbe2a3648cd7a942653f5aa340edcea1f283686619";

fn codes() -> Codes {
    Codes {
        institution_name: "Fulgur Payments".into(),
        ..Codes::default()
    }
}

fn transaction(direction: Direction, number: &str) -> Transaction {
    Transaction {
        number: number.into(),
        date: "2026-12-05T10:15:00".into(),
        direction,
        amount_msat: 90_000_000_001,
        amount_eur_cents: 450_000,
        eur_cents_per_btc: 500_000_000_000,
        account_id: "acc_0001".into(),
        counterparty_node: Some(NODE.into()),
        payment_hash: "ab".repeat(32),
        description: "structuring: third payment under 5,000 EUR in 24 h".into(),
    }
}

fn report() -> Report {
    Report {
        entity_reference: "sar_0001".into(),
        rentity_id: 4711,
        report_code: ReportCode::Str,
        fiu_ref_number: None,
        submission_date: "2026-12-05T12:00:00".into(),
        currency_code_local: "EUR".into(),
        subject: Subject {
            customer_id: Some("cus_0001".into()),
            name: "Acme Treasury GmbH".into(),
            kind: "organization".into(),
            country: "DE".into(),
            tenant_id: "ten_0001".into(),
        },
        narrative: "Three payments just under the threshold.".into(),
        action: "Payments held; customer under enhanced monitoring.".into(),
        transactions: vec![
            transaction(Direction::Out, "pay_0001"),
            transaction(Direction::In, "inv_0001"),
        ],
        indicators: vec!["structuring".into(), "large_payment".into()],
        codes: codes(),
    }
}

#[test]
fn a_report_in_and_out_is_valid_goaml() {
    let xml = report().to_goaml_xml();
    validate(&xml).unwrap_or_else(|e| panic!("invalid goAML: {e}\n{xml}"));
    assert!(xml.contains("<t_from_my_client>") && xml.contains("<t_to_my_client>"));
    assert!(xml.contains("<foreign_amount>0.90000000001</foreign_amount>"));
    assert!(xml.contains("<amount_local>4500.00</amount_local>"));
    assert!(xml.contains(&format!("Lightning node {NODE}")));
}

#[test]
fn hostile_text_is_escaped_cleaned_and_cut_to_goaml_lengths() {
    let mut r = report();
    r.narrative = format!("<script>&\"'\u{0}\u{7}\u{1b}]]>{}", "ж".repeat(5_000));
    r.subject.name = format!("</account_name><evil/>{}", "x".repeat(400));
    r.action = "\u{FFFF}".into();
    r.fiu_ref_number = Some("FIU-2026-0042".into());
    r.transactions[0].description = "a\u{8}b".into();
    let xml = r.to_goaml_xml();
    validate(&xml).unwrap_or_else(|e| panic!("invalid goAML: {e}"));
    assert!(!xml.contains("<evil/>") && !xml.contains("<script>"));
    assert!(xml.contains("the JSON report has the full text"));
}

#[test]
fn the_validator_refuses_what_the_schema_refuses() {
    // The check can fail: a report without its indicators is not goAML.
    let xml = report().to_goaml_xml();
    let start = xml.find("<report_indicators>").expect("indicators");
    let end = xml.find("</report_indicators>").expect("end") + "</report_indicators>".len();
    let broken = format!("{}{}", &xml[..start], &xml[end..]);
    assert!(validate(&broken).is_err());
}

#[test]
fn the_json_export_is_the_same_model() {
    let json = serde_json::to_value(report()).expect("json");
    assert_eq!(json["report_code"], "STR");
    assert_eq!(json["transactions"][1]["direction"], "in");
    assert_eq!(json["transactions"][0]["amount_msat"], 90_000_000_001u64);
}
