//! Reproduces every signing vector recorded from Alibaba's oss2 SDK (and the go2 SDK's
//! published signer tests) in `tests/data/vectors.json`: V1 and V4 header signing, presigned
//! URLs of both versions, and the go2 cross-checks. Each case asserts the string to sign
//! (or canonical request) first, so a mismatch points at the step that differs.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ossup::protocol::Credentials;
use ossup::protocol::signing::{
    self, RequestTarget, SignatureVersion, encode_query, header_value, uri_encode,
};
use serde_json::Value;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/vectors.json"
));

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("tests/data/vectors.json is valid JSON")
}

fn cases<'v>(all: &'v Value, section: &str) -> &'v [Value] {
    let list = all[section]
        .as_array()
        .unwrap_or_else(|| panic!("section {section} is a list"));
    assert!(!list.is_empty(), "section {section} has cases");
    list
}

fn text<'v>(value: &'v Value, what: &str) -> &'v str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is a string: {value}"))
}

fn at(epoch_seconds: &Value) -> SystemTime {
    let seconds = epoch_seconds.as_u64().expect("epoch_seconds is a number");
    UNIX_EPOCH + Duration::from_secs(seconds)
}

fn credentials(value: &Value) -> Credentials {
    let creds = Credentials::new(
        text(&value["access_key_id"], "access_key_id"),
        text(&value["access_key_secret"], "access_key_secret"),
    );
    match value["security_token"].as_str() {
        Some(token) => creds.with_security_token(token),
        None => creds,
    }
}

fn pairs(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .map(|pair| {
                    (
                        text(&pair[0], "parameter name").to_owned(),
                        text(&pair[1], "parameter value").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn header_map(value: &Value) -> Vec<(String, String)> {
    value
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(name, value)| (name.clone(), text(value, name).to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// An empty key in the vectors means a bucket-level request.
fn optional(value: &Value) -> Option<&str> {
    value.as_str().filter(|s| !s.is_empty())
}

fn names(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .map(|n| text(n, "header name").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn lowercased_sorted(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    out.sort();
    out
}

/// Headers the caller hands to the signer: what oss2 sent, minus what the signer adds.
fn headers_before_signing(sent: &[(String, String)]) -> Vec<(String, String)> {
    sent.iter()
        .filter(|(n, _)| {
            !matches!(
                n.to_ascii_lowercase().as_str(),
                "authorization"
                    | "date"
                    | "x-oss-date"
                    | "x-oss-security-token"
                    | "x-oss-content-sha256"
            )
        })
        .cloned()
        .collect()
}

/// The URL path as oss2 sends it: `/` + key with everything but unreserved characters
/// escaped (`/` too).
fn url_path(key: Option<&str>) -> String {
    format!("/{}", key.map(uri_encode).unwrap_or_default())
}

/// Splits `scheme://host/path?query` into (path, query).
fn path_and_query(url: &str) -> (String, String) {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_and_query = after_scheme
        .find('/')
        .map_or("/", |start| &after_scheme[start..]);
    match path_and_query.split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (path_and_query.to_owned(), String::new()),
    }
}

/// The `Credential=` and `Signature=` fields of a V4 Authorization header, whatever the
/// layout (`,` or `, `, any field order).
fn v4_fields(authorization: &str) -> (String, String, Option<String>) {
    let rest = authorization
        .strip_prefix("OSS4-HMAC-SHA256 ")
        .unwrap_or_else(|| panic!("V4 authorization: {authorization}"));
    let mut credential = None;
    let mut signature = None;
    let mut additional = None;
    for field in rest.split(',').map(str::trim) {
        if let Some(v) = field.strip_prefix("Credential=") {
            credential = Some(v.to_owned());
        } else if let Some(v) = field.strip_prefix("Signature=") {
            signature = Some(v.to_owned());
        } else if let Some(v) = field.strip_prefix("AdditionalHeaders=") {
            additional = Some(v.to_owned());
        }
    }
    (
        credential.expect("Credential field"),
        signature.expect("Signature field"),
        additional,
    )
}

#[test]
fn v1_header_vectors() {
    let all = vectors();
    for case in cases(&all, "v1") {
        let id = text(&case["id"], "id");
        let input = &case["input"];
        let creds = credentials(&input["credentials"]);
        let query = pairs(&input["query_params"]);
        let key = optional(&input["key"]);
        let target = RequestTarget {
            method: text(&input["method"], "method"),
            bucket: optional(&input["bucket"]),
            key,
            query: &query,
        };
        let sent = header_map(&case["request"]["headers_relevant_to_signing"]);
        let mut headers = headers_before_signing(&sent);
        let now = at(&input["epoch_seconds"]);
        signing::sign_headers(&creds, &SignatureVersion::V1, &target, &mut headers, now);

        let expected = &case["expected"];
        let date = header_value(&headers, "date").expect("signer adds Date");
        assert_eq!(date, text(&input["date"], "date"), "{id}: Date");
        let resource = signing::v1_canonical_resource(target.bucket, target.key, &query);
        let string_to_sign = signing::v1_string_to_sign(target.method, &headers, date, &resource);
        assert_eq!(
            string_to_sign,
            text(&expected["string_to_sign"], "string_to_sign"),
            "{id}: string to sign"
        );
        assert_eq!(
            signing::v1_signature(creds.access_key_secret(), &string_to_sign),
            text(&expected["signature"], "signature"),
            "{id}: signature"
        );
        assert_eq!(
            header_value(&headers, "authorization"),
            Some(text(&expected["authorization"], "authorization")),
            "{id}: Authorization"
        );
        // The signer adds exactly what oss2 put on the wire, no more, no less.
        assert_eq!(
            lowercased_sorted(&headers),
            lowercased_sorted(&sent),
            "{id}: headers"
        );
        let (path, _) = path_and_query(text(&case["request"]["url_as_sent"], "url"));
        assert_eq!(url_path(key), path, "{id}: URL path");
    }
}

#[test]
fn v4_header_vectors() {
    let all = vectors();
    for case in cases(&all, "v4") {
        let id = text(&case["id"], "id");
        let input = &case["input"];
        let creds = credentials(&input["credentials"]);
        let query = pairs(&input["query_params"]);
        let key = optional(&input["key"]);
        let region = text(&input["region"], "region");
        let target = RequestTarget {
            method: text(&input["method"], "method"),
            bucket: optional(&input["bucket"]),
            key,
            query: &query,
        };
        let sent = header_map(&case["request"]["headers_relevant_to_signing"]);
        let mut headers = headers_before_signing(&sent);
        let now = at(&input["epoch_seconds"]);
        let version = SignatureVersion::V4 {
            region: region.to_owned(),
        };
        signing::sign_headers(&creds, &version, &target, &mut headers, now);

        let expected = &case["expected"];
        let timestamp = header_value(&headers, "x-oss-date").expect("signer adds x-oss-date");
        assert_eq!(timestamp, text(&input["x_oss_date"], "x_oss_date"), "{id}");
        let canonical_request = signing::v4_canonical_request(&target, &headers, &[]);
        assert_eq!(
            canonical_request,
            text(&expected["canonical_request"], "canonical_request"),
            "{id}: canonical request"
        );
        assert_eq!(
            signing::sha256_hex(canonical_request.as_bytes()),
            text(&expected["canonical_request_sha256"], "sha256"),
            "{id}: canonical request hash"
        );
        let date = signing::v4_date(now);
        let scope = signing::v4_scope(&date, region);
        let string_to_sign = signing::v4_string_to_sign(timestamp, &scope, &canonical_request);
        assert_eq!(
            string_to_sign,
            text(&expected["string_to_sign"], "string_to_sign"),
            "{id}: string to sign"
        );
        let signing_key = signing::v4_signing_key(creds.access_key_secret(), &date, region);
        assert_eq!(
            hex::encode(signing_key),
            text(&expected["signing_key_hex"], "signing_key_hex"),
            "{id}: signing key"
        );
        let signature = signing::v4_signature(&signing_key, &string_to_sign);
        assert_eq!(
            signature,
            text(&expected["signature"], "signature"),
            "{id}: signature"
        );

        let ours = header_value(&headers, "authorization").expect("signer adds Authorization");
        let oss2 = text(&expected["authorization"], "authorization");
        assert_eq!(
            v4_fields(ours),
            v4_fields(oss2),
            "{id}: Authorization fields"
        );
        assert_eq!(
            ours,
            format!(
                "OSS4-HMAC-SHA256 Credential={}/{scope},Signature={signature}",
                creds.access_key_id()
            ),
            "{id}: Authorization layout"
        );
        // Same headers as oss2 sent; only the Authorization layout differs.
        let without_authorization = |list: &[(String, String)]| {
            let mut list = lowercased_sorted(list);
            list.retain(|(n, _)| n != "authorization");
            list
        };
        assert_eq!(
            without_authorization(&headers),
            without_authorization(&sent),
            "{id}: headers"
        );
        let (path, _) = path_and_query(text(&case["request"]["url_as_sent"], "url"));
        assert_eq!(url_path(key), path, "{id}: URL path");
    }
}

/// Checks one presigned-URL case (from `presign` or a go2 query cross-check).
struct PresignCase<'v> {
    id: &'v str,
    input: &'v Value,
    additional_headers: Vec<String>,
    string_to_sign: &'v str,
    canonical_request: Option<&'v str>,
    signing_key_hex: Option<&'v str>,
    signature: &'v str,
    url: &'v str,
    params_after_signing: Option<Vec<(String, String)>>,
}

fn check_presign(case: PresignCase<'_>) {
    let PresignCase { id, input, .. } = case;
    let creds = credentials(&input["credentials"]);
    let query = pairs(&input["query_params"]);
    let key = optional(&input["key"]);
    let target = RequestTarget {
        method: text(&input["method"], "method"),
        bucket: optional(&input["bucket"]),
        key,
        query: &query,
    };
    let headers = header_map(&input["headers"]);
    let now = at(&input["epoch_seconds"]);
    let expires_in = input["expires_param_passed_to_sign_url"]
        .as_u64()
        .expect("expires is a number");
    let region = input["region"].as_str();
    let version = match region {
        Some(region) => SignatureVersion::V4 {
            region: region.to_owned(),
        },
        None => SignatureVersion::V1,
    };
    let additional: Vec<&str> = case.additional_headers.iter().map(String::as_str).collect();
    let added = signing::presign_query_with_additional(
        &creds,
        &version,
        &target,
        &headers,
        now,
        expires_in,
        &additional,
    );
    let all_params: Vec<(String, String)> = query.iter().chain(&added).cloned().collect();
    let value_of = |name: &str| {
        added
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{id}: presigned query has {name}"))
    };

    match region {
        None => {
            let expires = value_of("Expires");
            let resource = signing::v1_canonical_resource(target.bucket, target.key, &all_params);
            let string_to_sign =
                signing::v1_string_to_sign(target.method, &headers, &expires, &resource);
            assert_eq!(string_to_sign, case.string_to_sign, "{id}: string to sign");
            assert_eq!(
                signing::v1_signature(creds.access_key_secret(), &string_to_sign),
                case.signature,
                "{id}: signature"
            );
            assert_eq!(value_of("Signature"), case.signature, "{id}: Signature");
        }
        Some(region) => {
            let normalised = signing::v4_additional_headers(&case.additional_headers);
            let signed_params: Vec<(String, String)> = all_params
                .iter()
                .filter(|(n, _)| n != "x-oss-signature")
                .cloned()
                .collect();
            let signed_target = RequestTarget {
                query: &signed_params,
                ..target
            };
            let canonical_request =
                signing::v4_canonical_request(&signed_target, &headers, &normalised);
            if let Some(expected) = case.canonical_request {
                assert_eq!(canonical_request, expected, "{id}: canonical request");
            }
            let timestamp = value_of("x-oss-date");
            let date = signing::v4_date(now);
            let scope = signing::v4_scope(&date, region);
            assert_eq!(
                value_of("x-oss-credential"),
                format!("{}/{scope}", creds.access_key_id()),
                "{id}: credential"
            );
            let string_to_sign = signing::v4_string_to_sign(&timestamp, &scope, &canonical_request);
            assert_eq!(string_to_sign, case.string_to_sign, "{id}: string to sign");
            let signing_key = signing::v4_signing_key(creds.access_key_secret(), &date, region);
            if let Some(expected) = case.signing_key_hex {
                assert_eq!(hex::encode(signing_key), expected, "{id}: signing key");
            }
            assert_eq!(
                signing::v4_signature(&signing_key, &string_to_sign),
                case.signature,
                "{id}: signature"
            );
            assert_eq!(value_of("x-oss-signature"), case.signature, "{id}");
        }
    }

    if let Some(expected) = case.params_after_signing {
        assert_eq!(all_params, expected, "{id}: query parameters after signing");
    }
    let (path, url_query) = path_and_query(case.url);
    assert_eq!(url_path(key), path, "{id}: URL path");
    assert_eq!(encode_query(&all_params), url_query, "{id}: URL query");
}

#[test]
fn presign_vectors() {
    let all = vectors();
    for case in cases(&all, "presign") {
        let expected = &case["expected"];
        check_presign(PresignCase {
            id: text(&case["id"], "id"),
            input: &case["input"],
            additional_headers: Vec::new(),
            string_to_sign: text(&expected["string_to_sign"], "string_to_sign"),
            canonical_request: expected["canonical_request"].as_str(),
            signing_key_hex: expected["signing_key_hex"].as_str(),
            signature: text(&expected["signature"], "signature"),
            url: text(&expected["url"], "url"),
            params_after_signing: Some(pairs(&expected["query_params_after_signing"])),
        });
    }
}

#[test]
fn go_sdk_v2_cross_checks() {
    let all = vectors();
    let mut checked = 0;
    for case in cases(&all, "cross_checks_vs_go_sdk_v2") {
        let id = text(&case["id"], "id");
        assert_eq!(case["match"], Value::Bool(true), "{id}: oss2 and go2 agree");
        let input = &case["input"];
        if id.starts_with("xcheck-v1-header") {
            check_v1_header_cross_check(id, case);
        } else if id.starts_with("xcheck-v4-header") {
            check_v4_header_cross_check(id, case);
        } else if id.starts_with("xcheck-v1-query") || id.starts_with("xcheck-v4-query") {
            check_presign(PresignCase {
                id,
                input,
                additional_headers: names(&case["additional_headers"]),
                string_to_sign: text(&case["oss2_string_to_sign"], "string_to_sign"),
                canonical_request: case["oss2_canonical_request"].as_str(),
                signing_key_hex: None,
                signature: text(&case["oss2_signature"], "signature"),
                url: text(&case["oss2_url"], "url"),
                params_after_signing: None,
            });
            assert_eq!(
                case["oss2_signature"], case["go_v2_expected_signature"],
                "{id}"
            );
        } else {
            panic!("{id}: unknown cross-check kind");
        }
        checked += 1;
    }
    assert_eq!(checked, 12, "all go2 cross-checks ran");
}

fn check_v1_header_cross_check(id: &str, case: &Value) {
    let input = &case["input"];
    let creds = Credentials::new(
        text(&input["access_key_id"], "ak"),
        text(&input["access_key_secret"], "sk"),
    );
    let query = pairs(&input["query_params"]);
    let target = RequestTarget {
        method: text(&input["method"], "method"),
        bucket: optional(&input["bucket"]),
        key: optional(&input["key"]),
        query: &query,
    };
    let date = text(&input["date"], "date");
    let now = signing::parse_http_date(date).expect("the vector's date is an HTTP date");
    let mut headers = header_map(&input["headers"]);
    signing::sign_headers(&creds, &SignatureVersion::V1, &target, &mut headers, now);
    let resource = signing::v1_canonical_resource(target.bucket, target.key, &query);
    let string_to_sign = signing::v1_string_to_sign(target.method, &headers, date, &resource);
    assert_eq!(
        string_to_sign,
        text(&case["oss2_string_to_sign"], "string_to_sign"),
        "{id}: string to sign"
    );
    let authorization = header_value(&headers, "authorization").expect("Authorization");
    assert_eq!(
        authorization,
        text(&case["go_v2_expected_authorization"], "go2"),
        "{id}"
    );
    assert_eq!(
        authorization,
        text(&case["oss2_authorization"], "oss2"),
        "{id}"
    );
}

fn check_v4_header_cross_check(id: &str, case: &Value) {
    let input = &case["input"];
    let creds = credentials(&input["credentials"]);
    let query = pairs(&input["query_params"]);
    let region = text(&input["region"], "region");
    let target = RequestTarget {
        method: text(&input["method"], "method"),
        bucket: optional(&input["bucket"]),
        key: optional(&input["key"]),
        query: &query,
    };
    let now = at(&input["epoch_seconds"]);
    let additional_names = names(&input["additional_headers"]);
    let additional: Vec<&str> = additional_names.iter().map(String::as_str).collect();
    let mut headers = header_map(&input["headers_before_signing"]);
    let version = SignatureVersion::V4 {
        region: region.to_owned(),
    };
    signing::sign_headers_with_additional(
        &creds,
        &version,
        &target,
        &mut headers,
        now,
        &additional,
    );

    let normalised = signing::v4_additional_headers(&additional);
    let canonical_request = signing::v4_canonical_request(&target, &headers, &normalised);
    assert_eq!(
        canonical_request,
        text(&case["oss2_canonical_request"], "canonical_request"),
        "{id}: canonical request"
    );
    let timestamp = header_value(&headers, "x-oss-date").expect("x-oss-date");
    assert_eq!(
        Some(timestamp),
        case["input"]["headers_added_by_oss2"]["x-oss-date"].as_str(),
        "{id}: x-oss-date"
    );
    let scope = signing::v4_scope(&signing::v4_date(now), region);
    assert_eq!(
        signing::v4_string_to_sign(timestamp, &scope, &canonical_request),
        text(&case["oss2_string_to_sign"], "string_to_sign"),
        "{id}: string to sign"
    );
    let authorization = header_value(&headers, "authorization").expect("Authorization");
    // go2's layout is ours exactly; oss2's differs only in layout.
    assert_eq!(
        authorization,
        text(&case["go_v2_expected_authorization"], "go2"),
        "{id}"
    );
    let (credential, signature, additional_field) = v4_fields(authorization);
    let (oss2_credential, oss2_signature, oss2_additional) =
        v4_fields(text(&case["oss2_authorization"], "oss2"));
    assert_eq!(credential, oss2_credential, "{id}: credential");
    assert_eq!(signature, oss2_signature, "{id}: signature");
    assert_eq!(
        additional_field.is_some(),
        oss2_additional.is_some(),
        "{id}"
    );
}

#[test]
fn v1_subresources_are_oss2s_list() {
    let all = vectors();
    let listed = all["sdk_facts"]["v1_subresource_names_oss2"]
        .as_array()
        .expect("sub-resource list");
    assert!(listed.len() > 80, "the whole oss2 list is recorded");
    for name in listed {
        let name = text(name, "sub-resource");
        assert!(signing::is_v1_subresource(name), "{name} is a sub-resource");
    }
    for name in [
        "prefix",
        "delimiter",
        "key-marker",
        "upload-id-marker",
        "max-uploads",
        "max-parts",
        "part-number-marker",
        "encoding-type",
        "marker",
        "max-keys",
    ] {
        assert!(!signing::is_v1_subresource(name), "{name} is not signed");
    }
}
