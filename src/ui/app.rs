//! The eframe app: each frame drains engine events and job results into the view models,
//! draws the views (which push [`UiCommand`]s), then applies those commands by sending
//! engine commands or starting background jobs. Nothing here awaits or does I/O on the
//! UI thread once the window is up.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui::{RichText, Ui};

use crate::config::window::ThemeChoice;
use crate::config::{AppPaths, ConfigFile, EnvVars};
use crate::engine::remote_uploads::{self, LocalSession};
use crate::engine::session_store::SessionStore;
use crate::engine::{
    AddOptions, Destination, EngineCommand, EngineEvent, EngineHandle, OverwritePolicy,
};
use crate::protocol::{ObjectRef, OssClient};

use super::UiError;
use super::command::{PickKind, UiCommand};
use super::connection::{self, ConnectRequest, Connection, EmbeddedEndpoint, TargetInfo};
use super::history::HistoryModel;
use super::jobs::{JobResult, Jobs};
use super::notifications::{Notifier, notifications_for, outcome_of};
use super::overwrite::{self, ExistingChoice, ExistingCount, HeldAdd, OverwriteState};
use super::profile_probe;
use super::quit::QuitGuard;
use super::remote_page::{PageRequest, change_auto_abort, fetch_protection, fetch_uploads_page};
use super::shortcuts::{ShortcutScope, shortcuts_ui};
use super::single_instance::Inbox;
use super::state::TransfersModel;
use super::totals::{ThroughputHistory, Totals};
use super::transfer_list::ListAction;
use super::views::history::history_ui;
use super::views::overwrite_question::overwrite_question_ui;
use super::views::remote_uploads::{AutoAbortStatus, RemoteUploadsModel, remote_uploads_ui};
use super::views::settings::{SettingsForm, settings_ui};
use super::views::transfers::{TransfersViewState, transfers_ui};
use super::widgets::drop_overlay::{drop_overlay_ui, dropped_paths};
use super::widgets::part_map;
use super::widgets::throughput_graph::throughput_graph_ui;

/// What the window needs to start.
#[derive(Debug, Clone)]
pub struct AppSetup {
    pub paths: AppPaths,
    /// `OSS_*` variables (read once; tests pass their own).
    pub env: EnvVars,
    /// Uploaded right after start.
    pub add_paths: Vec<PathBuf>,
    /// Delay the embedded endpoint adds to each request.
    pub embedded_delay: Option<Duration>,
}

/// The window's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    #[default]
    Transfers,
    History,
    RemoteUploads,
    Settings,
}

/// Where new transfers go, as typed in the toolbar.
#[derive(Debug, Clone, Default)]
pub struct DestinationForm {
    pub bucket: String,
    pub prefix: String,
    /// Files added next skip objects of the same size that are not older (one listing
    /// of the destination decides), as `ossup upload --skip-unchanged` does.
    pub skip_unchanged: bool,
}

impl DestinationForm {
    /// What the toolbar's "Skip unchanged" toggle does with existing objects.
    pub fn overwrite_policy(&self) -> OverwritePolicy {
        if self.skip_unchanged {
            ExistingChoice::SkipUnchanged.policy()
        } else {
            ExistingChoice::Overwrite.policy()
        }
    }

    /// The options files added from the window carry, once `overwrite` is decided.
    pub fn add_options(overwrite: OverwritePolicy) -> AddOptions {
        AddOptions {
            overwrite,
            ..AddOptions::default()
        }
    }

    /// The engine's destination on the target labelled `target`; a prefix is treated as
    /// a folder (`/` appended).
    pub fn to_destination(&self, target: &str) -> Result<Destination, String> {
        let bucket = self.bucket.trim();
        if bucket.is_empty() {
            return Err("Choose a bucket in the toolbar first.".into());
        }
        let mut prefix = self.prefix.trim().trim_start_matches('/').to_owned();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(Destination::new(target, bucket, prefix))
    }

    /// `oss://bucket/prefix/`.
    pub fn label(&self) -> String {
        match self.to_destination("") {
            Ok(destination) => ObjectRef::new(&destination.bucket, &destination.prefix).to_string(),
            Err(_) => String::from("(no bucket chosen)"),
        }
    }
}

/// The ossup window.
pub struct OssupApp {
    ctx: egui::Context,
    paths: AppPaths,
    env: EnvVars,
    embedded_delay: Option<Duration>,
    config: ConfigFile,
    /// The one engine, uploading to every target the window has used. Declared before
    /// `embedded` so the engine stops before the endpoint it talks to.
    engine: Option<EngineHandle>,
    /// The target new drops go to (and the in-progress uploads view looks at).
    connection: Option<Connection>,
    embedded: Option<EmbeddedEndpoint>,
    /// A target switch is running in the background.
    connecting: bool,
    /// The embedded endpoint is being started beside the current target (it had uploads
    /// left); a switch to it waits for that, so two servers never share its folder.
    embedded_starting: bool,
    jobs: Jobs,
    transfers: TransfersModel,
    transfers_view: TransfersViewState,
    history: HistoryModel,
    remote: RemoteUploadsModel,
    settings: SettingsForm,
    tab: Tab,
    destination: DestinationForm,
    /// Adds being checked for existing objects, or waiting for the answer to the question.
    overwrite: OverwriteState,
    /// A one-line message in the status bar (hints, refusals, errors).
    status: Option<String>,
    picker_open: bool,
    /// Target to switch to once the settings being saved are on disk (`Some(None)`: the
    /// embedded endpoint, when the active profile was deleted).
    pending_switch: Option<Option<String>>,
    /// A profile saved while another target is chosen: the engine gets its new client
    /// once the file is written, and the chosen target stays.
    pending_refresh: Option<String>,
    /// Paths a second `ossup --add` handed over, when this window listens for them.
    inbox: Option<Inbox>,
    quit: QuitGuard,
    /// Tells the desktop when uploads end, off the UI thread.
    notifier: Notifier,
    /// The total speed of the last minutes, for the status bar's graph.
    throughput: ThroughputHistory,
    /// The title last given to the window, so it is sent again only when it changes.
    window_title: String,
}

impl OssupApp {
    /// Loads the configuration and connects to its target (starting the embedded endpoint
    /// when nothing is configured). Runs before the first frame.
    pub fn new(ctx: egui::Context, setup: AppSetup) -> Result<Self, UiError> {
        let mut status = None;
        let config = match ConfigFile::load(&setup.paths.config_file) {
            Ok(config) => config,
            Err(error) => {
                status = Some(format!("{error}. Using default settings."));
                ConfigFile::default()
            }
        };
        let mut settings = SettingsForm::from_config(&config);
        if let Some(warning) = config.exposed_secret_warning(&setup.paths.config_file) {
            settings.message = Some(Err(format!("Warning: {warning}.")));
        }
        let mut app = Self {
            jobs: Jobs::new(ctx.clone()),
            ctx,
            settings,
            paths: setup.paths,
            env: setup.env,
            embedded_delay: setup.embedded_delay,
            config,
            engine: None,
            connection: None,
            embedded: None,
            connecting: false,
            embedded_starting: false,
            transfers: TransfersModel::default(),
            transfers_view: TransfersViewState::default(),
            history: HistoryModel::default(),
            remote: RemoteUploadsModel::default(),
            tab: Tab::default(),
            destination: DestinationForm::default(),
            overwrite: OverwriteState::default(),
            status,
            picker_open: false,
            pending_switch: None,
            pending_refresh: None,
            inbox: None,
            quit: QuitGuard::default(),
            notifier: Notifier::default(),
            throughput: ThroughputHistory::default(),
            window_title: String::new(),
        };
        let request = app.connect_request(None, false);
        let needs_embedded =
            crate::config::resolve(&app.config, &crate::config::Overrides::default(), &app.env)
                .map(|target| target.origin == crate::config::TargetOrigin::LocalDefault)
                .unwrap_or(false);
        let result = if needs_embedded {
            // Without the endpoint the window still opens, to let a profile be added.
            EmbeddedEndpoint::start(app.paths.server_dir.clone(), app.embedded_delay).and_then(
                |embedded| {
                    let request = ConnectRequest {
                        embedded_endpoint: Some(embedded.endpoint()),
                        ..request
                    };
                    app.embedded = Some(embedded);
                    connection::connect(request)
                },
            )
        } else {
            connection::connect(request)
        };
        match result {
            Ok(connection) => {
                app.install_connection(connection);
                if !needs_embedded {
                    app.show_embedded_leftovers();
                }
            }
            Err(error) => {
                app.status = Some(format!(
                    "Could not connect: {error}. Add or fix a profile in Settings."
                ));
                app.tab = Tab::Settings;
            }
        }
        if let Some(profile) = app.target().and_then(|t| t.profile.clone()) {
            app.settings.edit_profile(&app.config, &profile);
        }
        if !setup.add_paths.is_empty() {
            app.apply(UiCommand::AddPaths(setup.add_paths));
        }
        Ok(app)
    }

    /// The transfers as the window shows them.
    pub fn transfers(&self) -> &TransfersModel {
        &self.transfers
    }

    /// What the transfers view holds between frames (selection, unfolded failures).
    pub fn transfers_view(&self) -> &TransfersViewState {
        &self.transfers_view
    }

    /// The finished uploads as the history view holds them.
    pub fn history(&self) -> &HistoryModel {
        &self.history
    }

    pub fn remote_uploads(&self) -> &RemoteUploadsModel {
        &self.remote
    }

    pub fn settings(&self) -> &SettingsForm {
        &self.settings
    }

    /// Where the window uploads to, once connected.
    pub fn target(&self) -> Option<&TargetInfo> {
        self.connection.as_ref().map(|c| &c.target)
    }

    /// The built-in endpoint's address while it runs (`None`: not started).
    pub fn embedded_endpoint(&self) -> Option<String> {
        self.embedded.as_ref().map(EmbeddedEndpoint::endpoint)
    }

    pub fn config(&self) -> &ConfigFile {
        &self.config
    }

    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// The question about existing objects on screen, as it reads.
    pub fn overwrite_question(&self) -> Option<String> {
        self.overwrite.questions.front().map(|q| q.text())
    }

    /// A check for existing objects is running.
    pub fn is_checking_existing(&self) -> bool {
        self.overwrite.checking > 0
    }

    pub fn tab(&self) -> Tab {
        self.tab
    }

    /// A target switch is running.
    pub fn is_connecting(&self) -> bool {
        self.connecting
    }

    /// Whether the look for the built-in endpoint's leftovers (and its start beside a
    /// profile) is still under way.
    pub fn is_looking_for_embedded_leftovers(&self) -> bool {
        self.embedded_starting
    }

    /// The title the window was last given ("ossup — 42% · …" while uploading).
    pub fn window_title(&self) -> &str {
        &self.window_title
    }

    /// One frame: fold in what arrived, draw, then act on what the drawing asked for.
    pub fn frame_ui(&mut self, ui: &mut Ui) {
        self.drain_events();
        let totals = Totals::of(&self.transfers);
        self.totals_ui(ui.ctx(), &totals);
        let mut commands = Vec::new();
        let dropped = dropped_paths(ui.ctx());
        if !dropped.is_empty() {
            commands.push(UiCommand::AddPaths(dropped));
        }
        self.hand_overs(ui.ctx(), &mut commands);
        self.close_ui(ui.ctx(), &mut commands);
        self.draw_ui(ui, &totals, &mut commands);
        for command in commands {
            self.apply(command);
        }
        self.theme_ui(ui.ctx());
    }

    /// The window title says how far the uploads are, and the graph takes its sample;
    /// while bytes move the window wakes each second for the next one, and never when idle.
    fn totals_ui(&mut self, ctx: &egui::Context, totals: &Totals) {
        let title = totals.window_title();
        if title != self.window_title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.window_title = title;
        }
        let now = Instant::now();
        self.throughput.record(now, totals);
        if let Some(next) = self.throughput.next_sample_in(now, totals) {
            ctx.request_repaint_after(next);
        }
    }

    /// The theme the settings form names, saved or only chosen: shown at once, and at
    /// start (the form starts from the file).
    fn theme_ui(&self, ctx: &egui::Context) {
        let wanted = match self.settings.window.theme {
            ThemeChoice::System => egui::ThemePreference::System,
            ThemeChoice::Light => egui::ThemePreference::Light,
            ThemeChoice::Dark => egui::ThemePreference::Dark,
        };
        if ctx.options(|options| options.theme_preference) != wanted {
            ctx.set_theme(wanted);
        }
    }

    /// Takes paths from `inbox` from now on (see [`super::single_instance`]).
    pub fn accept_hand_overs(&mut self, inbox: Inbox) {
        self.inbox = Some(inbox);
    }

    /// Paths another `ossup --add` handed over: added, and the window comes to the front.
    fn hand_overs(&self, ctx: &egui::Context, commands: &mut Vec<UiCommand>) {
        let Some(inbox) = &self.inbox else {
            return;
        };
        for paths in inbox.drain() {
            ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
            if !paths.is_empty() {
                commands.push(UiCommand::AddPaths(paths));
            }
        }
    }

    /// The window is closing (or may now close) with the user's consent.
    pub fn is_quitting(&self) -> bool {
        self.quit.allowed
    }

    /// Uploads that are moving (paused or finished ones do not hold up a close).
    fn running_uploads(&self) -> usize {
        self.transfers
            .active_rows()
            .filter(|row| row.can_pause())
            .count()
    }

    /// Shortcuts, and a close asked for by the window manager or Ctrl+Q.
    fn close_ui(&mut self, ctx: &egui::Context, commands: &mut Vec<UiCommand>) {
        let scope = ShortcutScope {
            can_add: self.connection.is_some() && !self.picker_open,
            selection_keys: self.tab == Tab::Transfers
                && !self.quit.asking
                && !self.transfers_view.is_asking()
                && !self.transfers_view.selection.is_empty(),
        };
        let keys = shortcuts_ui(ctx, scope, commands);
        let closing = ctx.input(|input| input.viewport().close_requested());
        let running = self.running_uploads();
        if keys.quit || closing {
            self.quit.request(ctx, running, keys.quit);
        }
        self.quit.dialog_ui(ctx, running, commands);
    }

    fn drain_events(&mut self) {
        let notify = self.config.window.notifications;
        let mut ended = Vec::new();
        if let Some(engine) = &mut self.engine {
            for event in engine.drain() {
                if notify {
                    ended.extend(outcome_of(&self.transfers, &event));
                }
                match event {
                    EngineEvent::HistoryPage { .. } | EngineEvent::HistoryChanged => {
                        self.history.apply(event)
                    }
                    EngineEvent::JobFilesPage { .. } => {
                        self.transfers_view.job_failures.apply(event)
                    }
                    event => self.transfers.apply(event),
                }
            }
        }
        for notification in notifications_for(&ended) {
            self.notifier.send(notification);
        }
        for result in self.jobs.drain() {
            self.apply_job_result(result);
        }
    }

    fn draw_ui(&mut self, ui: &mut Ui, totals: &Totals, commands: &mut Vec<UiCommand>) {
        egui::Panel::top("header").show(ui, |ui| {
            ui.add_space(4.0);
            ui.horizontal(|ui| {
                ui.label(RichText::new("ossup").strong().size(18.0));
                ui.separator();
                ui.selectable_value(&mut self.tab, Tab::Transfers, "Transfers");
                ui.selectable_value(&mut self.tab, Tab::History, "History");
                ui.selectable_value(&mut self.tab, Tab::RemoteUploads, "In-progress uploads");
                ui.selectable_value(&mut self.tab, Tab::Settings, "Settings");
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if self.connecting {
                        ui.spinner();
                        ui.label("Connecting…");
                    } else if let Some(target) = self.target() {
                        let name = target
                            .profile
                            .clone()
                            .unwrap_or_else(|| String::from("built-in local endpoint"));
                        ui.label(RichText::new(format!("{name} · {}", target.endpoint)).weak());
                    }
                });
            });
            if let Some(target) = self.target()
                && target.is_embedded()
            {
                egui::Frame::new()
                    .fill(ui.visuals().faint_bg_color)
                    .stroke(egui::Stroke::new(1.0, part_map::RETRYING_COLOR))
                    .corner_radius(4.0)
                    .inner_margin(6.0)
                    .show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        ui.label(&target.description);
                    });
            }
            if self.tab == Tab::Transfers {
                self.toolbar_ui(ui, commands);
            }
            ui.add_space(2.0);
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            ui.horizontal(|ui| {
                match &self.status {
                    Some(status) => {
                        ui.label(status);
                        if ui.small_button("Dismiss").clicked() {
                            self.status = None;
                        }
                    }
                    None => {
                        if self.overwrite.checking > 0 {
                            ui.spinner();
                            ui.label("Checking what already exists…");
                        }
                        ui.label(RichText::new(self.transfers.status_line()).weak());
                    }
                }
                // The totals stay in view while a message takes the left side.
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if let Some(label) = totals.status_label() {
                        ui.label(label);
                    }
                    throughput_graph_ui(ui, &self.throughput);
                });
            });
        });
        egui::CentralPanel::default().show(ui, |ui| match self.tab {
            Tab::Transfers => {
                if !self.transfers.notices.is_empty() && ui.small_button("Clear messages").clicked()
                {
                    self.transfers.dismiss_notices();
                }
                transfers_ui(ui, &self.transfers, &mut self.transfers_view, commands);
            }
            Tab::History => history_ui(ui, &mut self.history, commands),
            Tab::RemoteUploads => {
                let label = self
                    .target()
                    .map(|t| {
                        t.profile
                            .clone()
                            .unwrap_or_else(|| "built-in local endpoint".into())
                    })
                    .unwrap_or_else(|| "not connected".into());
                remote_uploads_ui(ui, &mut self.remote, &label, commands);
            }
            Tab::Settings => {
                let active = self.target().and_then(|t| t.profile.clone());
                settings_ui(
                    ui,
                    &mut self.settings,
                    &self.config,
                    active.as_deref(),
                    commands,
                );
            }
        });
        drop_overlay_ui(ui.ctx(), &self.destination.label());
        overwrite_question_ui(ui.ctx(), &mut self.overwrite, commands);
    }

    /// Wraps onto a second line in a narrow window rather than cutting off the prefix and
    /// the destination.
    fn toolbar_ui(&mut self, ui: &mut Ui, commands: &mut Vec<UiCommand>) {
        ui.horizontal_wrapped(|ui| {
            let can_add = self.connection.is_some() && !self.picker_open;
            if ui
                .add_enabled(can_add, egui::Button::new("Add files…"))
                .clicked()
            {
                commands.push(UiCommand::OpenPicker(PickKind::Files));
            }
            if ui
                .add_enabled(can_add, egui::Button::new("Add folder…"))
                .clicked()
            {
                commands.push(UiCommand::OpenPicker(PickKind::Folder));
            }
            ui.separator();
            if ui.button("Pause all").clicked() {
                commands.push(UiCommand::Engine(EngineCommand::PauseAll));
            }
            if ui.button("Resume all").clicked() {
                commands.push(UiCommand::Engine(EngineCommand::ResumeAll));
            }
            ui.separator();
            self.target_choice_ui(ui, commands);
            let bucket_label = ui.label("Bucket");
            ui.add(egui::TextEdit::singleline(&mut self.destination.bucket).desired_width(130.0))
                .labelled_by(bucket_label.id);
            let prefix_label = ui.label("Prefix");
            ui.add(
                egui::TextEdit::singleline(&mut self.destination.prefix)
                    .desired_width(160.0)
                    .hint_text("folder/ (optional)"),
            )
            .labelled_by(prefix_label.id);
            ui.checkbox(&mut self.destination.skip_unchanged, "Skip unchanged")
                .on_hover_text(
                    "Do not send a file whose object has the same size and is not older.",
                );
            ui.label(RichText::new(format!("to {}", self.destination.label())).weak());
        });
    }

    /// The profile new transfers go to; choosing another reconnects.
    fn target_choice_ui(&self, ui: &mut Ui, commands: &mut Vec<UiCommand>) {
        const EMBEDDED: &str = "Built-in local endpoint";
        let current = self.target().and_then(|t| t.profile.clone());
        let shown = current.clone().unwrap_or_else(|| EMBEDDED.to_owned());
        let label = ui.label("Target");
        egui::ComboBox::from_id_salt("target_profile")
            .selected_text(shown)
            .show_ui(ui, |ui| {
                if ui.selectable_label(current.is_none(), EMBEDDED).clicked() && current.is_some() {
                    commands.push(UiCommand::SelectProfile(None));
                }
                for name in self.config.profile_names() {
                    let chosen = current.as_deref() == Some(name.as_str());
                    if ui.selectable_label(chosen, &name).clicked() && !chosen {
                        commands.push(UiCommand::SelectProfile(Some(name)));
                    }
                }
            })
            .response
            .labelled_by(label.id);
    }

    /// Acts on one command. Public so a front end (or a test) can drive the app without
    /// clicking, exactly as a click would.
    pub fn apply(&mut self, command: UiCommand) {
        match command {
            UiCommand::AddPaths(paths) => self.add_paths(paths),
            UiCommand::AnswerExisting {
                choice,
                apply_to_all,
            } => {
                for add in self.overwrite.answer(choice, apply_to_all) {
                    self.send_add(add, choice.policy());
                }
            }
            UiCommand::CancelExistingAdd => {
                if self.overwrite.cancel().is_some() {
                    self.status = Some("Nothing was added.".into());
                }
            }
            UiCommand::OpenPicker(kind) => self.open_picker(kind),
            UiCommand::Engine(command) => self.send(command),
            UiCommand::List(action) => {
                // Ctrl+F searches the history where it is shown, the transfers elsewhere.
                if action == ListAction::FocusFilter && self.tab == Tab::History {
                    self.history.focus_search = true;
                    return;
                }
                if action == ListAction::FocusFilter {
                    self.tab = Tab::Transfers;
                }
                for command in self.transfers_view.act(action, &self.transfers) {
                    self.send(command);
                }
            }
            UiCommand::ListRemoteUploads => {
                self.list_remote_uploads(None);
                self.auto_abort_job(None, false);
            }
            UiCommand::SetAutoAbort(days) => self.auto_abort_job(days, true),
            UiCommand::ListMoreRemoteUploads => {
                let next = self.remote.next_page.clone();
                if next.is_some() {
                    self.list_remote_uploads(next);
                }
            }
            UiCommand::LoadRemoteParts { key, upload_id } => self.load_remote_parts(key, upload_id),
            UiCommand::AbortRemoteUploads(selected) => self.abort_remote_uploads(selected),
            UiCommand::ResumeRemoteUpload { upload_id } => {
                let owner = self
                    .transfers
                    .rows()
                    .iter()
                    .find(|row| row.snapshot.upload_id.as_deref() == Some(upload_id.as_str()))
                    .map(|row| row.snapshot.id.clone());
                match owner {
                    Some(id) => {
                        self.send(EngineCommand::Resume(id));
                        self.tab = Tab::Transfers;
                    }
                    None => self.status = Some(
                        "That upload's local session is not loaded, so it cannot be resumed here."
                            .into(),
                    ),
                }
            }
            UiCommand::SaveSettings => self.save_settings(),
            UiCommand::DeleteProfile(name) => self.delete_profile(&name),
            UiCommand::TestConnection => self.test_connection(),
            UiCommand::ListBuckets => self.list_buckets(),
            UiCommand::PauseAndQuit => {
                self.send(EngineCommand::PauseAll);
                self.quit.allowed = true;
                self.ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            UiCommand::SelectProfile(profile) => self.switch_target(profile),
        }
    }

    fn send(&mut self, command: EngineCommand) {
        let Some(engine) = &self.engine else {
            self.status = Some("Not connected: choose a working profile in Settings.".into());
            return;
        };
        if let Err(error) = engine.send(command) {
            self.status = Some(format!("The transfer engine is not running: {error}."));
        }
    }

    /// Adds `paths` at once when the answer about existing objects is known (remembered,
    /// or the toolbar skips unchanged files); otherwise checks the destination first.
    fn add_paths(&mut self, paths: Vec<PathBuf>) {
        if paths.is_empty() {
            return;
        }
        let Some(target) = self.target().map(|t| t.session_label.clone()) else {
            self.status = Some("Not connected: choose a working profile in Settings.".into());
            return;
        };
        let destination = match self.destination.to_destination(&target) {
            Ok(destination) => destination,
            Err(message) => {
                self.status = Some(message);
                return;
            }
        };
        self.tab = Tab::Transfers;
        let add = HeldAdd { paths, destination };
        let policy = self.destination.overwrite_policy();
        match self.overwrite.remembered {
            Some(choice) => self.send_add(add, choice.policy()),
            None if policy != OverwritePolicy::Overwrite => self.send_add(add, policy),
            None => self.check_existing(add),
        }
    }

    fn send_add(&mut self, add: HeldAdd, overwrite: OverwritePolicy) {
        self.send(EngineCommand::Add {
            paths: add.paths,
            destination: add.destination,
            options: DestinationForm::add_options(overwrite),
        });
    }

    /// Counts the Add's files that already exist, off the UI thread;
    /// [`JobResult::ExistingChecked`] brings the count back.
    fn check_existing(&mut self, add: HeldAdd) {
        let Some(connection) = &self.connection else {
            // Not connected: sending says so.
            self.send_add(add, OverwritePolicy::Overwrite);
            return;
        };
        let Some(runtime) = self.engine.as_ref().and_then(EngineHandle::runtime) else {
            self.send_add(add, OverwritePolicy::Overwrite);
            return;
        };
        let client = connection.client.clone();
        self.overwrite.checking += 1;
        self.jobs.sender().spawn_blocking(move || {
            let found = overwrite::count_existing(&runtime, &client, &add.destination, &add.paths);
            JobResult::ExistingChecked { add, found }
        });
    }

    /// Asks about a checked Add whose files exist; adds the others with the toolbar's
    /// policy as it is now (an answer given meanwhile with "Apply to all" wins).
    fn existing_checked(&mut self, add: HeldAdd, found: Result<ExistingCount, String>) {
        self.overwrite.checking = self.overwrite.checking.saturating_sub(1);
        let policy = match self.overwrite.remembered {
            Some(choice) => choice.policy(),
            None => self.destination.overwrite_policy(),
        };
        if policy != OverwritePolicy::Overwrite {
            self.send_add(add, policy);
            return;
        }
        match found {
            Ok(existing) if existing.count > 0 => self.overwrite.ask(add, existing),
            Ok(existing) if existing.at_least => {
                self.status = Some(format!(
                    "Existing objects in {} could not all be checked (more than {} pages to                      list); the files were added and replace what is there.",
                    add.destination_label(),
                    overwrite::MAX_LISTING_PAGES
                ));
                self.send_add(add, policy);
            }
            Ok(_) => self.send_add(add, policy),
            Err(error) => {
                self.status = Some(format!(
                    "Existing objects in {} could not be checked ({error}); the files were                      added and replace what is there.",
                    add.destination_label()
                ));
                self.send_add(add, policy);
            }
        }
    }

    fn open_picker(&mut self, kind: PickKind) {
        if self.picker_open {
            return;
        }
        self.picker_open = true;
        // rfd may block for a long time (or forever) without a portal: never on this thread.
        self.jobs.sender().spawn_blocking(move || {
            let picked = match kind {
                PickKind::Files => rfd::FileDialog::new()
                    .set_title("Add files to upload")
                    .pick_files(),
                PickKind::Folder => rfd::FileDialog::new()
                    .set_title("Add a folder to upload")
                    .pick_folder()
                    .map(|folder| vec![folder]),
            };
            JobResult::Picked(kind, picked)
        });
    }

    /// Sessions the engine knows, reduced to what matching server uploads needs.
    fn local_sessions(&self) -> Vec<LocalSession> {
        let endpoint = self
            .target()
            .map(|t| t.session_label.clone())
            .unwrap_or_default();
        self.transfers
            .rows()
            .iter()
            .filter(|row| row.snapshot.target == endpoint)
            .filter_map(|row| {
                let upload_id = row.snapshot.upload_id.clone()?;
                Some(LocalSession {
                    id: row.snapshot.id.0.clone(),
                    endpoint: endpoint.clone(),
                    local_path: row.snapshot.source.clone(),
                    bucket: row.snapshot.bucket.clone(),
                    key: row.snapshot.key.clone(),
                    upload_id,
                })
            })
            .collect()
    }

    fn list_remote_uploads(&mut self, after: Option<(String, String)>) {
        let Some(connection) = &self.connection else {
            self.remote.error = Some("Not connected.".into());
            return;
        };
        let Some(runtime) = self.engine.as_ref().and_then(EngineHandle::runtime) else {
            self.remote.error = Some("The transfer engine is not running.".into());
            return;
        };
        if self.remote.bucket.trim().is_empty() {
            self.remote.error = Some("Enter a bucket to list.".into());
            return;
        }
        let client = connection.client.clone();
        let request = PageRequest {
            bucket: self.remote.bucket.trim().to_owned(),
            prefix: self.remote.prefix.trim().to_owned(),
            after,
            sessions: self.local_sessions(),
        };
        self.remote.busy = true;
        self.jobs.sender().spawn_on(&runtime, async move {
            JobResult::UploadsPage(fetch_uploads_page(&client, request).await)
        });
    }

    /// Reads (or with `change`, sets to `days` first) the rule aborting stale uploads
    /// under the view's bucket and prefix.
    fn auto_abort_job(&mut self, days: Option<i64>, change: bool) {
        let Some(connection) = &self.connection else {
            return;
        };
        let Some(runtime) = self.engine.as_ref().and_then(EngineHandle::runtime) else {
            return;
        };
        let bucket = self.remote.bucket.trim().to_owned();
        if bucket.is_empty() {
            return;
        }
        let prefix = self.remote.prefix.trim().to_owned();
        let client = connection.client.clone();
        self.remote.auto_abort = AutoAbortStatus::Checking;
        self.jobs.sender().spawn_on(&runtime, async move {
            JobResult::AutoAbort(if change {
                change_auto_abort(&client, &bucket, &prefix, days).await
            } else {
                fetch_protection(&client, &bucket, &prefix).await
            })
        });
    }

    fn load_remote_parts(&mut self, key: String, upload_id: String) {
        let Some(connection) = &self.connection else {
            return;
        };
        let Some(runtime) = self.engine.as_ref().and_then(EngineHandle::runtime) else {
            return;
        };
        let client = connection.client.clone();
        let bucket = self.remote.bucket.trim().to_owned();
        self.jobs.sender().spawn_on(&runtime, async move {
            let result =
                remote_uploads::list_upload_parts(&client, &bucket, &key, &upload_id, None)
                    .await
                    .map_err(|error| error.to_string());
            JobResult::UploadParts { upload_id, result }
        });
    }

    /// Uploads a local transfer drives are aborted through the engine (which also cancels
    /// its parts and forgets the session); the others directly on the server.
    fn abort_remote_uploads(&mut self, selected: Vec<(String, String)>) {
        let mut on_server = Vec::new();
        let mut through_engine = Vec::new();
        for row in &self.remote.rows {
            let upload = &row.upload.upload;
            if !selected
                .iter()
                .any(|(key, id)| *key == upload.key && *id == upload.upload_id)
            {
                continue;
            }
            let owner = self
                .transfers
                .rows()
                .iter()
                .find(|t| t.snapshot.upload_id.as_deref() == Some(upload.upload_id.as_str()))
                .map(|t| t.snapshot.id.clone());
            match owner {
                Some(id) => through_engine.push((id, upload.key.clone(), upload.upload_id.clone())),
                None => on_server.push(row.upload.clone()),
            }
        }
        let mut report = Vec::new();
        for (id, key, upload_id) in through_engine {
            self.send(EngineCommand::Abort(id));
            report.push(format!("Aborted {key} and forgot its local upload."));
            self.remote
                .rows
                .retain(|row| row.upload.upload.upload_id != upload_id);
        }
        self.remote.report = report;
        if on_server.is_empty() {
            self.remote.busy = false;
            return;
        }
        let Some(connection) = &self.connection else {
            return;
        };
        let Some(runtime) = self.engine.as_ref().and_then(EngineHandle::runtime) else {
            return;
        };
        let client = connection.client.clone();
        let paths = self.paths.clone();
        self.remote.busy = true;
        self.jobs.sender().spawn_on(&runtime, async move {
            // Confirmed in the view: uploads of sessions the engine has not loaded are
            // aborted too, and their sessions removed.
            let sessions = SessionStore::open(&paths.queue_dir, &paths.sessions_dir)
                .map(|(sessions, _)| sessions)
                .unwrap_or_else(|e| SessionStore::new(Err(e.to_string()), &paths.queue_dir));
            JobResult::Aborted(
                remote_uploads::abort_uploads(&client, &sessions, &on_server, true).await,
            )
        });
    }

    fn save_settings(&mut self) {
        match self.settings.to_config(&self.config) {
            Err(message) => self.settings.message = Some(Err(message)),
            Ok((config, named_profile)) => {
                // The chosen target changes only when its own profile changed, or when the
                // first profile is saved; any other profile is handed to the engine anew,
                // and nothing running is paused or hidden.
                let current = self.target().and_then(|t| t.profile.clone());
                if let Some(name) = named_profile
                    && self.config.profiles.get(&name) != config.profiles.get(&name)
                {
                    if current.as_deref() == Some(name.as_str()) || self.config.profiles.is_empty()
                    {
                        self.pending_switch = Some(Some(name));
                    } else {
                        self.pending_refresh = Some(name);
                    }
                }
                self.write_config(config);
            }
        }
    }

    /// Tests the profile the form describes (saved or not) off the UI thread;
    /// [`JobResult::ConnectionTested`] brings the findings back.
    fn test_connection(&mut self) {
        let probe = &mut self.settings.probe;
        if probe.testing {
            return;
        }
        let generation = probe.generation;
        match profile_probe::client_config_of(&self.settings, &self.config, &self.env) {
            Err(message) => self.settings.probe.report = Some(Err(message)),
            Ok((client_config, bucket)) => {
                self.settings.probe.testing = true;
                self.settings.probe.report = None;
                self.jobs.sender().spawn_detached(
                    async move {
                        let report = match OssClient::new(client_config) {
                            Ok(client) => {
                                Ok(profile_probe::test_connection(&client, &bucket).await)
                            }
                            Err(error) => Err(error.to_string()),
                        };
                        JobResult::ConnectionTested { generation, report }
                    },
                    move |error| JobResult::ConnectionTested {
                        generation,
                        report: Err(error),
                    },
                );
            }
        }
    }

    /// Lists the buckets of the key the form describes, for the picker, off the UI thread.
    fn list_buckets(&mut self) {
        if self.settings.probe.listing {
            return;
        }
        let generation = self.settings.probe.generation;
        match profile_probe::client_config_of(&self.settings, &self.config, &self.env) {
            Err(message) => self.settings.probe.buckets = Some(Err(message)),
            Ok((client_config, _)) => {
                self.settings.probe.listing = true;
                self.jobs.sender().spawn_detached(
                    async move {
                        let result = match OssClient::new(client_config) {
                            Ok(client) => profile_probe::bucket_names(&client).await,
                            Err(error) => Err(error.to_string()),
                        };
                        JobResult::Buckets { generation, result }
                    },
                    move |error| JobResult::Buckets {
                        generation,
                        result: Err(error),
                    },
                );
            }
        }
    }

    /// Removes a profile from the file; uploads that went to it go to the embedded
    /// endpoint from then on.
    fn delete_profile(&mut self, name: &str) {
        let config = SettingsForm::without_profile(&self.config, name);
        if self.target().and_then(|t| t.profile.as_deref()) == Some(name) {
            self.pending_switch = Some(None);
        }
        self.write_config(config);
    }

    /// Saves `config` off the UI thread; [`JobResult::SettingsSaved`] brings it back.
    fn write_config(&mut self, config: ConfigFile) {
        self.settings.saving = true;
        self.settings.message = None;
        let path = self.paths.config_file.clone();
        self.jobs.sender().spawn_blocking(move || {
            JobResult::SettingsSaved(
                config
                    .save(&path)
                    .map(|()| config)
                    .map_err(|e| e.to_string()),
            )
        });
    }

    fn connect_request(&self, profile: Option<String>, force_embedded: bool) -> ConnectRequest {
        ConnectRequest {
            paths: self.paths.clone(),
            config: self.config.clone(),
            env: self.env.clone(),
            profile,
            force_embedded,
            embedded_endpoint: self.embedded.as_ref().map(EmbeddedEndpoint::endpoint),
        }
    }

    /// Starts the embedded endpoint beside the current target, off the UI thread, when
    /// it left uploads or jobs unfinished, so they show (and resume) with the rest;
    /// [`JobResult::EmbeddedLeftovers`] brings it back.
    fn show_embedded_leftovers(&mut self) {
        if self.embedded.is_some() {
            return;
        }
        self.embedded_starting = true;
        let request = self.connect_request(None, true);
        let delay = self.embedded_delay;
        self.jobs.sender().spawn_blocking(move || {
            let label = connection::EMBEDDED_ENDPOINT_LABEL;
            if !super::leftovers::anything_left_for(&request.paths, label) {
                return JobResult::EmbeddedLeftovers(None);
            }
            let started = EmbeddedEndpoint::start(request.paths.server_dir.clone(), delay)
                .and_then(|embedded| {
                    let request = ConnectRequest {
                        embedded_endpoint: Some(embedded.endpoint()),
                        ..request
                    };
                    connection::connect(request).map(|c| (c, embedded))
                });
            JobResult::EmbeddedLeftovers(Some(started))
        });
    }

    /// Reconnects to `profile` (`None`: the embedded endpoint) in the background.
    fn switch_target(&mut self, profile: Option<String>) {
        if self.connecting {
            return;
        }
        if self.embedded_starting && profile.is_none() {
            // Once it runs (or is known not to), the switch goes on.
            self.pending_switch = Some(None);
            return;
        }
        self.connecting = true;
        let force_embedded = profile.is_none();
        let request = self.connect_request(profile, force_embedded);
        let start_embedded = force_embedded && self.embedded.is_none();
        let server_dir = self.paths.server_dir.clone();
        let delay = self.embedded_delay;
        // Transfers to the old target go on: the engine keeps every target it was given.
        self.jobs.sender().spawn_blocking(move || {
            if start_embedded {
                let embedded = match EmbeddedEndpoint::start(server_dir, delay) {
                    Ok(embedded) => embedded,
                    Err(error) => {
                        return JobResult::Resolved {
                            result: Err(error),
                            make_current: true,
                        };
                    }
                };
                let request = ConnectRequest {
                    embedded_endpoint: Some(embedded.endpoint()),
                    ..request
                };
                return JobResult::EmbeddedConnected(
                    connection::connect(request).map(|c| (c, embedded)),
                );
            }
            JobResult::Resolved {
                result: connection::connect(request),
                make_current: true,
            }
        });
    }

    /// Makes `connection` the target new drops go to, handing it to the engine (started
    /// now if it is the first).
    fn install_connection(&mut self, connection: Connection) {
        self.destination.bucket = connection.target.default_bucket.clone();
        self.remote = RemoteUploadsModel {
            bucket: connection.target.default_bucket.clone(),
            older_than_days: "7".into(),
            auto_abort_days: "7".into(),
            ..RemoteUploadsModel::default()
        };
        self.register_target(&connection);
        self.connection = Some(connection);
    }

    /// Gives the engine this target (or its new client), starting the engine with it when
    /// there is none yet.
    fn register_target(&mut self, connection: &Connection) {
        self.transfers
            .name_target(&connection.target.session_label, connection.display_name());
        if self.engine.is_some() {
            self.send(EngineCommand::SetTarget(connection.engine_target()));
            return;
        }
        match connection::start_engine(
            &self.paths,
            self.config.tuning.clone(),
            vec![connection.engine_target()],
            connection::repaint_waker(&self.ctx),
        ) {
            Ok(engine) => {
                if let Some(runtime) = engine.runtime() {
                    self.jobs.sender().spawn_on(&runtime, async {
                        crate::stop_signal::stop_requested().await;
                        JobResult::StopRequested
                    });
                }
                self.engine = Some(engine);
                self.register_other_profiles(connection.target.profile.as_deref());
            }
            Err(error) => {
                self.status = Some(format!("The transfer engine could not start: {error}."))
            }
        }
    }

    /// Resolves every configured profile but `except` in the background and hands each to
    /// the engine, so their saved uploads and jobs show (and resume) beside this one's.
    fn register_other_profiles(&mut self, except: Option<&str>) {
        for name in self.config.profile_names() {
            if Some(name.as_str()) != except {
                self.resolve_profile(name, false);
            }
        }
    }

    /// Resolves `profile` off the UI thread; the result registers it with the engine, and
    /// with `make_current` makes it the target of new drops.
    fn resolve_profile(&mut self, profile: String, make_current: bool) {
        let request = self.connect_request(Some(profile), false);
        self.jobs
            .sender()
            .spawn_blocking(move || JobResult::Resolved {
                result: connection::connect(request),
                make_current,
            });
    }

    fn apply_job_result(&mut self, result: JobResult) {
        match result {
            JobResult::Picked(_, picked) => {
                self.picker_open = false;
                match picked {
                    Some(paths) => self.add_paths(paths),
                    None => {
                        self.status = Some(
                            "Nothing was picked. If no dialog appeared, drag and drop files or \
                             folders onto this window instead."
                                .into(),
                        )
                    }
                }
            }
            JobResult::ExistingChecked { add, found } => self.existing_checked(add, found),
            JobResult::UploadsPage(page) => self.remote.apply_page(page),
            JobResult::AutoAbort(result) => self.remote.apply_auto_abort(result),
            JobResult::UploadParts { upload_id, result } => {
                self.remote.apply_parts(&upload_id, result)
            }
            JobResult::Aborted(outcomes) => {
                let earlier = std::mem::take(&mut self.remote.report);
                self.remote.apply_aborted(outcomes);
                self.remote.report.splice(0..0, earlier);
            }
            JobResult::SettingsSaved(result) => {
                self.settings.saving = false;
                match result {
                    Ok(config) => {
                        self.config = config;
                        self.settings.saved(&self.config);
                        self.settings.message = Some(Ok("Settings saved.".into()));
                        let tuning = self.config.tuning.clone();
                        self.send(EngineCommand::SetTuning(tuning));
                        if let Some(profile) = self.pending_switch.take() {
                            self.switch_target(profile);
                        }
                        if let Some(profile) = self.pending_refresh.take() {
                            self.resolve_profile(profile, false);
                        }
                    }
                    Err(error) => self.settings.message = Some(Err(error)),
                }
            }
            JobResult::ConnectionTested { generation, report } => {
                let probe = &mut self.settings.probe;
                if generation == probe.generation {
                    probe.testing = false;
                    probe.report = Some(report);
                }
            }
            JobResult::Buckets { generation, result } => {
                let probe = &mut self.settings.probe;
                if generation == probe.generation {
                    probe.listing = false;
                    probe.buckets = Some(result);
                }
            }
            // As the quit question's answer: nothing running is cut off mid-part.
            JobResult::StopRequested => self.apply(UiCommand::PauseAndQuit),
            JobResult::Resolved {
                result,
                make_current: true,
            } => {
                self.connecting = false;
                match result {
                    Ok(connection) => {
                        self.status = Some(connection.target.description.clone());
                        self.install_connection(connection);
                    }
                    Err(error) => {
                        self.status = Some(format!("Could not connect: {error}"));
                    }
                }
            }
            JobResult::Resolved {
                result,
                make_current: false,
            } => match result {
                Ok(connection) => {
                    // Still the current target: it takes the new client too.
                    if let Some(current) = &mut self.connection
                        && current.target.session_label == connection.target.session_label
                    {
                        current.client = connection.client.clone();
                        current.target = connection.target.clone();
                    }
                    self.register_target(&connection);
                }
                Err(error) => tracing::warn!("a profile could not be prepared: {error}"),
            },
            JobResult::EmbeddedLeftovers(started) => {
                self.embedded_starting = false;
                match started {
                    Some(Ok((connection, embedded))) => {
                        self.embedded = Some(embedded);
                        self.register_target(&connection);
                    }
                    Some(Err(error)) => {
                        self.status = Some(format!(
                            "The built-in endpoint's unfinished uploads cannot be shown: {error}"
                        ))
                    }
                    None => {}
                }
                if self.pending_switch == Some(None) && !self.settings.saving {
                    self.pending_switch = None;
                    self.switch_target(None);
                }
            }
            JobResult::EmbeddedConnected(result) => {
                self.connecting = false;
                match result {
                    Ok((connection, embedded)) => {
                        self.embedded = Some(embedded);
                        self.install_connection(connection);
                    }
                    Err(error) => self.status = Some(format!("Could not connect: {error}")),
                }
            }
        }
    }

    /// Pauses everything and saves the sessions (waits a few seconds at most).
    pub fn shutdown(&mut self) {
        if let Some(mut engine) = self.engine.take() {
            engine.shutdown();
        }
    }
}

impl eframe::App for OssupApp {
    fn ui(&mut self, ui: &mut Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.shutdown();
    }
}
