//! The in-progress uploads view's auto-abort line against the embedded endpoint: it says
//! whether the bucket aborts stale uploads itself, and setting or removing our rule keeps
//! another rule on the bucket exactly as it was.

mod support;

use std::time::Duration;

use egui_kittest::kittest::Queryable;
use ossup::protocol::lifecycle::LifecycleConfiguration;
use ossup::protocol::xml::XML_DECLARATION;
use ossup::server;
use ossup::ui::views::remote_uploads::AutoAbortStatus;
use support::ui::*;

const GENEROUS: Duration = Duration::from_secs(30);
const FOREIGN_RULE: &str = "<Rule><ID>expire-logs</ID><Prefix>logs/</Prefix><Status>Enabled</Status><Expiration><Days>30</Days></Expiration></Rule>";

fn known(app: &ossup::ui::app::OssupApp) -> bool {
    matches!(app.remote_uploads().auto_abort, AutoAbortStatus::Known(_))
}

#[test]
fn the_view_shows_sets_and_removes_the_rule_that_aborts_stale_uploads() {
    let dirs = TestDirs::new();
    let mut harness = harness(setup(&dirs, None));
    let endpoint = harness
        .state()
        .target()
        .expect("connected")
        .endpoint
        .clone();
    let client = other_client(&endpoint);
    let foreign = LifecycleConfiguration::parse(
        format!("{XML_DECLARATION}<LifecycleConfiguration>{FOREIGN_RULE}</LifecycleConfiguration>")
            .as_bytes(),
    )
    .unwrap();
    block_on(client.put_bucket_lifecycle(server::DEFAULT_BUCKET, &foreign)).unwrap();

    click(&mut harness, "In-progress uploads");
    click(&mut harness, "List uploads");
    wait_until(&mut harness, GENEROUS, "the rules", known);
    harness.run_steps(2);
    harness.get_by_label("no lifecycle rule aborts stale uploads here");

    click(&mut harness, "Set auto-abort rule");
    wait_until(&mut harness, GENEROUS, "our rule", |app| {
        matches!(
            &app.remote_uploads().auto_abort,
            AutoAbortStatus::Known(Some(_))
        )
    });
    harness.run_steps(2);
    harness.get_by_label("uploads older than 7 days are aborted by the bucket");
    let rules = block_on(client.get_bucket_lifecycle(server::DEFAULT_BUCKET))
        .unwrap()
        .expect("rules");
    assert_eq!(rules.rules.len(), 2);
    assert_eq!(rules.rules[0].source.xml(), Some(FOREIGN_RULE));
    assert!(rules.rule("ossup-abort-all").is_some());

    click(&mut harness, "Remove auto-abort rule");
    wait_until(&mut harness, GENEROUS, "the removal", |app| {
        app.remote_uploads().auto_abort == AutoAbortStatus::Known(None)
    });
    let rules = block_on(client.get_bucket_lifecycle(server::DEFAULT_BUCKET))
        .unwrap()
        .expect("the other rule stays");
    assert_eq!(rules.rules.len(), 1);
    assert_eq!(rules.rules[0].source.xml(), Some(FOREIGN_RULE));
}
