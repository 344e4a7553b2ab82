//! HTTPS and virtual-hosted addressing end to end, as real OSS is reached
//! (`https://bucket.oss-<region>.aliyuncs.com`): `ossup serve` with a self-made CA for
//! `oss-test.local`, clients that trust the CA file and pin `demo.oss-test.local` to
//! 127.0.0.1 with a `resolve` entry, in V1 and V4. Also the other network settings of a
//! profile: a CA file that is wrong, and an explicit proxy.

mod support;

use ossup::engine::{EngineCommand, EngineEvent, TransferState};
use ossup::protocol::client::{ClientConfig, CompleteOptions, NetworkSettings, PutOptions};
use ossup::protocol::signing::SignatureVersion;
use ossup::protocol::xml::CompletePart;
use ossup::protocol::{Credentials, OssClient};
use ossup::server::DEFAULT_REGION;
use support::data::data;
use support::engine::{EngineFixture, PART};
use support::server::{BUCKET, KEY_ID, KEY_SECRET, TLS_DOMAIN, TestServer, initiate};

fn signatures() -> [SignatureVersion; 2] {
    [
        SignatureVersion::V1,
        SignatureVersion::V4 {
            region: DEFAULT_REGION.to_owned(),
        },
    ]
}

#[tokio::test]
async fn objects_and_multipart_uploads_round_trip_over_virtual_hosted_https() {
    let server = TestServer::start_tls().await;
    assert!(server.endpoint().starts_with("https://"));
    for signature in signatures() {
        let client = server.tls_client(signature.clone());
        let key = format!("{signature:?}/small file.txt");
        let bytes = data(3000, 7);
        client
            .put_object(
                BUCKET,
                &key,
                ossup::protocol::client::Body::Bytes(bytes.clone().into()),
                &PutOptions::default(),
                None,
            )
            .await
            .unwrap_or_else(|e| panic!("PutObject over https ({signature:?}): {e}"));
        let read = client
            .get_object(BUCKET, &key, None)
            .await
            .expect("GetObject");
        assert_eq!(read.to_vec(), bytes);

        let big = format!("{signature:?}/parts.bin");
        let upload_id = initiate(&client, BUCKET, &big).await;
        let part = data(PART as usize, 8);
        let uploaded = client
            .upload_part(
                BUCKET,
                &big,
                &upload_id,
                1,
                ossup::protocol::client::Body::Bytes(part.clone().into()),
                None,
            )
            .await
            .expect("UploadPart");
        let listed = client
            .list_parts(BUCKET, &big, &upload_id, 0, None)
            .await
            .expect("ListParts");
        assert_eq!(listed.parts.len(), 1);
        client
            .complete_multipart_upload(
                BUCKET,
                &big,
                &upload_id,
                &[CompletePart {
                    part_number: 1,
                    etag: uploaded.etag,
                }],
                &CompleteOptions::default(),
            )
            .await
            .expect("CompleteMultipartUpload");
        assert_eq!(client.head_object(BUCKET, &big).await.unwrap().size, PART);
    }
}

#[tokio::test]
async fn a_bucket_the_server_lacks_under_its_domain_is_no_such_bucket() {
    let server = TestServer::start_tls().await;
    let mut config = ClientConfig::new(server.tls_endpoint(), Credentials::new(KEY_ID, KEY_SECRET));
    config.network = server.tls_network(&["missing"]);
    let client = OssClient::new(config).expect("client");
    // Path-style reading would take `k` for a bucket and this PUT for PutBucket.
    let error = client
        .put_object(
            "missing",
            "k",
            ossup::protocol::client::Body::Bytes("x".into()),
            &PutOptions::default(),
            None,
        )
        .await
        .expect_err("no such bucket");
    let service = error.service().expect("an OSS error answer");
    assert_eq!(
        service.code,
        ossup::protocol::error::code::NO_SUCH_BUCKET,
        "{error}"
    );
    assert!(
        service
            .details
            .iter()
            .any(|(name, value)| name == "BucketName" && value == "missing"),
        "{error}"
    );
}

#[tokio::test]
async fn without_the_ca_the_server_is_not_trusted_and_a_bad_ca_file_is_one_sentence() {
    let server = TestServer::start_tls().await;
    let mut config = ClientConfig::new(server.tls_endpoint(), Credentials::new(KEY_ID, KEY_SECRET));
    config.network = NetworkSettings {
        ca_bundle: None,
        ..server.tls_network(&[BUCKET])
    };
    let untrusting = OssClient::new(config.clone()).expect("client");
    let error = untrusting
        .head_object(BUCKET, "k")
        .await
        .expect_err("an unknown CA is refused");
    assert!(
        error
            .to_string()
            .to_ascii_lowercase()
            .contains("certificate"),
        "{error}"
    );

    let not_pem = server.dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    config.network.ca_bundle = Some(not_pem.clone());
    let message = OssClient::new(config).expect_err("refused").to_string();
    assert!(
        message.contains("holds no PEM certificate") && message.contains("not-a-ca.pem"),
        "{message}"
    );
}

#[tokio::test]
async fn an_explicit_proxy_carries_the_requests_to_a_host_no_dns_knows() {
    // ossup serve understands the absolute-form requests a client sends to an HTTP
    // proxy, so it can stand in for one: the endpoint's name resolves nowhere, and only
    // the proxy setting gets the request there.
    let server = TestServer::start().await;
    let mut config = ClientConfig::new(
        "http://nowhere.invalid:9",
        Credentials::new(KEY_ID, KEY_SECRET),
    );
    config.path_style = true;
    let direct = OssClient::new(config.clone()).expect("client");
    assert!(direct.head_object(BUCKET, "k").await.is_err());
    config.network.proxy = Some(server.endpoint());
    let proxied = OssClient::new(config).expect("client");
    proxied
        .put_object(
            BUCKET,
            "via-proxy.txt",
            ossup::protocol::client::Body::Bytes("through the proxy".into()),
            &PutOptions::default(),
            None,
        )
        .await
        .expect("PutObject through the proxy");
    let read = server
        .client()
        .get_object(BUCKET, "via-proxy.txt", None)
        .await
        .unwrap();
    assert_eq!(&read[..], b"through the proxy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_uploads_resumes_and_cleans_up_over_https_in_v1_and_v4() {
    for signature in signatures() {
        let t = EngineFixture::start_tls(signature.clone()).await;
        assert!(t.client.config().endpoint.contains(TLS_DOMAIN));
        t.server.slow_parts();
        let bytes = data(PART as usize * 12 + 99, 3);
        let path = t.file("resumed.bin", &bytes);
        let mut first = t.engine();
        first.add(vec![path.clone()], "");
        let paused = first.pause_partway("resumed.bin").await;
        first.stop().await;

        // A new engine picks the session up and finishes the same upload.
        t.server.faults().clear();
        let mut second = t.engine();
        let loaded = second
            .until_key_state("resumed.bin", TransferState::Paused)
            .await;
        assert_eq!(loaded.upload_id, paused.upload_id, "{signature:?}");
        second.send(EngineCommand::Resume(loaded.id.clone()));
        second
            .until_key_state("resumed.bin", TransferState::Done)
            .await;
        assert_eq!(t.read_back("resumed.bin").await, bytes, "{signature:?}");

        // Aborting a paused upload leaves nothing on the server.
        t.server.slow_parts();
        let other = t.file("aborted.bin", &data(PART as usize * 12, 4));
        second.add(vec![other], "");
        let aborted = second.pause_partway("aborted.bin").await;
        assert_eq!(t.uploads_in_progress().await.uploads.len(), 1);
        second.send(EngineCommand::Abort(aborted.id.clone()));
        second
            .until("the aborted transfer to be removed", |w| {
                w.events
                    .iter()
                    .any(|e| matches!(e, EngineEvent::Removed(gone) if *gone == aborted.id))
            })
            .await;
        assert_eq!(
            t.uploads_in_progress().await.uploads.len(),
            0,
            "{signature:?}"
        );
        second.stop().await;
    }
}

/// `ossup upload` through a profile that names the CA file and a resolve entry, against
/// `ossup serve --tls-self-signed --domain oss-test.local`, in V1 and V4.
#[test]
fn ossup_upload_reaches_a_tls_serve_through_a_profile_with_its_ca_and_resolve_entry() {
    use support::cli::{self, Home, run, text};
    let server = cli::Server::start(&["--tls-self-signed", "--domain", TLS_DOMAIN]);
    assert!(
        server.endpoint.starts_with("https://127.0.0.1:"),
        "{}",
        server.endpoint
    );
    let port = server.endpoint.rsplit(':').next().unwrap().to_owned();
    let ca_file = server
        .data_dir()
        .join(ossup::server::tls::SELF_SIGNED_CA_FILE);
    let home = Home::new();
    let bytes = data(PART as usize * 3 + 5, 11);
    let path = home.file("report.bin", &bytes);
    for signature in ["v1", "v4"] {
        let config = format!(
            r#"default_profile = "tls"
[profiles.tls]
endpoint = "https://{TLS_DOMAIN}:{port}"
region = "{DEFAULT_REGION}"
signature = "{signature}"
access_key_id = "{id}"
access_key_secret = "{secret}"
ca_bundle = "{ca}"
resolve = ["{bucket}.{TLS_DOMAIN}:{port}:127.0.0.1"]
"#,
            id = cli::KEY_ID,
            secret = cli::KEY_SECRET,
            ca = ca_file.display(),
            bucket = cli::BUCKET,
        );
        std::fs::create_dir_all(home.config_file().parent().unwrap()).unwrap();
        std::fs::write(home.config_file(), &config).unwrap();
        let key = format!("{signature}/report.bin");
        let output = run(home.ossup_bare().args([
            "upload",
            path.to_str().unwrap(),
            &format!("oss://{}/{key}", cli::BUCKET),
            "--part-size",
            "100KiB",
        ]));
        assert!(output.status.success(), "{signature}: {}", text(&output));

        // Read back over https://127.0.0.1 (the certificate names the address too).
        let mut reader = ClientConfig::new(
            server.endpoint.clone(),
            Credentials::new(cli::KEY_ID, cli::KEY_SECRET),
        );
        reader.network.ca_bundle = Some(ca_file.clone());
        let reader = OssClient::new(reader).expect("client");
        assert_eq!(cli::read_object(&reader, &key), bytes, "{signature}");
    }

    // The same profile without the CA file is refused, saying why.
    let config = std::fs::read_to_string(home.config_file()).unwrap();
    let without_ca: String = config
        .lines()
        .filter(|line| !line.starts_with("ca_bundle"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(home.config_file(), without_ca).unwrap();
    let output = run(home.ossup_bare().args([
        "upload",
        path.to_str().unwrap(),
        &format!("oss://{}/refused.bin", cli::BUCKET),
    ]));
    assert!(!output.status.success());
    assert!(
        text(&output).to_ascii_lowercase().contains("certificate"),
        "{}",
        text(&output)
    );
}

#[test]
fn serve_refuses_tls_files_it_cannot_use_in_one_sentence() {
    use support::cli::{run, text};
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        std::process::Command::new(env!("CARGO_BIN_EXE_ossup")).args([
            "serve",
            "--dir",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ]),
    );
    assert!(!output.status.success());
    let shown = text(&output);
    assert!(
        shown.contains("could not read the TLS certificate file /nonexistent/cert.pem"),
        "{shown}"
    );
    assert!(!shown.contains("panicked"), "{shown}");
}
