//! Every XML sample recorded from the official Python SDK (tests/data/xml) parsed with our
//! types and compared field by field with what the SDK parsed (tests/data/vectors.json →
//! xml_samples, errors, head_error_via_header); and the Complete body we write compared
//! byte for byte with the SDK's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use md5::{Digest, Md5};
use ossup::protocol::client::response::service_error;
use ossup::protocol::xml::{
    self, CompleteMultipartUpload, CompleteMultipartUploadResult, CompletePart,
    InitiateMultipartUploadResult, ListMultipartUploadsResult, ListPartsResult,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn vectors() -> Value {
    let text = std::fs::read_to_string(data_dir().join("vectors.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn read(relative: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn files_in(dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(data_dir().join(dir))
        .unwrap()
        .map(|entry| format!("{dir}/{}", entry.unwrap().file_name().to_string_lossy()))
        .collect()
}

fn unix(iso: &str) -> i64 {
    OffsetDateTime::parse(iso, &Rfc3339)
        .unwrap_or_else(|e| panic!("{iso}: {e}"))
        .unix_timestamp()
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing in {value}"))
}

fn check_list_parts(file: &str, expected: &Value) {
    let mut parsed: ListPartsResult = xml::from_xml(&read(file)).unwrap();
    parsed.decode_urls();
    assert_eq!(
        parsed.is_truncated,
        expected["is_truncated"].as_bool().unwrap(),
        "{file}"
    );
    assert_eq!(
        parsed.next_part_number_marker.to_string(),
        text(expected, "next_marker"),
        "{file}"
    );
    assert_eq!(parsed.key, "multipart/video.mp4", "{file}: decoded key");
    let wanted = expected["parts"].as_array().unwrap();
    assert_eq!(parsed.parts.len(), wanted.len(), "{file}");
    for (part, want) in parsed.parts.iter().zip(wanted) {
        assert_eq!(
            u64::from(part.part_number),
            want["part_number"].as_u64().unwrap()
        );
        assert_eq!(
            part.etag,
            format!("\"{}\"", text(want, "etag")),
            "ETag keeps its quotes"
        );
        assert_eq!(part.size, want["size"].as_u64().unwrap());
        assert_eq!(
            unix(&part.last_modified),
            want["last_modified_unix"].as_i64().unwrap()
        );
        assert!(
            part.hash_crc64ecma.is_some(),
            "{file}: HashCrc64ecma is read"
        );
    }
}

fn check_list_uploads(file: &str, expected: &Value) {
    let mut parsed: ListMultipartUploadsResult = xml::from_xml(&read(file)).unwrap();
    parsed.decode_urls();
    assert_eq!(
        parsed.is_truncated,
        expected["is_truncated"].as_bool().unwrap(),
        "{file}"
    );
    assert_eq!(
        parsed.next_key_marker,
        text(expected, "next_key_marker"),
        "{file}"
    );
    assert_eq!(
        parsed.next_upload_id_marker,
        text(expected, "next_upload_id_marker"),
        "{file}"
    );
    let wanted = expected["uploads"].as_array().unwrap();
    assert_eq!(parsed.uploads.len(), wanted.len(), "{file}");
    for (upload, want) in parsed.uploads.iter().zip(wanted) {
        assert_eq!(upload.key, text(want, "key"));
        assert_eq!(upload.upload_id, text(want, "upload_id"));
        assert_eq!(
            unix(&upload.initiated),
            want["initiated_unix"].as_i64().unwrap()
        );
    }
    let prefixes: Vec<&str> = parsed
        .common_prefixes
        .iter()
        .map(|c| c.prefix.as_str())
        .collect();
    let wanted_prefixes: Vec<&str> = expected["common_prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(prefixes, wanted_prefixes, "{file}");
}

fn check_initiate(file: &str, expected: &Value) {
    let mut parsed: InitiateMultipartUploadResult = xml::from_xml(&read(file)).unwrap();
    parsed.decode_urls();
    assert_eq!(parsed.upload_id, text(expected, "upload_id"), "{file}");
    assert_eq!(parsed.bucket, "example-bucket");
    let key = if file.ends_with("_url.xml") {
        "multipart/文件 a+b.bin"
    } else {
        "multipart/video.mp4"
    };
    assert_eq!(
        parsed.key, key,
        "{file}: decoded key keeps '+' and gets its space back"
    );
}

fn check_complete(file: &str, sample: &Value) {
    let mut parsed: CompleteMultipartUploadResult = xml::from_xml(&read(file)).unwrap();
    parsed.decode_urls();
    let from_headers = &sample["parsed_by_oss2_from_headers"];
    assert_eq!(
        parsed.etag,
        format!("\"{}\"", text(from_headers, "etag")),
        "{file}"
    );
    assert_eq!(parsed.bucket, "example-bucket");
    assert!(
        parsed.location.starts_with("https://example-bucket."),
        "{file}"
    );
    let key = if file.ends_with("_url.xml") {
        "multipart/文件 a+b.bin"
    } else {
        "multipart/video.mp4"
    };
    assert_eq!(parsed.key, key, "{file}");
    let elements: Vec<&str> = sample["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(
        elements.contains(&"EncodingType"),
        parsed.encoding_type.is_some(),
        "{file}"
    );
}

#[test]
fn every_response_sample_parses_to_what_the_sdk_read() {
    let vectors = vectors();
    let mut seen = BTreeSet::new();
    for sample in vectors["xml_samples"].as_array().unwrap() {
        let file = text(sample, "file");
        seen.insert(file.to_owned());
        let name = Path::new(file)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if file.starts_with("xml/request/") {
            continue; // checked byte for byte in complete_body_is_byte_identical_to_the_sdks
        }
        if name.starts_with("list_parts_result") {
            check_list_parts(file, &sample["parsed"]);
        } else if name.starts_with("list_multipart_uploads_result") {
            check_list_uploads(file, &sample["parsed"]);
        } else if name.starts_with("initiate_multipart_upload_result") {
            check_initiate(file, &sample["parsed"]);
        } else if name.starts_with("complete_multipart_upload_result") {
            check_complete(file, sample);
        } else {
            panic!("no check for {file}");
        }
    }
    let on_disk: BTreeSet<String> = files_in("xml/response")
        .into_iter()
        .chain(files_in("xml/request"))
        .collect();
    assert_eq!(
        seen, on_disk,
        "every response and request sample is covered"
    );
}

const FIELDS_WITH_THEIR_OWN_PLACE: [&str; 5] = ["Code", "Message", "RequestId", "HostId", "EC"];

#[test]
fn every_error_sample_parses_with_all_its_details() {
    let vectors = vectors();
    let mut seen = BTreeSet::new();
    for case in vectors["errors"].as_array().unwrap() {
        let file = text(case, "file");
        seen.insert(file.to_owned());
        let status = case["http_status"].as_u64().unwrap() as u16;
        let body = read(file);
        // The same path the client takes for a non-2xx answer with a body.
        let error = service_error(status, &HeaderMap::new(), &body);
        let details = &case["oss2_details"];
        assert_eq!(error.status, status, "{file}");
        assert_eq!(error.code, text(case, "code"), "{file}");
        assert_eq!(error.code, text(details, "Code"), "{file}");
        assert_eq!(error.message, text(details, "Message"), "{file}");
        assert_eq!(
            error.request_id.as_deref(),
            details["RequestId"].as_str(),
            "{file}"
        );
        assert_eq!(
            error.host_id.as_deref(),
            details["HostId"].as_str(),
            "{file}"
        );
        let ec = text(case, "ec");
        assert_eq!(
            error.ec.as_deref(),
            (!ec.is_empty()).then_some(ec),
            "{file}"
        );
        let ours: BTreeMap<&str, &str> = error
            .details
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let theirs: BTreeMap<&str, &str> = details
            .as_object()
            .unwrap()
            .iter()
            .filter(|(name, _)| !FIELDS_WITH_THEIR_OWN_PLACE.contains(&name.as_str()))
            // Our parser trims surrounding whitespace (StringToSignBytes ends in a space).
            .map(|(name, value)| (name.as_str(), value.as_str().unwrap().trim()))
            .collect();
        assert_eq!(ours, theirs, "{file}: operation-specific elements");
    }
    seen.insert(text(&vectors["head_error_via_header"], "decoded_x_oss_err_file").to_owned());
    assert_eq!(seen, files_in("xml/error"), "every error sample is covered");
}

#[test]
fn head_error_is_read_from_the_base64_header() {
    let vectors = vectors();
    let case = &vectors["head_error_via_header"];
    let status = case["http_status"].as_u64().unwrap() as u16;
    let mut headers = HeaderMap::new();
    for (name, value) in case["headers"].as_object().unwrap() {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
        );
    }
    let encoded = text(&case["headers"], "x-oss-err");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(decoded, read(text(case, "decoded_x_oss_err_file")));

    let error = service_error(status, &headers, text(case, "body").as_bytes());
    assert_eq!(error.code, text(case, "oss2_code"));
    assert_eq!(error.status, 404);
    assert_eq!(error.message, "The specified key does not exist.");
    assert_eq!(
        error.request_id.as_deref(),
        Some("6787A5C000000000000010C7")
    );
    assert_eq!(
        error.ec.as_deref(),
        Some(text(&case["headers"], "x-oss-ec"))
    );
    assert_eq!(error.detail("Key"), Some("multipart/video.mp4"));
}

#[test]
fn complete_body_is_byte_identical_to_the_sdks() {
    let vectors = vectors();
    let mut parts: Vec<CompletePart> = vectors["crc64"]["parts_of_1mib"]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|part| CompletePart {
            part_number: part["part_number"].as_u64().unwrap() as u32,
            etag: format!("\"{}\"", text(part, "etag")),
        })
        .collect();
    parts.reverse();
    parts.sort_by_key(|part| part.part_number);
    let body = CompleteMultipartUpload { parts }.to_xml();
    let expected = read("xml/request/complete_multipart_upload.xml");
    assert_eq!(body.as_bytes(), expected.as_slice());

    let sample = vectors["xml_samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| text(s, "file") == "xml/request/complete_multipart_upload.xml")
        .unwrap();
    assert_eq!(body.len() as u64, sample["length"].as_u64().unwrap());
    let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body.as_bytes()));
    assert_eq!(md5, text(sample, "content_md5"));
}
