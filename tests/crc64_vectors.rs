//! CRC-64 (`x-oss-hash-crc64ecma`) against the vectors recorded from the official Python
//! SDK (tests/data/vectors.json → crc64), and against the `crc` crate's CRC-64/XZ.

use md5::{Digest, Md5};
use ossup::protocol::crc64::{self, Crc64};
use rand::{Rng, SeedableRng};
use serde_json::Value;

const MIB: usize = 1024 * 1024;

fn vectors() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/vectors.json"
    ))
    .expect("tests/data/vectors.json is part of the repository");
    serde_json::from_str(&text).expect("vectors.json is JSON")
}

fn pattern_a(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i & 0xFF) as u8).collect()
}

fn pattern_b(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 7 + 3) % 251) as u8).collect()
}

/// The input behind each named single-CRC case, rebuilt from its description.
fn single_case_input(name: &str) -> Vec<u8> {
    match name {
        "empty" => Vec::new(),
        "check-123456789" => b"123456789".to_vec(),
        "a" => b"a".to_vec(),
        "fox" => b"The quick brown fox jumps over the lazy dog".to_vec(),
        "zeros-16" => vec![0; 16],
        "ff-16" => vec![0xFF; 16],
        "pattern_a-1MiB" => pattern_a(MIB),
        "pattern_b-1MiB" => pattern_b(MIB),
        "pattern_a-100KiB" => pattern_a(100 * 1024),
        other => panic!("vectors.json has a single case {other:?} this test does not know"),
    }
}

fn number(value: &Value) -> u64 {
    match value {
        Value::String(text) => text.parse().expect("decimal u64 string"),
        Value::Number(n) => n.as_u64().expect("u64 number"),
        other => panic!("not a number: {other}"),
    }
}

fn hex(value: &Value) -> u64 {
    let text = value.as_str().expect("hex string");
    u64::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex u64")
}

#[test]
fn single_cases_match_and_hex_agrees_with_decimal() {
    let vectors = vectors();
    let cases = vectors["crc64"]["single"].as_array().unwrap();
    assert!(cases.len() >= 9);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let input = single_case_input(name);
        assert_eq!(input.len() as u64, number(&case["length"]), "{name}");
        let expected = number(&case["crc64_decimal"]);
        assert_eq!(expected, hex(&case["crc64_hex"]), "{name}");
        assert_eq!(crc64::checksum(&input), expected, "{name}");
        let mut streamed = Crc64::new();
        for piece in input.chunks(4099) {
            streamed.update(piece);
        }
        assert_eq!(streamed.value(), expected, "{name} streamed");
    }
}

/// Rebuilds the `a` / `b` halves of a combine case where they are given inline or described.
fn combine_halves(case: &Value) -> Option<(Vec<u8>, Vec<u8>)> {
    let name = case["name"].as_str().unwrap();
    match name {
        "pattern_a 1MiB split at 409600" => {
            let data = pattern_a(MIB);
            Some((data[..409_600].to_vec(), data[409_600..].to_vec()))
        }
        _ if name.starts_with("pattern_b 1MiB split at ") => {
            let at: usize = name.rsplit(' ').next().unwrap().parse().unwrap();
            let data = pattern_b(MIB);
            Some((data[..at].to_vec(), data[at..].to_vec()))
        }
        _ => Some((
            case["a"].as_str()?.as_bytes().to_vec(),
            case["b"].as_str()?.as_bytes().to_vec(),
        )),
    }
}

#[test]
fn combine_cases_match_and_equal_the_crc_of_the_concatenation() {
    let vectors = vectors();
    let cases = vectors["crc64"]["combine"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (crc_a, crc_b, len_b) = (
            number(&case["crc_a"]),
            number(&case["crc_b"]),
            number(&case["len_b"]),
        );
        let expected = number(&case["combined_decimal"]);
        assert_eq!(crc64::combine(crc_a, crc_b, len_b), expected, "{name}");

        let (a, b) = combine_halves(case).expect("every combine case has rebuildable halves");
        assert_eq!(b.len() as u64, len_b, "{name}");
        assert_eq!(crc64::checksum(&a), crc_a, "{name}: crc_a");
        assert_eq!(crc64::checksum(&b), crc_b, "{name}: crc_b");
        assert_eq!(
            crc64::checksum(&[a, b].concat()),
            expected,
            "{name}: concatenation"
        );
    }
}

#[test]
fn combine_operator_handles_lengths_up_to_50_tib() {
    let vectors = vectors();
    let cases = vectors["crc64"]["combine_operator_only"]
        .as_array()
        .unwrap();
    assert!(
        cases
            .iter()
            .any(|case| number(&case["len_b"]) > 50_000_000_000_000)
    );
    for case in cases {
        let len_b = number(&case["len_b"]);
        let combined = crc64::combine(hex(&case["crc_a_hex"]), hex(&case["crc_b_hex"]), len_b);
        assert_eq!(combined, number(&case["combined_decimal"]), "len_b {len_b}");
        assert_eq!(combined, hex(&case["combined_hex"]), "len_b {len_b}");
    }
    // For one byte the operator case is literally crc("123456789a").
    assert_eq!(
        crc64::combine(crc64::checksum(b"123456789"), crc64::checksum(b"a"), 1),
        crc64::checksum(b"123456789a")
    );
}

#[test]
fn streaming_resume_continues_from_a_public_crc() {
    let vectors = vectors();
    let case = &vectors["crc64"]["streaming_resume"];
    let init = number(&case["init_crc_decimal"]);
    assert_eq!(init, crc64::checksum(b"1234"));
    let mut resumed = Crc64::resume_from(init);
    resumed.update(b"56789");
    assert_eq!(resumed.value(), number(&case["result_decimal"]));
}

#[test]
fn parts_of_1mib_fold_into_the_object_crc() {
    let vectors = vectors();
    let case = &vectors["crc64"]["parts_of_1mib"];
    let object = pattern_b(MIB);
    let mut folded_input = Vec::new();
    for part in case["parts"].as_array().unwrap() {
        let offset = number(&part["offset"]) as usize;
        let size = number(&part["size"]) as usize;
        let bytes = &object[offset..offset + size];
        let crc = crc64::checksum(bytes);
        assert_eq!(crc, number(&part["crc64"]), "part {}", part["part_number"]);
        assert_eq!(crc, hex(&part["crc64_hex"]));
        let digest = Md5::digest(bytes);
        assert_eq!(hex::encode(digest), part["md5_hex"].as_str().unwrap());
        assert_eq!(
            hex::encode_upper(digest),
            part["etag"].as_str().unwrap(),
            "an ETag is the upper-case MD5"
        );
        use base64::Engine as _;
        assert_eq!(
            base64::engine::general_purpose::STANDARD.encode(digest),
            part["content_md5"].as_str().unwrap()
        );
        folded_input.push((crc, size as u64));
    }
    let expected = number(&case["object_crc64_decimal"]);
    assert_eq!(crc64::combine_parts(folded_input), expected);
    assert_eq!(crc64::checksum(&object), expected);
}

#[test]
fn agrees_with_the_crc_crate_on_random_data() {
    let oracle = crc::Crc::<u64>::new(&crc::CRC_64_XZ);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x05_5C_AF_E0);
    for round in 0..64 {
        let len = match round {
            0 => 0,
            1 => 1,
            2..=20 => rng.random_range(2..64),
            _ => rng.random_range(64..300_000),
        };
        let mut data = vec![0u8; len];
        rng.fill(&mut data[..]);
        let expected = oracle.checksum(&data);
        assert_eq!(crc64::checksum(&data), expected, "length {len}");

        let split = if len == 0 {
            0
        } else {
            rng.random_range(0..=len)
        };
        let (a, b) = data.split_at(split);
        assert_eq!(
            crc64::combine(oracle.checksum(a), oracle.checksum(b), b.len() as u64),
            expected,
            "combine at {split} of {len}"
        );
        let mut resumed = Crc64::resume_from(oracle.checksum(a));
        resumed.update(b);
        assert_eq!(resumed.value(), expected, "resume at {split} of {len}");
    }
}
