//! ListObjectsV2 from `OssClient` against the real `ossup serve` on 127.0.0.1: paging
//! past 1000 keys, common prefixes across page boundaries, start-after, URL-encoded
//! awkward keys, fetch-owner, the all-pages stream, both signature versions, and the
//! errors bad arguments get.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use ossup::protocol::client::{Body, ClientConfig, ListObjectsV2Params, PutOptions};
use ossup::protocol::signing::SignatureVersion;
use ossup::protocol::xml::ListObjectsV2Result;
use ossup::protocol::{Credentials, OssClient};
use ossup::server;
use support::server::{BUCKET, TestServer};

/// PutObjects in flight while filling a bucket: enough to keep the server busy, few
/// enough that none waits long behind the others on a loaded machine.
const PUTS_IN_FLIGHT: usize = 4;

/// Creates every key as an empty object, many at a time.
async fn put_empty(client: &OssClient, keys: &[String]) {
    futures_util::stream::iter(keys)
        .map(|key| async move {
            client
                .put_object(
                    BUCKET,
                    key,
                    Body::Bytes(Bytes::new()),
                    &PutOptions::default(),
                    None,
                )
                .await
                .unwrap_or_else(|e| panic!("put {key:?}: {e}"))
        })
        .buffer_unordered(PUTS_IN_FLIGHT)
        .for_each(|_| async {})
        .await;
}

fn v4_client(server: &TestServer) -> OssClient {
    let mut config = ClientConfig::new(
        server.endpoint(),
        Credentials::new(
            server::DEFAULT_ACCESS_KEY_ID,
            server::DEFAULT_ACCESS_KEY_SECRET,
        ),
    );
    config.signature = SignatureVersion::V4 {
        region: server::DEFAULT_REGION.to_owned(),
    };
    config.io_timeout = Duration::from_secs(10);
    OssClient::new(config).expect("V4 client")
}

/// Every page from `params` on, following tokens by hand, checking what each page says
/// about itself: KeyCount, the page size, tokens present exactly on truncated pages.
async fn pages_by_hand(
    client: &OssClient,
    mut params: ListObjectsV2Params,
) -> Vec<ListObjectsV2Result> {
    let mut pages = Vec::new();
    loop {
        let page = client
            .list_objects_v2(BUCKET, &params)
            .await
            .unwrap_or_else(|e| panic!("page {} of {params:?}: {e}", pages.len()));
        let entries = page.contents.len() + page.common_prefixes.len();
        assert_eq!(page.key_count as usize, entries, "KeyCount");
        assert_eq!(page.max_keys, params.max_keys.unwrap_or(100));
        assert!(entries <= page.max_keys as usize, "{entries} > MaxKeys");
        assert_eq!(page.continuation_token, params.continuation_token);
        assert_eq!(page.name, BUCKET);
        let next = page.next_continuation_token.clone();
        let truncated = page.is_truncated;
        pages.push(page);
        if !truncated {
            assert_eq!(next, None, "a last page has no NextContinuationToken");
            return pages;
        }
        assert!(pages.len() < 10_000, "paging must end");
        params.continuation_token = Some(next.expect("a truncated page has a token"));
    }
}

/// Keys and common prefixes of the pages in the order listed.
fn listed_names(pages: &[ListObjectsV2Result]) -> Vec<String> {
    let mut names = Vec::new();
    for page in pages {
        let keys: Vec<&str> = page.contents.iter().map(|o| o.key.as_str()).collect();
        assert!(keys.is_sorted(), "keys of a page in order: {keys:?}");
        names.extend(keys.into_iter().map(str::to_owned));
        names.extend(page.common_prefixes.iter().map(|p| p.prefix.clone()));
    }
    names
}

/// What a listing with `prefix` and `/` as delimiter must show, worked out from the keys.
fn expected_with_delimiter(keys: &[String], prefix: &str) -> Vec<String> {
    keys.iter()
        .filter_map(|key| key.strip_prefix(prefix).map(|rest| (key, rest)))
        .map(|(key, rest)| match rest.find('/') {
            Some(at) => format!("{prefix}{}", &rest[..=at]),
            None => key.clone(),
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_2500_keys_by_1000_by_7_and_by_default() {
    let server = TestServer::start_in_memory().await;
    let client = server.client();
    let keys: Vec<String> = (0..2500).map(|i| format!("flat/{i:05}")).collect();
    put_empty(&client, &keys).await;

    let by_1000 = pages_by_hand(
        &client,
        ListObjectsV2Params {
            prefix: Some("flat/".into()),
            max_keys: Some(1000),
            ..ListObjectsV2Params::default()
        },
    )
    .await;
    let sizes: Vec<u32> = by_1000.iter().map(|p| p.key_count).collect();
    assert_eq!(sizes, [1000, 1000, 500]);
    assert_eq!(listed_names(&by_1000), keys);
    let object = &by_1000[0].contents[0];
    assert_eq!((object.size, object.object_type.as_str()), (0, "Normal"));
    assert_eq!(object.etag, "\"D41D8CD98F00B204E9800998ECF8427E\"");
    assert!(object.owner.is_none(), "no Owner unless asked for");

    let by_7 = pages_by_hand(
        &client,
        ListObjectsV2Params {
            max_keys: Some(7),
            ..ListObjectsV2Params::default()
        },
    )
    .await;
    assert_eq!(by_7.len(), 2500usize.div_ceil(7));
    assert_eq!(listed_names(&by_7), keys);

    // The stream, with the server's default page of 100, through V4 signatures.
    let mut pages = 0;
    let mut streamed = Vec::new();
    let mut stream = Box::pin(v4_client(&server).list_objects_v2_pages(
        BUCKET,
        &ListObjectsV2Params {
            fetch_owner: true,
            ..ListObjectsV2Params::default()
        },
    ));
    while let Some(page) = stream.try_next().await.expect("a page") {
        pages += 1;
        assert_eq!(page.key_count, page.contents.len() as u32);
        assert!(
            page.contents
                .iter()
                .all(|o| o.owner.as_ref().is_some_and(|owner| !owner.id.is_empty()))
        );
        streamed.extend(page.contents.into_iter().map(|o| o.key));
    }
    assert_eq!(pages, 25);
    assert_eq!(streamed, keys);

    // A caller that stops early sends no further request and gets what it took.
    let first_two: Vec<ListObjectsV2Result> = client
        .list_objects_v2_pages(
            BUCKET,
            &ListObjectsV2Params {
                max_keys: Some(1000),
                ..ListObjectsV2Params::default()
            },
        )
        .take(2)
        .try_collect()
        .await
        .expect("two pages");
    assert_eq!(listed_names(&first_two), keys[..2000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delimiter_common_prefixes_across_page_boundaries() {
    let server = TestServer::start_in_memory().await;
    let client = server.client();
    // Files and folders of the same name side by side, so pages end on either.
    let mut keys = Vec::new();
    for folder in 0..50 {
        keys.push(format!("tree/n{folder:02}"));
        for file in 0..20 {
            keys.push(format!("tree/n{folder:02}/f{file:02}"));
        }
        keys.push(format!("tree/n{folder:02}/deeper/x"));
    }
    keys.sort();
    put_empty(&client, &keys).await;
    assert!(keys.len() > 1000);

    let expected = expected_with_delimiter(&keys, "tree/");
    assert_eq!(expected.len(), 100);
    for max_keys in [1, 7, 1000] {
        for client in [client.clone(), v4_client(&server)] {
            let pages = pages_by_hand(
                &client,
                ListObjectsV2Params {
                    prefix: Some("tree/".into()),
                    delimiter: Some("/".into()),
                    max_keys: Some(max_keys),
                    ..ListObjectsV2Params::default()
                },
            )
            .await;
            let names = listed_names(&pages);
            assert_eq!(sorted(names.clone()), expected, "max-keys {max_keys}");
            assert_eq!(
                names.iter().collect::<BTreeSet<_>>().len(),
                names.len(),
                "nothing listed twice with max-keys {max_keys}"
            );
            assert_eq!(pages.len(), 100usize.div_ceil(max_keys as usize));
            assert!(
                pages
                    .iter()
                    .all(|p| p.delimiter == "/" && p.prefix == "tree/")
            );
        }
    }
    // A page of 7 ends on a common prefix at least once, so resuming after one is tested.
    let by_7 = pages_by_hand(
        &client,
        ListObjectsV2Params {
            prefix: Some("tree/".into()),
            delimiter: Some("/".into()),
            max_keys: Some(7),
            ..ListObjectsV2Params::default()
        },
    )
    .await;
    assert!(by_7.iter().any(|page| {
        let last_key = page.contents.last().map(|o| o.key.as_str());
        let last_prefix = page.common_prefixes.last().map(|p| p.prefix.as_str());
        page.is_truncated && last_prefix > last_key
    }));

    // One folder down, with its own sub-folder rolled up.
    let inside = pages_by_hand(
        &client,
        ListObjectsV2Params {
            prefix: Some("tree/n07/".into()),
            delimiter: Some("/".into()),
            max_keys: Some(6),
            ..ListObjectsV2Params::default()
        },
    )
    .await;
    assert_eq!(
        sorted(listed_names(&inside)),
        expected_with_delimiter(&keys, "tree/n07/")
    );
    assert!(
        inside
            .iter()
            .flat_map(|p| &p.common_prefixes)
            .any(|p| p.prefix == "tree/n07/deeper/")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_after_and_tokens_resume_where_asked() {
    let server = TestServer::start_in_memory().await;
    let client = server.client();
    let keys: Vec<String> = (0..40).map(|i| format!("s/{i:03}")).collect();
    put_empty(&client, &keys).await;

    let after = |start_after: &str, max_keys: u32| ListObjectsV2Params {
        start_after: Some(start_after.to_owned()),
        max_keys: Some(max_keys),
        ..ListObjectsV2Params::default()
    };
    // An existing key, one that falls between keys, one before all, one after all.
    let page = client
        .list_objects_v2(BUCKET, &after("s/019", 5))
        .await
        .unwrap();
    assert_eq!(page.start_after.as_deref(), Some("s/019"));
    assert_eq!(listed_names(std::slice::from_ref(&page)), keys[20..25]);
    assert!(page.is_truncated);
    let between = client
        .list_objects_v2(BUCKET, &after("s/019x", 100))
        .await
        .unwrap();
    assert_eq!(listed_names(std::slice::from_ref(&between)), keys[20..]);
    assert!(!between.is_truncated);
    let before = client
        .list_objects_v2(BUCKET, &after("a", 100))
        .await
        .unwrap();
    assert_eq!(before.key_count, 40);
    let past = client
        .list_objects_v2(BUCKET, &after("t", 100))
        .await
        .unwrap();
    assert_eq!((past.key_count, past.is_truncated), (0, false));
    assert!(past.contents.is_empty());

    // Every page after the first, start-after still set: the token decides.
    let mut params = after("s/019", 5);
    params.continuation_token = page.next_continuation_token.clone();
    let pages = pages_by_hand(&client, params).await;
    assert_eq!(listed_names(&pages), keys[25..]);
    assert!(
        pages
            .iter()
            .all(|p| p.start_after.as_deref() == Some("s/019"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_keys_survive_url_encoding() {
    let server = TestServer::start_in_memory().await;
    let client = server.client();
    let keys: Vec<String> = [
        "odd/a b/1 2.txt",
        "odd/a b/3+4.txt",
        "odd/a+b/x",
        "odd/a%20b",
        "odd/a%2Fb/%.txt",
        "odd/ü/文件 ü+é.bin",
        "odd/ü/~tilde_dash-dot.",
        "odd/plain",
        "odd/space at end ",
    ]
    .map(str::to_owned)
    .into();
    put_empty(&client, &keys).await;

    for (client, name) in [(client.clone(), "V1"), (v4_client(&server), "V4")] {
        let flat = pages_by_hand(
            &client,
            ListObjectsV2Params {
                prefix: Some("odd/".into()),
                max_keys: Some(2),
                ..ListObjectsV2Params::default()
            },
        )
        .await;
        assert_eq!(listed_names(&flat), sorted(keys.clone()), "{name}");

        let folders = pages_by_hand(
            &client,
            ListObjectsV2Params {
                prefix: Some("odd/".into()),
                delimiter: Some("/".into()),
                max_keys: Some(1),
                ..ListObjectsV2Params::default()
            },
        )
        .await;
        assert_eq!(
            sorted(listed_names(&folders)),
            expected_with_delimiter(&keys, "odd/"),
            "{name}"
        );

        // Prefix, start-after and the echoed values with a space, a plus and a percent.
        let page = client
            .list_objects_v2(
                BUCKET,
                &ListObjectsV2Params {
                    prefix: Some("odd/a".into()),
                    start_after: Some("odd/a b/3+4.txt".into()),
                    delimiter: Some("/".into()),
                    ..ListObjectsV2Params::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(page.prefix, "odd/a");
        assert_eq!(page.start_after.as_deref(), Some("odd/a b/3+4.txt"));
        assert_eq!(
            listed_names(&[page]),
            ["odd/a%20b", "odd/a%2Fb/", "odd/a+b/"]
        );

        let under_space = client
            .list_objects_v2(
                BUCKET,
                &ListObjectsV2Params {
                    prefix: Some("odd/ü/文件 ü".into()),
                    ..ListObjectsV2Params::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(listed_names(&[under_space]), ["odd/ü/文件 ü+é.bin"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_get_clear_errors() {
    let server = TestServer::start_in_memory().await;
    let client = server.client();
    put_empty(&client, &["one".to_owned()]).await;
    let with_max = |max_keys| ListObjectsV2Params {
        max_keys: Some(max_keys),
        ..ListObjectsV2Params::default()
    };
    for max_keys in [0, 1001, u32::MAX] {
        let error = client
            .list_objects_v2(BUCKET, &with_max(max_keys))
            .await
            .expect_err("max-keys out of bounds");
        assert_eq!(error.code(), Some("InvalidArgument"), "max-keys {max_keys}");
    }
    let full = client
        .list_objects_v2(BUCKET, &with_max(1000))
        .await
        .unwrap();
    assert_eq!(full.key_count, 1);

    let foreign_token = ListObjectsV2Params {
        continuation_token: Some("CgJiYw--".into()),
        ..ListObjectsV2Params::default()
    };
    let error = client
        .list_objects_v2(BUCKET, &foreign_token)
        .await
        .expect_err("a token we never gave");
    assert_eq!(error.code(), Some("InvalidArgument"));
    let service = error.service().expect("a service error");
    assert_eq!(service.detail("ArgumentName"), Some("continuation-token"));

    let missing = client
        .list_objects_v2("no-such-bucket", &ListObjectsV2Params::default())
        .await
        .expect_err("a bucket that does not exist");
    assert_eq!(missing.code(), Some("NoSuchBucket"));
    let stream_error = client
        .list_objects_v2_pages(BUCKET, &with_max(1001))
        .try_collect::<Vec<_>>()
        .await
        .expect_err("the stream ends with the error");
    assert_eq!(stream_error.code(), Some("InvalidArgument"));
}
