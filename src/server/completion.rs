//! CompleteMultipartUpload's rules, without I/O: which parts make the object, whether
//! the request is acceptable, and the resulting ETag, CRC-64 and size.

use std::collections::BTreeMap;

use md5::{Digest, Md5};

use super::errors;
use super::meta::{FORMAT_VERSION, ObjectMeta, ObjectType, PartMeta, Segment, UploadMeta};
use crate::protocol::ServiceError;
use crate::protocol::crc64;
use crate::protocol::xml::CompletePart;

use crate::protocol::limits::MIN_PART_SIZE;

/// Picks the parts named by a Complete body (or all parts for `x-oss-complete-all`) and
/// checks them: ascending order, each part present with a matching ETag, and every part
/// but the last at least [`MIN_PART_SIZE`].
pub fn select_parts(
    uploaded: &BTreeMap<u32, PartMeta>,
    requested: Option<&[CompletePart]>,
) -> Result<Vec<PartMeta>, ServiceError> {
    let chosen: Vec<PartMeta> = match requested {
        None => uploaded.values().cloned().collect(),
        Some(requested) => {
            if requested.is_empty() {
                return Err(errors::malformed_xml("the body lists no parts"));
            }
            let mut chosen = Vec::with_capacity(requested.len());
            let mut previous = 0u32;
            for part in requested {
                if part.part_number <= previous {
                    return Err(errors::invalid_part_order());
                }
                previous = part.part_number;
                let Some(stored) = uploaded.get(&part.part_number) else {
                    return Err(errors::invalid_part(
                        part.part_number,
                        &part.etag,
                        "the part was never uploaded",
                    ));
                };
                if !etag_matches(&part.etag, &stored.md5_hex) {
                    return Err(errors::invalid_part(
                        part.part_number,
                        &part.etag,
                        "the ETag differs from the uploaded part's",
                    ));
                }
                chosen.push(stored.clone());
            }
            chosen
        }
    };
    if chosen.is_empty() {
        return Err(errors::invalid_part(0, "", "the upload has no parts"));
    }
    if let Some((_, all_but_last)) = chosen.split_last()
        && let Some(small) = all_but_last.iter().find(|p| p.size < MIN_PART_SIZE)
    {
        return Err(errors::entity_too_small(small.part_number, small.size));
    }
    Ok(chosen)
}

/// Whether an ETag from a Complete body names the part with this MD5. Quotes are
/// optional and case does not matter, as with OSS.
fn etag_matches(sent: &str, md5_hex: &str) -> bool {
    sent.trim().trim_matches('"').eq_ignore_ascii_case(md5_hex)
}

/// `<MD5 of the concatenated binary part MD5s>-<N>`, upper-case, without quotes.
pub fn multipart_etag(parts: &[PartMeta]) -> String {
    let mut hasher = Md5::new();
    for part in parts {
        // The hex was written by us; a damaged record hashes as zeros rather than panic.
        let binary = hex::decode(&part.md5_hex).unwrap_or_else(|_| vec![0; 16]);
        hasher.update(&binary);
    }
    let digest: [u8; 16] = hasher.finalize().into();
    format!("{}-{}", hex::encode_upper(digest), parts.len())
}

/// The object a completed upload becomes: the parts' blobs in order, no bytes copied.
pub fn object_from_parts(upload: &UploadMeta, parts: &[PartMeta], now_ms: u64) -> ObjectMeta {
    ObjectMeta {
        format_version: FORMAT_VERSION,
        key: upload.key.clone(),
        size: parts.iter().map(|p| p.size).sum(),
        etag: multipart_etag(parts),
        crc64: crc64::combine_parts(parts.iter().map(|p| (p.crc64, p.size))),
        content_md5: None,
        last_modified_ms: now_ms,
        object_type: ObjectType::Multipart,
        attributes: upload.attributes.clone(),
        segments: parts
            .iter()
            .map(|p| Segment {
                blob: p.blob.clone(),
                size: p.size,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::meta::ObjectAttributes;

    fn part(number: u32, data: &[u8]) -> PartMeta {
        let md5: [u8; 16] = Md5::digest(data).into();
        PartMeta {
            format_version: FORMAT_VERSION,
            part_number: number,
            blob: format!("blob{number}"),
            size: data.len() as u64,
            md5_hex: hex::encode_upper(md5),
            crc64: crc64::checksum(data),
            last_modified_ms: 0,
        }
    }

    fn request(parts: &[&PartMeta]) -> Vec<CompletePart> {
        parts
            .iter()
            .map(|p| CompletePart {
                part_number: p.part_number,
                etag: p.quoted_etag(),
            })
            .collect()
    }

    #[test]
    fn checks_order_presence_etag_and_size() {
        let big = vec![7u8; MIN_PART_SIZE as usize];
        let (p1, p2, p3) = (part(1, &big), part(2, &big), part(3, b"tail"));
        let uploaded: BTreeMap<u32, PartMeta> =
            [(1, p1.clone()), (2, p2.clone()), (3, p3.clone())].into();

        let ok = select_parts(&uploaded, Some(&request(&[&p1, &p3]))).unwrap();
        assert_eq!(ok.iter().map(|p| p.part_number).collect::<Vec<_>>(), [1, 3]);

        let code = |r: Result<Vec<PartMeta>, ServiceError>| r.unwrap_err().code;
        assert_eq!(
            code(select_parts(&uploaded, Some(&request(&[&p2, &p1])))),
            "InvalidPartOrder"
        );
        let mut wrong = request(&[&p1, &p2]);
        wrong[1].etag = "\"00000000000000000000000000000000\"".into();
        assert_eq!(code(select_parts(&uploaded, Some(&wrong))), "InvalidPart");
        let missing = [CompletePart {
            part_number: 9,
            etag: p1.quoted_etag(),
        }];
        assert_eq!(code(select_parts(&uploaded, Some(&missing))), "InvalidPart");
        assert_eq!(
            code(select_parts(&uploaded, Some(&request(&[&p3, &p3])))),
            "InvalidPartOrder"
        );

        let small_first: BTreeMap<u32, PartMeta> = [(1, part(1, b"x")), (2, part(2, b"y"))].into();
        assert_eq!(code(select_parts(&small_first, None)), "EntityTooSmall");
        assert_eq!(select_parts(&uploaded, None).unwrap().len(), 3);
    }

    #[test]
    fn etag_and_crc_of_the_whole() {
        let (a, b) = (vec![1u8; 1000], vec![2u8; 500]);
        let parts = [part(1, &a), part(2, &b)];
        let upload = UploadMeta {
            format_version: FORMAT_VERSION,
            upload_id: "U".into(),
            key: "k".into(),
            initiated_ms: 0,
            attributes: ObjectAttributes::default(),
        };
        let object = object_from_parts(&upload, &parts, 5);
        assert_eq!(object.size, 1500);
        assert_eq!(
            object.crc64,
            crc64::checksum(&[a.clone(), b.clone()].concat())
        );
        let mut joined = Md5::digest(&a).to_vec();
        joined.extend_from_slice(&Md5::digest(&b));
        let expected: [u8; 16] = Md5::digest(&joined).into();
        assert_eq!(object.etag, format!("{}-2", hex::encode_upper(expected)));
    }
}
