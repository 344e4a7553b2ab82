//! PutBucketLifecycle's body and GetBucketLifecycle's answer, in OSS's schema.
//!
//! A bucket's lifecycle configuration is shared by everyone who manages the bucket, and
//! changing it means writing it whole. So a rule is kept with the XML it was read from:
//! as long as its fields are left alone it is written back exactly as it came, elements
//! this module does not model included. Only a rule built or edited here is written from
//! its fields.

use quick_xml::Reader;
use quick_xml::events::Event;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Iso8601;

use super::xml::{XML_DECLARATION, to_xml_compact};

/// `Status` of a rule that is applied.
pub const STATUS_ENABLED: &str = "Enabled";
/// `Status` of a rule that is kept but not applied.
pub const STATUS_DISABLED: &str = "Disabled";
/// The error code GetBucketLifecycle answers for a bucket without rules.
pub const NO_SUCH_LIFECYCLE: &str = "NoSuchLifecycle";

const MS_PER_DAY: i64 = 24 * 60 * 60 * 1000;

/// The whole configuration: the rules, in the order they were given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleConfiguration {
    pub rules: Vec<LifecycleRule>,
}

/// One `Rule`. Every documented element is modelled; [`LifecycleRule::source`] keeps
/// the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Rule", rename_all = "PascalCase")]
pub struct LifecycleRule {
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Keys the rule applies to; empty for the whole bucket.
    #[serde(default)]
    pub prefix: String,
    /// `Enabled` or `Disabled`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<LifecycleExpiration>,
    #[serde(rename = "Transition", default, skip_serializing_if = "Vec::is_empty")]
    pub transitions: Vec<LifecycleTransition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_multipart_upload: Option<LifecycleDeadline>,
    #[serde(rename = "Tag", default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<LifecycleTag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_version_expiration: Option<NoncurrentVersionExpiration>,
    #[serde(
        rename = "NoncurrentVersionTransition",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub noncurrent_version_transitions: Vec<NoncurrentVersionTransition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<LifecycleFilter>,
    /// The XML this rule was read from, written back while the fields still say what
    /// it says. Never compared: two rules with the same fields are the same rule.
    #[serde(skip)]
    pub source: RuleSource,
}

/// The text of a rule as it was read; see [`LifecycleRule::source`].
#[derive(Debug, Clone, Default)]
pub struct RuleSource(Option<String>);

impl PartialEq for RuleSource {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RuleSource {}

impl RuleSource {
    pub fn xml(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// `Expiration`: when objects are deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleExpiration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before_date: Option<String>,
    /// `true` or `false` (SDKs write either case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_object_delete_marker: Option<String>,
    /// The older spelling of `CreatedBeforeDate` some SDKs still write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

/// `Transition`: when objects move to another storage class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleTransition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before_date: Option<String>,
    pub storage_class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_access_time: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to_std_when_visit: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_small_file: Option<bool>,
}

/// `AbortMultipartUpload`: days after initiation, or a date (midnight UTC) before which
/// initiated uploads are aborted. Exactly one is given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleDeadline {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before_date: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleTag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NoncurrentVersionExpiration {
    pub noncurrent_days: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NoncurrentVersionTransition {
    pub noncurrent_days: i64,
    pub storage_class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_access_time: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to_std_when_visit: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_small_file: Option<bool>,
}

/// `Filter`: keys excluded from the rule (`Not`) and object size bounds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleFilter {
    #[serde(rename = "Not", default, skip_serializing_if = "Vec::is_empty")]
    pub not: Vec<LifecycleNot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_greater_than: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_less_than: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleNot {
    #[serde(default)]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<LifecycleTag>,
}

impl LifecycleConfiguration {
    /// Parses a configuration, keeping each rule's text.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
        let mut reader = Reader::from_str(text);
        let mut rules = Vec::new();
        let mut depth = 0usize;
        let mut saw_root = false;
        loop {
            let start = reader.buffer_position() as usize;
            let event = reader.read_event().map_err(|e| e.to_string())?;
            match event {
                Event::Start(element) if depth == 0 => {
                    if element.name().into_inner() != "LifecycleConfiguration" {
                        return Err("the root element is not LifecycleConfiguration".into());
                    }
                    saw_root = true;
                    depth = 1;
                }
                Event::Empty(element) if depth == 0 => {
                    if element.name().into_inner() != "LifecycleConfiguration" {
                        return Err("the root element is not LifecycleConfiguration".into());
                    }
                    saw_root = true;
                }
                Event::Start(element) if element.name().into_inner() == "Rule" => {
                    let end = element.to_end().into_owned();
                    reader.read_to_end(end.name()).map_err(|e| e.to_string())?;
                    let end = reader.buffer_position() as usize;
                    rules.push(LifecycleRule::parse(&text[start..end])?);
                }
                Event::Empty(element) if element.name().into_inner() == "Rule" => {
                    let end = reader.buffer_position() as usize;
                    rules.push(LifecycleRule::parse(&text[start..end])?);
                }
                Event::Start(element) => {
                    // An element OSS does not document at this level: skipped.
                    let end = element.to_end().into_owned();
                    reader.read_to_end(end.name()).map_err(|e| e.to_string())?;
                }
                Event::End(_) => depth = depth.saturating_sub(1),
                Event::Eof => break,
                _ => {}
            }
        }
        if !saw_root {
            return Err("no LifecycleConfiguration element".into());
        }
        Ok(Self { rules })
    }

    /// The body PutBucketLifecycle sends and GetBucketLifecycle answers.
    pub fn to_xml(&self) -> String {
        let mut out = String::from(XML_DECLARATION);
        out.push_str("\n<LifecycleConfiguration>");
        for rule in &self.rules {
            out.push_str(&rule.to_xml());
        }
        out.push_str("</LifecycleConfiguration>");
        out
    }

    pub fn rule(&self, id: &str) -> Option<&LifecycleRule> {
        self.rules.iter().find(|r| r.id.as_deref() == Some(id))
    }
}

impl LifecycleRule {
    fn parse(xml: &str) -> Result<Self, String> {
        let mut rule: LifecycleRule =
            quick_xml::de::from_str(xml).map_err(|e| format!("in a Rule: {e}"))?;
        rule.source = RuleSource(Some(xml.to_owned()));
        Ok(rule)
    }

    /// An enabled rule that aborts uploads under `prefix` `days` after they start.
    pub fn abort_uploads_after(id: &str, prefix: &str, days: i64) -> Self {
        Self {
            id: Some(id.to_owned()),
            prefix: prefix.to_owned(),
            status: STATUS_ENABLED.to_owned(),
            abort_multipart_upload: Some(LifecycleDeadline {
                days: Some(days),
                created_before_date: None,
            }),
            ..Self::default()
        }
    }

    /// The rule as it was read if its fields still say the same, else from its fields.
    pub fn to_xml(&self) -> String {
        if let Some(source) = self.source.xml()
            && Self::parse(source).is_ok_and(|read| read == *self)
        {
            return source.to_owned();
        }
        to_xml_compact(self)
    }

    pub fn is_enabled(&self) -> bool {
        self.status == STATUS_ENABLED
    }

    /// Whether the rule's prefix and `Not` filters let it apply to `key`. Tag filters
    /// never match an upload in progress, which has no tags yet.
    pub fn applies_to_key(&self, key: &str) -> bool {
        if !key.starts_with(&self.prefix) || !self.tags.is_empty() {
            return false;
        }
        let excluded = self.filter.as_ref().is_some_and(|filter| {
            filter
                .not
                .iter()
                .any(|not| not.tag.is_none() && key.starts_with(&not.prefix))
        });
        !excluded
    }

    /// Whether this rule, enabled, aborts an upload of `key` initiated at `initiated_ms`
    /// when the time is `now_ms`.
    pub fn aborts_upload(&self, key: &str, initiated_ms: u64, now_ms: u64) -> bool {
        let Some(deadline) = &self.abort_multipart_upload else {
            return false;
        };
        if !self.is_enabled() || !self.applies_to_key(key) {
            return false;
        }
        let initiated = initiated_ms as i64;
        if let Some(days) = deadline.days {
            return days > 0 && (now_ms as i64).saturating_sub(initiated) > days * MS_PER_DAY;
        }
        if let Some(before) = deadline.created_before_date.as_deref().and_then(date_ms) {
            return initiated < before;
        }
        false
    }
}

/// Milliseconds since the epoch of an OSS date (`2025-01-15T00:00:00.000Z`).
pub fn date_ms(date: &str) -> Option<i64> {
    let parsed = OffsetDateTime::parse(date, &Iso8601::DEFAULT).ok()?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Whether `date` is an OSS lifecycle date: ISO 8601, UTC, at midnight.
pub fn is_midnight_date(date: &str) -> bool {
    date.len() == "2025-01-15T00:00:00.000Z".len()
        && date.ends_with("T00:00:00.000Z")
        && date_ms(date).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOREIGN: &str = "<Rule>\n    <ID>archive logs</ID>\n    <Prefix>logs/</Prefix>\n    <Status>Enabled</Status>\n    <Expiration><Days>365</Days></Expiration>\n    <Transition><Days>30</Days><StorageClass>IA</StorageClass></Transition>\n    <Transition><Days>90</Days><StorageClass>Archive</StorageClass></Transition>\n    <Tag><Key>team</Key><Value>ops</Value></Tag>\n    <SomethingNew a=\"1\">kept</SomethingNew>\n  </Rule>";

    fn document(rules: &str) -> String {
        format!("{XML_DECLARATION}\n<LifecycleConfiguration>\n  {rules}\n</LifecycleConfiguration>")
    }

    #[test]
    fn an_untouched_rule_is_written_back_as_it_came() {
        let config = LifecycleConfiguration::parse(document(FOREIGN).as_bytes()).unwrap();
        let rule = &config.rules[0];
        assert_eq!(rule.id.as_deref(), Some("archive logs"));
        assert_eq!(rule.transitions.len(), 2);
        assert_eq!(rule.tags[0].value, "ops");
        assert!(config.to_xml().contains(FOREIGN), "{}", config.to_xml());
    }

    #[test]
    fn an_edited_rule_is_written_from_its_fields() {
        let mut config = LifecycleConfiguration::parse(document(FOREIGN).as_bytes()).unwrap();
        config.rules[0].status = STATUS_DISABLED.to_owned();
        let xml = config.to_xml();
        assert!(!xml.contains("SomethingNew"), "{xml}");
        assert!(xml.contains("<Status>Disabled</Status>"), "{xml}");
        let again = LifecycleConfiguration::parse(xml.as_bytes()).unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn our_rule_round_trips() {
        let config = LifecycleConfiguration {
            rules: vec![LifecycleRule::abort_uploads_after("ossup-abort-all", "", 7)],
        };
        let xml = config.to_xml();
        assert!(
            xml.contains("<AbortMultipartUpload><Days>7</Days></AbortMultipartUpload>"),
            "{xml}"
        );
        assert_eq!(
            LifecycleConfiguration::parse(xml.as_bytes()).unwrap(),
            config
        );
    }

    #[test]
    fn abort_deadlines() {
        let day = MS_PER_DAY as u64;
        let now = 100 * day;
        let rule = LifecycleRule::abort_uploads_after("r", "tmp/", 7);
        assert!(rule.aborts_upload("tmp/a", now - 8 * day, now));
        assert!(!rule.aborts_upload("tmp/a", now - 6 * day, now));
        assert!(!rule.aborts_upload("keep/a", now - 8 * day, now));
        let mut dated = rule.clone();
        dated.abort_multipart_upload = Some(LifecycleDeadline {
            days: None,
            created_before_date: Some("1970-01-11T00:00:00.000Z".into()),
        });
        assert!(dated.aborts_upload("tmp/a", 9 * day, now));
        assert!(!dated.aborts_upload("tmp/a", 10 * day, now));
        dated.status = STATUS_DISABLED.into();
        assert!(!dated.aborts_upload("tmp/a", 9 * day, now));
        assert!(is_midnight_date("2025-01-15T00:00:00.000Z"));
        assert!(!is_midnight_date("2025-01-15T01:00:00.000Z"));
        assert!(!is_midnight_date("2025-01-15"));
    }
}
