//! `ossup uploads auto-abort` against a real `ossup serve` whose bucket already has
//! someone else's lifecycle rule, which must come back exactly as it was.

mod support;

use ossup::protocol::lifecycle::LifecycleConfiguration;
use ossup::protocol::xml::XML_DECLARATION;
use support::cli::{BUCKET, Home, Server, run, runtime, text};

const FOREIGN_RULE: &str = "<Rule><ID>expire-logs</ID><Prefix>logs/</Prefix><Status>Enabled</Status><Expiration><Days>30</Days></Expiration><Transition><Days>7</Days><StorageClass>IA</StorageClass></Transition><Tag><Key>owner</Key><Value>ops</Value></Tag><NotYetModelled>x</NotYetModelled></Rule>";

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn auto_abort_sets_shows_and_removes_our_rule_only() {
    let server = Server::start(&[]);
    let home = Home::new();
    let client = server.client();
    let foreign = LifecycleConfiguration::parse(
        format!("{XML_DECLARATION}<LifecycleConfiguration>{FOREIGN_RULE}</LifecycleConfiguration>")
            .as_bytes(),
    )
    .unwrap();
    runtime()
        .block_on(client.put_bucket_lifecycle(BUCKET, &foreign))
        .unwrap();
    let rules = || {
        runtime()
            .block_on(client.get_bucket_lifecycle(BUCKET))
            .unwrap()
    };
    let location = format!("oss://{BUCKET}/tmp/");

    let output = run(home
        .ossup(&server)
        .args(["uploads", "auto-abort", &location, "--show"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        stdout(&output).contains("No lifecycle rule aborts uploads"),
        "{}",
        text(&output)
    );

    let output =
        run(home
            .ossup(&server)
            .args(["uploads", "auto-abort", &location, "--after", "7d"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let output =
        run(home
            .ossup(&server)
            .args(["uploads", "auto-abort", &location, "--after", "3d"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let now = rules().expect("rules");
    assert_eq!(now.rules.len(), 2, "{}", now.to_xml());
    assert_eq!(now.rules[0].source.xml(), Some(FOREIGN_RULE));
    let ours = now.rule("ossup-abort-tmp/").expect("our rule");
    assert_eq!(ours.prefix, "tmp/");
    assert_eq!(ours.abort_multipart_upload.as_ref().unwrap().days, Some(3));

    let output = run(home
        .ossup(&server)
        .args(["uploads", "auto-abort", &location, "--show"]));
    let shown = stdout(&output);
    assert!(
        shown.contains("ossup-abort-tmp/") && shown.contains("after 3 day(s)"),
        "{shown}"
    );
    assert!(!shown.contains("expire-logs"), "{shown}");

    let output =
        run(home
            .ossup(&server)
            .args(["uploads", "auto-abort", &location, "--after", "36h"]));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));

    let output = run(home
        .ossup(&server)
        .args(["uploads", "auto-abort", &location, "--off"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let now = rules().expect("the foreign rule stays");
    assert_eq!(now.rules.len(), 1);
    assert_eq!(now.rules[0].source.xml(), Some(FOREIGN_RULE));

    // Our rule alone: --off removes the configuration.
    runtime()
        .block_on(client.delete_bucket_lifecycle(BUCKET))
        .unwrap();
    let whole = format!("oss://{BUCKET}");
    let output = run(home
        .ossup(&server)
        .args(["uploads", "auto-abort", &whole, "--after", "7d"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(rules().expect("ours").rule("ossup-abort-all").is_some());
    let output = run(home
        .ossup(&server)
        .args(["uploads", "auto-abort", &whole, "--off"]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(rules(), None);
}
