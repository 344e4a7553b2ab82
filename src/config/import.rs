//! Profiles taken from where people already keep credentials: the Alibaba Cloud CLI's
//! `~/.aliyun/config.json` and ossutil's `~/.ossutilconfig`.
//!
//! Only what ossup can use without a network is taken: key pairs (`AK`), key pairs with
//! an STS token (`StsToken`) and external commands that print credentials (`External`,
//! run by [`super::credential_process`]). Modes that fetch credentials over the network
//! (an AssumeRole call, the ECS metadata service) are reported with what they would need.
//! Parsing is pure; the caller reads the files and saves the result through
//! [`ConfigFile::save`](super::ConfigFile::save).

use serde::Deserialize;

use super::{ConfigFile, Profile, validate_endpoint, validate_profile_name, validate_region};
use crate::protocol::region::{EndpointKind, endpoint_for_region};

/// Prefix of the profiles made from the Alibaba Cloud CLI's profiles.
pub const ALIYUN_PREFIX: &str = "aliyun-";
/// Name of the profile made from ossutil's `[Credentials]`.
pub const OSSUTIL_PROFILE: &str = "ossutil";

/// One profile found in a foreign file: usable, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Name it gets in ossup's file.
    pub name: String,
    /// Where it came from, for the report: `aliyun profile "work" (AK)`.
    pub source: String,
    /// The profile, or a sentence saying why it cannot be imported.
    pub profile: Result<Profile, String>,
}

/// The Alibaba Cloud CLI's file, only the fields ossup reads.
#[derive(Deserialize)]
struct AliyunConfig {
    profiles: Vec<AliyunProfile>,
}

#[derive(Deserialize)]
struct AliyunProfile {
    name: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    access_key_secret: String,
    #[serde(default)]
    sts_token: String,
    #[serde(default)]
    region_id: String,
    /// The `External` mode's command line.
    #[serde(default)]
    process_command: String,
}

/// What a mode that fetches credentials would need, in the report's words.
fn unsupported_mode_need(mode: &str) -> String {
    let need = match mode {
        "RamRoleArn" | "ChainableRamRoleArn" => "an AssumeRole call to STS (network access)",
        "EcsRamRole" => "the ECS instance metadata service (network access)",
        "CredentialsURI" => "a request to a credentials URI (network access)",
        "OIDC" => "an OIDC token exchanged with STS (network access)",
        "CloudSSO" | "OAuth" => "a sign-in through the network",
        other => {
            return format!(
                "its mode {other:?} is not one ossup knows; only AK and StsToken can be imported"
            );
        }
    };
    format!("needs {need}, which ossup does not do yet")
}

/// The profiles of an Alibaba Cloud CLI `config.json`; `Err` says what is wrong with the
/// file as a whole.
pub fn from_aliyun_json(text: &str) -> Result<Vec<Candidate>, String> {
    let config: AliyunConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(config
        .profiles
        .into_iter()
        .map(|p| {
            let mode = if p.mode.is_empty() { "AK" } else { &p.mode };
            Candidate {
                name: format!("{ALIYUN_PREFIX}{}", p.name),
                source: format!("aliyun profile {:?} ({mode})", p.name),
                profile: aliyun_profile(&p, mode),
            }
        })
        .collect())
}

fn aliyun_profile(p: &AliyunProfile, mode: &str) -> Result<Profile, String> {
    let missing = |field: &str| format!("its {field} is empty");
    let with_token = match mode {
        "AK" => false,
        "StsToken" => true,
        "External" => {
            if p.process_command.trim().is_empty() {
                return Err(missing("process_command"));
            }
            let (endpoint, region) = aliyun_endpoint(p)?;
            return Ok(Profile {
                endpoint,
                region: Some(region),
                process_command: Some(p.process_command.trim().to_owned()),
                ..Profile::default()
            });
        }
        other => return Err(unsupported_mode_need(other)),
    };
    if p.access_key_id.trim().is_empty() {
        return Err(missing("access_key_id"));
    }
    if p.access_key_secret.is_empty() {
        return Err(missing("access_key_secret"));
    }
    if with_token && p.sts_token.is_empty() {
        return Err(missing("sts_token"));
    }
    let (endpoint, region) = aliyun_endpoint(p)?;
    Ok(Profile {
        endpoint,
        region: Some(region),
        access_key_id: Some(p.access_key_id.trim().to_owned()),
        access_key_secret: Some(p.access_key_secret.clone()),
        security_token: with_token.then(|| p.sts_token.clone()),
        ..Profile::default()
    })
}

/// The public OSS endpoint of the profile's region, and the region.
fn aliyun_endpoint(p: &AliyunProfile) -> Result<(String, String), String> {
    let region = p.region_id.trim();
    if region.is_empty() {
        return Err("it has no region_id, so its endpoint is unknown".to_owned());
    }
    validate_region(region)?;
    Ok((
        endpoint_for_region(region, EndpointKind::Public),
        region.to_owned(),
    ))
}

/// The `[Credentials]` of an ossutil config file (INI); `Err` names the line that is not
/// INI. An endpoint without a scheme gets `https://`.
pub fn from_ossutil_ini(text: &str) -> Result<Vec<Candidate>, String> {
    let mut section = String::new();
    let mut values: Vec<(String, String)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .ok_or_else(|| format!("line {}: a section header must end with ']'", index + 1))?;
            section = name.trim().to_owned();
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| {
            format!(
                "line {}: expected `key = value` or a [section] header",
                index + 1
            )
        })?;
        if section == "Credentials" {
            values.push((key.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let get = |key: &str| {
        values
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let profile = (|| {
        let id = get("accessKeyID").ok_or("it has no accessKeyID")?;
        let secret = get("accessKeySecret").ok_or("it has no accessKeySecret")?;
        let endpoint = get("endpoint").ok_or("it has no endpoint")?;
        let endpoint = if endpoint.contains("://") {
            endpoint
        } else {
            format!("https://{endpoint}")
        };
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        validate_endpoint(&endpoint)?;
        let region = get("region");
        if let Some(region) = &region {
            validate_region(region)?;
        }
        Ok::<_, String>(Profile {
            endpoint,
            region,
            access_key_id: Some(id),
            access_key_secret: Some(secret),
            security_token: get("stsToken"),
            ..Profile::default()
        })
    })();
    Ok(vec![Candidate {
        name: OSSUTIL_PROFILE.to_owned(),
        source: "ossutil [Credentials]".to_owned(),
        profile,
    }])
}

/// What became of one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Added, or replaced an existing profile (`replaced`).
    Imported { replaced: bool },
    /// A profile of that name exists and `--overwrite` was not given.
    Kept,
    /// Not usable; the sentence says why.
    NotImported(String),
}

/// Adds the usable candidates to `file`; an existing profile of the same name is replaced
/// only when `overwrite`. Returns each candidate with its outcome, in order.
pub fn merge(
    file: &mut ConfigFile,
    candidates: Vec<Candidate>,
    overwrite: bool,
) -> Vec<(Candidate, Outcome)> {
    candidates
        .into_iter()
        .map(|candidate| {
            let checked = candidate.profile.clone().and_then(|profile| {
                validate_profile_name(&candidate.name).map_err(|e| e.to_string())?;
                profile
                    .validate(&candidate.name)
                    .map_err(|e| e.to_string())?;
                Ok(profile)
            });
            let outcome = match checked {
                Err(why) => Outcome::NotImported(why),
                Ok(_) if file.profiles.contains_key(&candidate.name) && !overwrite => Outcome::Kept,
                Ok(profile) => {
                    let replaced = file
                        .profiles
                        .insert(candidate.name.clone(), profile)
                        .is_some();
                    Outcome::Imported { replaced }
                }
            };
            (candidate, outcome)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALIYUN: &str = r#"{
        "current": "default",
        "profiles": [
            {"name": "default", "mode": "AK", "access_key_id": "LTAIAK", "access_key_secret": "aksecret",
             "sts_token": "", "region_id": "cn-hangzhou", "output_format": "json", "language": "en"},
            {"name": "temp", "mode": "StsToken", "access_key_id": "STS.ID", "access_key_secret": "stssecret",
             "sts_token": "tok", "region_id": "eu-central-1"},
            {"name": "role", "mode": "RamRoleArn", "access_key_id": "LTAIR", "access_key_secret": "r",
             "ram_role_arn": "acs:ram::1:role/x", "region_id": "cn-hangzhou"},
            {"name": "noregion", "mode": "AK", "access_key_id": "LTAIN", "access_key_secret": "n"},
            {"name": "sso", "mode": "External", "process_command": "acs-sso login --profile dev",
             "region_id": "cn-shanghai"},
            {"name": "nocommand", "mode": "External", "process_command": " ", "region_id": "cn-shanghai"}
        ],
        "meta_path": ""
    }"#;

    #[test]
    fn aliyun_ak_and_sts_profiles_are_taken_and_fetching_modes_are_explained() {
        let found = from_aliyun_json(ALIYUN).expect("parses");
        assert_eq!(found.len(), 6);
        let external = found[4].profile.as_ref().expect("External imports");
        assert_eq!(
            external.process_command.as_deref(),
            Some("acs-sso login --profile dev")
        );
        assert_eq!(external.endpoint, "https://oss-cn-shanghai.aliyuncs.com");
        assert_eq!(external.access_key_id, None);
        assert!(external.validate("aliyun-sso").is_ok());
        let why = found[5].profile.as_ref().expect_err("no command");
        assert!(why.contains("process_command"), "{why}");
        let ak = found[0].profile.as_ref().expect("AK imports");
        assert_eq!(found[0].name, "aliyun-default");
        assert_eq!(ak.endpoint, "https://oss-cn-hangzhou.aliyuncs.com");
        assert_eq!(ak.region.as_deref(), Some("cn-hangzhou"));
        assert_eq!(ak.security_token, None);
        let sts = found[1].profile.as_ref().expect("StsToken imports");
        assert_eq!(sts.security_token.as_deref(), Some("tok"));
        assert_eq!(sts.endpoint, "https://oss-eu-central-1.aliyuncs.com");
        let why = found[2].profile.as_ref().expect_err("RamRoleArn does not");
        assert!(
            why.contains("STS") && why.contains("does not do yet"),
            "{why}"
        );
        assert!(found[3].profile.is_err());
        assert!(from_aliyun_json("{\"profiles\": [").is_err());
        assert!(from_aliyun_json("{\"profiles\": [{\"mode\": \"AK\"}]}").is_err());
    }

    #[test]
    fn ossutil_credentials_are_taken_and_bad_lines_named() {
        let text = "[Credentials]\nlanguage=EN\nendpoint=oss-cn-shanghai.aliyuncs.com\naccessKeyID=LTAIU\naccessKeySecret=usecret\nstsToken=\n[Bucket-Endpoint]\nb=oss-cn-beijing.aliyuncs.com\n";
        let found = from_ossutil_ini(text).expect("parses");
        let profile = found[0].profile.as_ref().expect("imports");
        assert_eq!(found[0].name, "ossutil");
        assert_eq!(profile.endpoint, "https://oss-cn-shanghai.aliyuncs.com");
        assert_eq!(profile.access_key_id.as_deref(), Some("LTAIU"));
        assert_eq!(profile.security_token, None);
        assert!(from_ossutil_ini("").expect("empty").is_empty());
        let error = from_ossutil_ini("[Credentials]\nnot a pair\n").expect_err("bad");
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn merge_keeps_existing_profiles_unless_told() {
        let found = from_aliyun_json(ALIYUN).expect("parses");
        let mut file = ConfigFile::default();
        file.profiles.insert(
            "aliyun-default".into(),
            Profile {
                endpoint: "https://keep.example.com".into(),
                ..Profile::default()
            },
        );
        let outcomes = merge(&mut file, found.clone(), false);
        assert_eq!(outcomes[0].1, Outcome::Kept);
        assert_eq!(outcomes[1].1, Outcome::Imported { replaced: false });
        assert!(matches!(outcomes[2].1, Outcome::NotImported(_)));
        assert_eq!(
            file.profiles["aliyun-default"].endpoint,
            "https://keep.example.com"
        );
        let outcomes = merge(&mut file, found, true);
        assert_eq!(outcomes[0].1, Outcome::Imported { replaced: true });
        assert_eq!(
            file.profiles["aliyun-default"].endpoint,
            "https://oss-cn-hangzhou.aliyuncs.com"
        );
        assert!(file.validate().is_ok());
    }
}
