//! Credentials that expire: a profile's external command hands out short-lived STS keys
//! which `ossup serve` checks (token and expiry); uploads outlive a token without a
//! failed part, and the server refuses expired, missing and wrong tokens.

mod support;

use std::time::Duration;

use ossup::engine::{PartState, TransferState};
use ossup::protocol::client::Body;
use ossup::protocol::client::{ClientConfig, PutOptions};
use ossup::protocol::error::code;
use ossup::protocol::{Credentials, OssClient};
use ossup::server::permissions::Permissions;
use support::data::data;
use support::engine::{EngineFixture, PART, tuning};
use support::server::{BUCKET, TestServer, initiate};
use support::sts::{TOKEN_LIFETIME, TokenCommand, temporary_key};

fn bytes(text: &str) -> Body {
    Body::Bytes(bytes::Bytes::copy_from_slice(text.as_bytes()))
}

/// A client signing with exactly these credentials (no refresh).
fn fixed_client(endpoint: &str, credentials: Credentials) -> OssClient {
    OssClient::new(ClientConfig::new(endpoint, credentials)).expect("client")
}

#[tokio::test]
async fn a_multipart_upload_outlives_its_token_without_a_failed_part() {
    let fixture = EngineFixture::start().await;
    let command = TokenCommand::new(&fixture.server.server, 4);
    let client = command.client(
        &fixture.endpoint(),
        command.provider_on_server_clock(&fixture.server.server),
    );
    fixture.server.slow_parts();
    let content = data(12 * PART as usize, 7);
    let file = fixture.file("long.bin", &content);
    let mut engine = fixture.engine_as(client, tuning());
    engine.add(vec![file], "sts/");
    engine
        .until("two parts done", |w| {
            w.row_for_key("sts/long.bin")
                .is_some_and(|row| row.parts.iter().filter(|p| **p == PartState::Done).count() >= 2)
        })
        .await;
    // The first token expires while parts are in flight.
    fixture.server.server.advance_clock(TOKEN_LIFETIME).await;
    let row = engine
        .until_key_state("sts/long.bin", TransferState::Done)
        .await;
    assert!(row.error.is_none(), "{:?}", row.error);
    let retried = engine.events.iter().any(|event| {
        format!("{event:?}").contains("Retrying") || format!("{event:?}").contains("Failed")
    });
    assert!(!retried, "a part was retried or failed");
    assert!(
        command.runs() >= 2,
        "the command ran {} times",
        command.runs()
    );
    assert_eq!(fixture.read_back("sts/long.bin").await, content);
}

#[tokio::test]
async fn credentials_are_refreshed_ahead_of_expiry_and_after_a_refusal() {
    let server = TestServer::start().await;
    let command = TokenCommand::new(&server.server, 4);
    let ahead = command.client(
        &server.endpoint(),
        command.provider_on_server_clock(&server.server),
    );
    ahead
        .put_object(BUCKET, "a", bytes("one"), &PutOptions::default(), None)
        .await
        .expect("first token");
    assert_eq!(command.runs(), 1);
    // Two minutes left: due, so the next request runs the command first.
    server
        .server
        .advance_clock(TOKEN_LIFETIME - Duration::from_secs(120))
        .await;
    ahead
        .put_object(BUCKET, "a", bytes("two"), &PutOptions::default(), None)
        .await
        .expect("second token");
    assert_eq!(command.runs(), 2);

    // A client on the system clock does not see the expiry coming: the server refuses
    // the token, and the client runs the command and sends the request once more.
    let unaware = command.client(&server.endpoint(), command.provider_on_system_clock());
    let upload_id = initiate(&unaware, BUCKET, "b").await;
    assert_eq!(command.runs(), 3);
    server.server.advance_clock(TOKEN_LIFETIME * 3).await;
    unaware
        .upload_part(BUCKET, "b", &upload_id, 1, bytes("part"), None)
        .await
        .expect("refreshed after the refusal");
    assert_eq!(command.runs(), 4);
}

#[tokio::test]
async fn expired_missing_and_wrong_tokens_are_refused() {
    let server = TestServer::start().await;
    let key = temporary_key(1, server.server.clock().now() + TOKEN_LIFETIME);
    server.server.add_sts_token(key.clone());
    let endpoint = server.endpoint();
    let with = |token: Option<&str>| {
        let credentials = Credentials::new(&key.access_key_id, &key.access_key_secret);
        fixed_client(
            &endpoint,
            match token {
                Some(token) => credentials.with_security_token(token),
                None => credentials,
            },
        )
    };
    let put = |client: OssClient| async move {
        client
            .put_object(BUCKET, "t", bytes("x"), &PutOptions::default(), None)
            .await
    };
    put(with(Some(&key.security_token)))
        .await
        .expect("valid token");
    for token in [None, Some("sts-token-2-TokenValue")] {
        let error = put(with(token)).await.expect_err("refused");
        assert!(error.is_code(code::INVALID_ACCESS_KEY_ID), "{error}");
    }
    server.server.advance_clock(TOKEN_LIFETIME).await;
    let error = put(with(Some(&key.security_token)))
        .await
        .expect_err("expired");
    assert!(error.is_code(code::SECURITY_TOKEN_EXPIRED), "{error}");
    let shown = format!("{error} {error:?}");
    assert!(
        !shown.contains("TokenValue") && !shown.contains("SecretValue"),
        "{shown}"
    );
}

#[tokio::test]
async fn v4_and_permissions_apply_to_temporary_keys() {
    let server = TestServer::start_with(|config| {
        config.permissions = vec![(
            "STS.TestKey1".to_owned(),
            Permissions::parse("upload-only").expect("preset"),
        )];
    })
    .await;
    let key = temporary_key(1, server.server.clock().now() + TOKEN_LIFETIME);
    server.server.add_sts_token(key.clone());
    let mut config = ClientConfig::new(
        server.endpoint(),
        Credentials::new(&key.access_key_id, &key.access_key_secret)
            .with_security_token(&key.security_token),
    );
    config.signature = ossup::protocol::signing::SignatureVersion::V4 {
        region: ossup::server::DEFAULT_REGION.to_owned(),
    };
    let client = OssClient::new(config).expect("client");
    client
        .put_object(BUCKET, "v4", bytes("x"), &PutOptions::default(), None)
        .await
        .expect("V4 with the token");
    let error = client
        .get_object(BUCKET, "v4", None)
        .await
        .expect_err("upload-only");
    assert!(error.is_code(code::ACCESS_DENIED), "{error}");
}
