//! Lifecycle rules between `OssClient` and `ossup serve`: the three operations, OSS's
//! checks, rules we do not model coming back as they were, durability across a restart,
//! and the server aborting stale uploads on its own clock.

use std::path::Path;
use std::time::Duration;

use ossup::protocol::client::{ClientConfig, InitiateOptions, ListUploadsParams, OssClient};
use ossup::protocol::lifecycle::{LifecycleConfiguration, LifecycleRule, STATUS_DISABLED};
use ossup::protocol::xml::XML_DECLARATION;
use ossup::protocol::{Credentials, OssError};
use ossup::server::{self, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, ServerConfig};

const BUCKET: &str = "lifecycle-test";
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A rule from someone else, with elements we model and one we do not.
const FOREIGN_RULE: &str = "<Rule>\n    <ID>archive-logs</ID>\n    <Prefix>logs/</Prefix>\n    <Status>Enabled</Status>\n    <Expiration>\n      <Days>365</Days>\n    </Expiration>\n    <Transition><Days>30</Days><StorageClass>IA</StorageClass></Transition>\n    <Transition><Days>90</Days><StorageClass>Archive</StorageClass></Transition>\n    <Tag><Key>team</Key><Value>ops &amp; data</Value></Tag>\n    <LaterElement kind=\"new\">kept as is</LaterElement>\n  </Rule>";

async fn start(dir: &Path) -> server::RunningServer {
    server::start(ServerConfig {
        buckets: vec![BUCKET.to_owned()],
        ..ServerConfig::new(dir)
    })
    .await
    .expect("the server starts")
}

fn client(server: &server::RunningServer) -> OssClient {
    OssClient::new(ClientConfig::new(
        server.endpoint(),
        Credentials::new(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET),
    ))
    .expect("client")
}

fn foreign_config() -> LifecycleConfiguration {
    let xml = format!(
        "{XML_DECLARATION}\n<LifecycleConfiguration>\n  {FOREIGN_RULE}\n</LifecycleConfiguration>"
    );
    LifecycleConfiguration::parse(xml.as_bytes()).expect("the foreign rule parses")
}

fn code(error: OssError) -> String {
    error.code().unwrap_or("not a service error").to_owned()
}

#[tokio::test]
async fn read_modify_write_gives_other_rules_back_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let client = client(&server);
    assert_eq!(client.get_bucket_lifecycle(BUCKET).await.unwrap(), None);

    client
        .put_bucket_lifecycle(BUCKET, &foreign_config())
        .await
        .unwrap();
    let mut config = client.get_bucket_lifecycle(BUCKET).await.unwrap().unwrap();
    assert_eq!(config.rules.len(), 1);
    assert_eq!(config.rules[0].transitions.len(), 2);
    assert_eq!(config.rules[0].tags[0].value, "ops & data");
    config
        .rules
        .push(LifecycleRule::abort_uploads_after("ossup-abort-all", "", 7));
    client.put_bucket_lifecycle(BUCKET, &config).await.unwrap();

    let back = client.get_bucket_lifecycle(BUCKET).await.unwrap().unwrap();
    assert_eq!(back.rules.len(), 2);
    assert_eq!(back.rules[0].source.xml(), Some(FOREIGN_RULE));
    let ours = back.rule("ossup-abort-all").expect("our rule");
    assert_eq!(ours.abort_multipart_upload.as_ref().unwrap().days, Some(7));

    // Kept on disk: a restart answers the same.
    server.shutdown().await;
    let server = start(dir.path()).await;
    let client = self::client(&server);
    let after_restart = client.get_bucket_lifecycle(BUCKET).await.unwrap().unwrap();
    assert_eq!(after_restart.to_xml(), back.to_xml());

    client.delete_bucket_lifecycle(BUCKET).await.unwrap();
    assert_eq!(client.get_bucket_lifecycle(BUCKET).await.unwrap(), None);
    client.delete_bucket_lifecycle(BUCKET).await.unwrap();
}

#[tokio::test]
async fn the_server_checks_rules_as_oss_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let client = client(&server);
    let put = |rules: Vec<LifecycleRule>| {
        let client = client.clone();
        async move {
            client
                .put_bucket_lifecycle(BUCKET, &LifecycleConfiguration { rules })
                .await
                .map_err(code)
        }
    };
    let rule = LifecycleRule::abort_uploads_after;
    assert_eq!(
        put(vec![rule("a", "", 0)]).await,
        Err("InvalidArgument".into())
    );
    assert_eq!(put(vec![]).await, Err("MalformedXML".into()));
    assert_eq!(
        put(vec![rule("a", "x/", 1), rule("a", "y/", 1)]).await,
        Err("InvalidArgument".into())
    );
    assert_eq!(
        put(vec![rule("a", "x/", 1), rule("b", "x/deeper/", 1)]).await,
        Err("InvalidArgument".into())
    );
    let too_many = (0..1001).map(|n| rule(&format!("r{n}"), &format!("{n}/"), 1));
    assert_eq!(put(too_many.collect()).await, Err("InvalidArgument".into()));
    assert_eq!(client.get_bucket_lifecycle(BUCKET).await.unwrap(), None);
    assert_eq!(
        put(vec![rule("a", "x/", 1), rule("b", "y/", 1)]).await,
        Ok(())
    );
    assert_eq!(
        client
            .get_bucket_lifecycle("no-such-bucket")
            .await
            .map_err(code),
        Err("NoSuchBucket".into())
    );
}

async fn initiate(client: &OssClient, key: &str) -> String {
    client
        .initiate_multipart_upload(BUCKET, key, &InitiateOptions::default())
        .await
        .expect("initiate")
        .upload_id
}

async fn upload_keys(client: &OssClient) -> Vec<String> {
    let page = client
        .list_multipart_uploads(BUCKET, &ListUploadsParams::default())
        .await
        .expect("list uploads");
    let mut keys: Vec<String> = page.uploads.into_iter().map(|u| u.key).collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn the_server_aborts_uploads_a_rule_says_are_stale() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let client = client(&server);
    let mut disabled = LifecycleRule::abort_uploads_after("off", "other/", 1);
    disabled.status = STATUS_DISABLED.to_owned();
    client
        .put_bucket_lifecycle(
            BUCKET,
            &LifecycleConfiguration {
                rules: vec![
                    LifecycleRule::abort_uploads_after("ossup-abort-tmp/", "tmp/", 7),
                    disabled,
                ],
            },
        )
        .await
        .unwrap();

    let old = initiate(&client, "tmp/old").await;
    initiate(&client, "keep/old").await;
    initiate(&client, "other/old").await;
    assert_eq!(server.advance_clock(2 * DAY).await, 0);
    initiate(&client, "tmp/newer").await;
    assert_eq!(server.advance_clock(6 * DAY).await, 1);

    // tmp/old is 8 days old: aborted; tmp/newer is 6 days old; the rest is not covered.
    assert_eq!(
        upload_keys(&client).await,
        ["keep/old", "other/old", "tmp/newer"]
    );
    let gone = client
        .list_parts(BUCKET, "tmp/old", &old, 0, None)
        .await
        .map_err(code);
    assert_eq!(gone.err().as_deref(), Some("NoSuchUpload"));

    assert_eq!(server.advance_clock(DAY + Duration::from_secs(1)).await, 1);
    assert_eq!(upload_keys(&client).await, ["keep/old", "other/old"]);
}

#[tokio::test]
async fn an_unreadable_stored_configuration_is_set_aside_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    client(&server)
        .put_bucket_lifecycle(BUCKET, &foreign_config())
        .await
        .unwrap();
    server.shutdown().await;
    let record = dir
        .path()
        .join("buckets")
        .join(BUCKET)
        .join("lifecycle.json");
    std::fs::write(&record, b"{ not json").unwrap();

    let server = start(dir.path()).await;
    assert_eq!(
        client(&server).get_bucket_lifecycle(BUCKET).await.unwrap(),
        None
    );
    assert!(!record.exists());
    let quarantine = dir.path().join("quarantine").join(BUCKET);
    let aside: Vec<_> = std::fs::read_dir(&quarantine)
        .expect("a quarantine folder")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(aside, ["lifecycle.json"]);
    assert_eq!(
        std::fs::read(quarantine.join("lifecycle.json")).unwrap(),
        b"{ not json"
    );
}
