//! The OpenAPI document as a contract a client (or a fuzzer) can rely on: every path
//! parameter declared and described, every guarded operation documenting the guard's
//! refusals (401, 403, 429, 503), lookups their 404, bodies their 400/415/422, problems as
//! `application/problem+json`, and the probes and the document itself open to anyone.

use serde_json::Value;
use utoipa::OpenApi;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    serde_json::to_value(api::ApiDoc::openapi()).expect("the document serialises")
}

/// (method, path, operation, the path item's own parameters).
fn operations(doc: &Value) -> Vec<(String, String, Value, Vec<Value>)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = Vec::new();
    for (path, item) in paths {
        let shared = item["parameters"].as_array().cloned().unwrap_or_default();
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_string(), path.clone(), op.clone(), shared.clone()));
            }
        }
    }
    out
}

fn template_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

/// Open to anyone: the operation's own security has an empty requirement.
fn anonymous_allowed(op: &Value) -> bool {
    op["security"].as_array().is_some_and(|reqs| {
        reqs.iter()
            .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
    })
}

fn guarded(doc: &Value, op: &Value) -> bool {
    let effective = op.get("security").unwrap_or(&doc["security"]);
    effective.as_array().is_some_and(|reqs| {
        !reqs.is_empty()
            && reqs
                .iter()
                .all(|r| r.as_object().is_some_and(|o| !o.is_empty()))
    })
}

fn documents(op: &Value, status: &str) -> bool {
    op["responses"].get(status).is_some()
}

/// The response for `status` carries a problem body as `application/problem+json`.
fn problem_response(op: &Value, status: &str) -> bool {
    let content = &op["responses"][status]["content"];
    content["application/problem+json"]["schema"]["$ref"] == "#/components/schemas/Problem"
}

#[test]
fn every_path_parameter_is_declared_and_described() {
    let doc = document();
    let mut missing = Vec::new();
    for (method, path, op, shared) in operations(&doc) {
        let own = op["parameters"].as_array().cloned().unwrap_or_default();
        let declared: Vec<&Value> = own
            .iter()
            .chain(shared.iter())
            .filter(|p| p["in"] == "path")
            .collect();
        for name in template_params(&path) {
            match declared.iter().find(|p| p["name"] == name.as_str()) {
                None => missing.push(format!("{method} {path}: {{{name}}} undeclared")),
                Some(p) if p["required"] != true => {
                    missing.push(format!("{method} {path}: {{{name}}} not required"))
                }
                Some(p) if p["description"].as_str().is_none_or(str::is_empty) => {
                    missing.push(format!("{method} {path}: {{{name}}} has no description"))
                }
                Some(_) => {}
            }
        }
        for p in &declared {
            let name = p["name"].as_str().unwrap_or("");
            if !template_params(&path).iter().any(|t| t == name) {
                missing.push(format!("{method} {path}: declares {name} not in the path"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "path parameters:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_guarded_operation_documents_the_guards_refusals_and_its_own() {
    let doc = document();
    let mut missing = Vec::new();
    let mut guarded_ops = 0;
    for (method, path, op, _) in operations(&doc) {
        let name = format!("{method} {path}");
        if !guarded(&doc, &op) {
            continue;
        }
        guarded_ops += 1;
        for status in ["401", "403", "429", "503"] {
            if !problem_response(&op, status) {
                missing.push(format!("{name}: {status} as a problem"));
            }
        }
        if !template_params(&path).is_empty() && !documents(&op, "404") {
            missing.push(format!("{name}: 404 (an id is looked up)"));
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415", "422"] {
                if !problem_response(&op, status) {
                    missing.push(format!("{name}: {status} (a body is parsed)"));
                }
            }
        }
        let has_query = op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
        if has_query && !problem_response(&op, "400") {
            missing.push(format!("{name}: 400 (a query is parsed)"));
        }
        // Every error this operation documents is a problem.
        for (status, _) in op["responses"].as_object().expect("responses") {
            let error = status.starts_with('4') || status.starts_with('5');
            if error && !problem_response(&op, status) {
                missing.push(format!("{name}: {status} is not application/problem+json"));
            }
        }
    }
    assert!(guarded_ops >= 40, "{guarded_ops} guarded operations");
    assert!(missing.is_empty(), "undocumented:\n{}", missing.join("\n"));
}

#[test]
fn the_probes_and_the_document_need_no_credential() {
    let doc = document();
    for path in ["/healthz", "/readyz", "/v1/openapi.json"] {
        let op = &doc["paths"][path]["get"];
        assert!(op.is_object(), "{path} documented");
        assert!(
            anonymous_allowed(op),
            "{path} open to anyone: {}",
            op["security"]
        );
        assert!(!guarded(&doc, op), "{path}");
    }
    // Only `/readyz` also takes a credential (for the per-component detail).
    assert_eq!(
        doc["paths"]["/healthz"]["get"]["security"],
        serde_json::json!([{}])
    );
    assert_eq!(
        doc["paths"]["/v1/openapi.json"]["get"]["security"],
        serde_json::json!([{}])
    );
    // Every other operation is guarded: nothing else is open by omission.
    for (method, path, op, _) in operations(&doc) {
        if !["/healthz", "/readyz", "/v1/openapi.json"].contains(&path.as_str()) {
            assert!(guarded(&doc, &op), "{method} {path} needs a credential");
        }
    }
}

/// The v1 contract is committed for integrators (`docs/openapi-v1.json`). A change to a
/// wire type — in the API, or in a domain view it serves (`InvoiceView`, `PaymentView`,
/// `Recovery`, which are also the webhooks' event data) — changes the served document and
/// fails here until the file is regenerated on purpose: run this test with
/// `FULGUR_UPDATE_OPENAPI=1` and review the diff.
#[test]
fn the_committed_contract_is_the_served_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi-v1.json");
    let served = document();
    if std::env::var_os("FULGUR_UPDATE_OPENAPI").is_some() {
        let text = serde_json::to_string_pretty(&served).expect("pretty") + "\n";
        std::fs::write(&path, text).expect("write the contract");
    }
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).expect("docs/openapi-v1.json is committed"),
    )
    .expect("the committed contract is JSON");
    if committed != served {
        let (c, s) = (
            &committed["components"]["schemas"],
            &served["components"]["schemas"],
        );
        let changed: Vec<&String> = s
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(name, schema)| c.get(name.as_str()) != Some(schema))
            .map(|(name, _)| name)
            .collect();
        panic!(
            "the API v1 contract changed (schemas changed or added: {changed:?}; paths may \
             have too): if on purpose, regenerate docs/openapi-v1.json with \
             FULGUR_UPDATE_OPENAPI=1 and say so in the change"
        );
    }
}
