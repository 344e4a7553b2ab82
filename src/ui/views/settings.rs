//! The settings view: profiles (endpoint, region, bucket, credentials, and the network
//! fields of [`super::profile_network`]) and tuning (part size, parallelism, bandwidth,
//! overwrite, storage class, resume on start).
//!
//! The form holds text as typed; every field is checked as it changes
//! ([`super::settings_check`]) and its problem shown beside it. [`SettingsForm::to_config`]
//! turns the form into a validated [`ConfigFile`] or refuses with every problem at once.
//! Nothing is clamped. Stored secrets are never shown again: an empty secret field keeps
//! the stored one. A saved profile is edited (renamed by changing its name) or deleted.

use egui::{RichText, Ui};

use crate::config::units::{format_bytes_exact, parse_bytes};
use crate::config::window::{ThemeChoice, WindowSettings};
use crate::config::{ConfigFile, Profile, STORAGE_CLASSES, Tuning};
use crate::ui::command::UiCommand;
use crate::ui::widgets::part_map;

use super::profile_checks::{self, ProbeState};
use super::profile_network::{self, NetworkForm};
use super::settings_check::{Field, FieldErrors, check_form};

/// Where a profile's key pair comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CredentialSource {
    /// `OSS_ACCESS_KEY_ID` / `OSS_ACCESS_KEY_SECRET` at start.
    #[default]
    Environment,
    /// Typed here and stored in the 0600 config file.
    Entered,
}

/// A profile as typed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProfileForm {
    pub name: String,
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub credentials: CredentialSource,
    pub access_key_id: String,
    /// Empty keeps the stored secret (which is never put back into this field).
    pub new_secret: String,
    pub has_stored_secret: bool,
    pub path_style: bool,
    /// Region picker state, signature choice and network settings.
    pub network: NetworkForm,
}

impl std::fmt::Debug for ProfileForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileForm")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("credentials", &self.credentials)
            .field("access_key_id", &self.access_key_id)
            .field(
                "new_secret",
                &(!self.new_secret.is_empty()).then_some("******"),
            )
            .field("has_stored_secret", &self.has_stored_secret)
            .field("path_style", &self.path_style)
            .field("network", &self.network)
            .finish()
    }
}

/// The tuning as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TuningForm {
    pub part_size: String,
    pub parallel_parts: String,
    pub concurrent_transfers: String,
    /// Empty: no limit.
    pub bandwidth_limit: String,
    pub forbid_overwrite: bool,
    /// Empty: the bucket's default.
    pub storage_class: String,
    pub resume_on_start: bool,
}

/// Everything the settings view edits.
#[derive(Debug, Default)]
pub struct SettingsForm {
    pub tuning: TuningForm,
    /// Index into `profiles` being edited, or `None` for a new one.
    pub editing: Option<String>,
    pub profile: ProfileForm,
    /// Names of the profiles in the file (for the list).
    pub profile_names: Vec<String>,
    pub default_profile: Option<String>,
    /// Outcome of the last save: `Ok(message)` or `Err(why it was refused)`; cleared as
    /// soon as the form changes, so it never describes an older state of the form.
    pub message: Option<Result<String, String>>,
    pub saving: bool,
    /// "Delete profile …" was clicked; the deletion waits for a second click.
    pub confirm_delete: bool,
    /// Test connection and the bucket picker, for the profile being edited.
    pub probe: ProbeState,
    /// The window's theme (nothing to parse: taken as it is).
    pub window: WindowSettings,
}

impl SettingsForm {
    /// Fills the form from a loaded configuration.
    pub fn from_config(config: &ConfigFile) -> Self {
        let mut form = Self {
            tuning: TuningForm::from_tuning(&config.tuning),
            window: config.window.clone(),
            ..Self::default()
        };
        form.refresh_profiles(config);
        form
    }

    pub fn refresh_profiles(&mut self, config: &ConfigFile) {
        self.profile_names = config.profile_names();
        self.default_profile = config.default_profile.clone();
    }

    /// Starts editing `name` (secrets are not copied into the form).
    pub fn edit_profile(&mut self, config: &ConfigFile, name: &str) {
        if let Some(profile) = config.profiles.get(name) {
            self.probe.reset();
            self.editing = Some(name.to_owned());
            self.profile = ProfileForm {
                name: name.to_owned(),
                endpoint: profile.endpoint.clone(),
                region: profile.region.clone().unwrap_or_default(),
                bucket: profile.bucket.clone().unwrap_or_default(),
                credentials: if profile.access_key_id.is_some() {
                    CredentialSource::Entered
                } else {
                    CredentialSource::Environment
                },
                access_key_id: profile.access_key_id.clone().unwrap_or_default(),
                new_secret: String::new(),
                has_stored_secret: profile.access_key_secret.is_some(),
                path_style: profile.path_style,
                network: NetworkForm::from_profile(profile),
            };
        }
    }

    pub fn new_profile(&mut self) {
        self.probe.reset();
        self.editing = None;
        self.profile = ProfileForm::default();
        self.confirm_delete = false;
    }

    /// A profile is being typed or edited (an untouched "new profile" form is not one).
    pub fn profile_touched(&self) -> bool {
        self.editing.is_some() || self.profile != ProfileForm::default()
    }

    /// What is wrong with the form now, per field.
    pub fn check(&self, config: &ConfigFile) -> FieldErrors {
        let profile = self
            .profile_touched()
            .then_some((&self.profile, self.editing.as_deref()));
        check_form(profile, &self.tuning, config)
    }

    /// The file was saved as `config`: the form now edits the profile it named (or a new
    /// one, when that profile is gone), and the typed secret is stored, not kept here.
    pub fn saved(&mut self, config: &ConfigFile) {
        self.refresh_profiles(config);
        self.confirm_delete = false;
        let name = self.profile.name.trim().to_owned();
        if self.profile_touched() && config.profiles.contains_key(&name) {
            self.editing = Some(name);
            if !self.profile.new_secret.is_empty() {
                self.profile.new_secret.clear();
                self.profile.has_stored_secret = true;
            }
        } else {
            self.new_profile();
        }
    }

    /// The configuration without the profile `name` (the default falls back to none).
    pub fn without_profile(config: &ConfigFile, name: &str) -> ConfigFile {
        let mut config = config.clone();
        config.profiles.remove(name);
        if config.default_profile.as_deref() == Some(name) {
            config.default_profile = None;
        }
        config
    }

    /// The configuration this form describes, on top of `current` (whose stored secrets
    /// are kept when no new one is typed). Refuses invalid values with a sentence.
    /// Returns the new file and the profile the form named, if any.
    pub fn to_config(&self, current: &ConfigFile) -> Result<(ConfigFile, Option<String>), String> {
        let errors = self.check(current);
        if !errors.is_empty() {
            return Err(errors.sentence());
        }
        let mut config = current.clone();
        config.tuning = self.tuning.to_tuning(&current.tuning)?;
        config.window = self.window.clone();
        let profile_name = self.profile.name.trim().to_owned();
        let mut named = None;
        if self.profile_touched() {
            let previous = self
                .editing
                .as_ref()
                .and_then(|name| current.profiles.get(name));
            let profile = self.profile.to_profile(previous)?;
            if let Some(old_name) = &self.editing
                && *old_name != profile_name
            {
                config.profiles.remove(old_name);
                if config.default_profile.as_deref() == Some(old_name.as_str()) {
                    config.default_profile = Some(profile_name.clone());
                }
            }
            config.profiles.insert(profile_name.clone(), profile);
            named = Some(profile_name);
        }
        config.validate().map_err(|e| plain_words(&e))?;
        Ok((config, named))
    }
}

/// A configuration error worded with the form's field names: "Endpoint: …" rather than
/// "profiles.work.endpoint: …".
fn plain_words(error: &crate::config::ConfigError) -> String {
    match error {
        crate::config::ConfigError::Invalid { field, message } => {
            let last = field.rsplit('.').next().unwrap_or(field).replace('_', " ");
            let mut chars = last.chars();
            let field = match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => last,
            };
            format!("{field}: {message}")
        }
        other => other.to_string(),
    }
}

impl TuningForm {
    pub fn from_tuning(tuning: &Tuning) -> Self {
        Self {
            part_size: format_bytes_exact(tuning.part_size),
            parallel_parts: tuning.parallel_parts_per_transfer.to_string(),
            concurrent_transfers: tuning.max_concurrent_transfers.to_string(),
            bandwidth_limit: tuning
                .bandwidth_limit_bytes_per_sec
                .map(format_bytes_exact)
                .unwrap_or_default(),
            forbid_overwrite: tuning.forbid_overwrite,
            storage_class: tuning.storage_class.clone().unwrap_or_default(),
            resume_on_start: tuning.resume_on_start,
        }
    }

    /// Parses and validates on top of `current` (whose knobs the form does not show are
    /// kept); the message names the field.
    pub fn to_tuning(&self, current: &Tuning) -> Result<Tuning, String> {
        let count = |field: &str, text: &str| {
            text.trim()
                .parse::<usize>()
                .map_err(|_| format!("{field}: \"{}\" is not a whole number", text.trim()))
        };
        let mut tuning = current.clone();
        tuning.set_part_size(parse_bytes(&self.part_size).map_err(|e| format!("part size: {e}"))?);
        tuning.set_parallelism(
            count("parallel parts", &self.parallel_parts)?,
            count("concurrent transfers", &self.concurrent_transfers)?,
        );
        tuning.bandwidth_limit_bytes_per_sec = match self.bandwidth_limit.trim() {
            "" => None,
            text => Some(parse_bytes(text).map_err(|e| format!("bandwidth limit: {e}"))?),
        };
        tuning.forbid_overwrite = self.forbid_overwrite;
        tuning.storage_class = match self.storage_class.trim() {
            "" => None,
            class => Some(class.to_owned()),
        };
        tuning.resume_on_start = self.resume_on_start;
        tuning.validate()?;
        Ok(tuning)
    }
}

impl ProfileForm {
    fn to_profile(&self, previous: Option<&Profile>) -> Result<Profile, String> {
        let optional = |text: &str| {
            let trimmed = text.trim();
            (!trimmed.is_empty()).then(|| trimmed.to_owned())
        };
        let (access_key_id, access_key_secret, security_token) = match self.credentials {
            CredentialSource::Environment => (None, None, None),
            CredentialSource::Entered => {
                let id = optional(&self.access_key_id)
                    .ok_or("access key id: enter it, or take credentials from the environment")?;
                let same_key = previous.filter(|p| p.access_key_id.as_deref() == Some(id.as_str()));
                // A kept secret keeps its token; a new secret is a new key pair.
                let (secret, token) = if self.new_secret.is_empty() {
                    (
                        same_key.and_then(|p| p.access_key_secret.clone()),
                        same_key.and_then(|p| p.security_token.clone()),
                    )
                } else {
                    (Some(self.new_secret.clone()), None)
                };
                if secret.is_none() {
                    return Err("access key secret: enter the secret for this access key id".into());
                }
                (Some(id), secret, token)
            }
        };
        let mut profile = Profile {
            endpoint: self.endpoint.trim().trim_end_matches('/').to_owned(),
            region: optional(&self.region),
            bucket: optional(&self.bucket),
            access_key_id,
            access_key_secret,
            security_token,
            // The form has no field for an external command: a profile that has one keeps
            // it unless keys are entered in its place.
            process_command: match self.credentials {
                CredentialSource::Environment => previous.and_then(|p| p.process_command.clone()),
                CredentialSource::Entered => None,
            },
            path_style: self.path_style,
            ..Profile::default()
        };
        self.network.apply_to(&mut profile)?;
        profile
            .validate(self.name.trim())
            .map_err(|e| plain_words(&e))?;
        Ok(profile)
    }
}

/// Draws the settings view.
pub fn settings_ui(
    ui: &mut Ui,
    form: &mut SettingsForm,
    config: &ConfigFile,
    active_profile: Option<&str>,
    commands: &mut Vec<UiCommand>,
) {
    let before = (
        form.profile.clone(),
        form.tuning.clone(),
        form.window.clone(),
    );
    let errors = form.check(config);
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.heading("Profiles");
            profiles_list_ui(ui, form, config, active_profile, commands);
            ui.add_space(6.0);
            profile_form_ui(ui, form, &errors, commands);
            ui.add_space(12.0);
            ui.heading("Transfers");
            tuning_form_ui(ui, &mut form.tuning, &errors);
            ui.add_space(12.0);
            ui.heading("Window");
            window_form_ui(ui, &mut form.window);
            ui.add_space(12.0);
            ui.horizontal(|ui| {
                let save = ui.add_enabled(!form.saving, egui::Button::new("Save settings"));
                if save.clicked() {
                    commands.push(UiCommand::SaveSettings);
                }
                if form.saving {
                    ui.spinner();
                }
            });
            match &form.message {
                Some(Ok(message)) => {
                    ui.colored_label(part_map::DONE_COLOR, message);
                }
                Some(Err(message)) => {
                    ui.colored_label(part_map::FAILED_COLOR, message);
                }
                None => {}
            }
        });
    if form.profile != before.0 {
        form.probe.report = None;
    }
    if (&form.profile, &form.tuning, &form.window) != (&before.0, &before.1, &before.2) {
        form.message = None;
        // The checks shown beside the fields describe the text before this frame's input.
        ui.ctx().request_repaint();
    }
}

fn profiles_list_ui(
    ui: &mut Ui,
    form: &mut SettingsForm,
    config: &ConfigFile,
    active_profile: Option<&str>,
    commands: &mut Vec<UiCommand>,
) {
    ui.horizontal_wrapped(|ui| {
        let embedded_active = active_profile.is_none();
        if ui
            .selectable_label(embedded_active, "Built-in local endpoint")
            .clicked()
            && !embedded_active
        {
            commands.push(UiCommand::SelectProfile(None));
        }
        for name in form.profile_names.clone() {
            let active = active_profile == Some(name.as_str());
            if ui.selectable_label(active, format!("Use {name}")).clicked() && !active {
                commands.push(UiCommand::SelectProfile(Some(name.clone())));
            }
            if ui.small_button(format!("Edit {name}")).clicked() {
                form.edit_profile(config, &name);
            }
        }
        if ui.button("New profile").clicked() {
            form.new_profile();
        }
    });
}

/// A labelled text field in a two-column grid.
pub(super) fn labelled_text(ui: &mut Ui, label: &str, text: &mut String, hint: &str) {
    let label = ui.label(label);
    ui.add(
        egui::TextEdit::singleline(text)
            .hint_text(hint)
            .desired_width(320.0),
    )
    .labelled_by(label.id);
    ui.end_row();
}

/// A text field in a two-column grid, with its problem (if any) on the row below.
fn field_ui(ui: &mut Ui, field: Field, text: &mut String, hint: &str, errors: &FieldErrors) {
    labelled_text(ui, field.label(), text, hint);
    field_error_ui(ui, field, errors);
}

/// The problem of `field`, in red under it.
pub(super) fn field_error_ui(ui: &mut Ui, field: Field, errors: &FieldErrors) {
    if let Some(message) = errors.get(field) {
        ui.label("");
        ui.colored_label(part_map::FAILED_COLOR, message);
        ui.end_row();
    }
}

fn profile_form_ui(
    ui: &mut Ui,
    form: &mut SettingsForm,
    errors: &FieldErrors,
    commands: &mut Vec<UiCommand>,
) {
    match form.editing.clone() {
        Some(name) => {
            ui.horizontal_wrapped(|ui| {
                ui.label(RichText::new(format!("Editing profile {name}")).strong());
                ui.label(RichText::new("(change the name to rename it)").weak());
                delete_profile_ui(ui, form, &name, commands);
            });
        }
        None => {
            ui.label(
                RichText::new(
                    "New profile (leave the name empty to change only the settings below)",
                )
                .strong(),
            );
        }
    }
    egui::Grid::new("profile_form")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            let profile = &mut form.profile;
            field_ui(ui, Field::ProfileName, &mut profile.name, "work", errors);
            field_ui(
                ui,
                Field::Endpoint,
                &mut profile.endpoint,
                "https://oss-cn-hangzhou.aliyuncs.com",
                errors,
            );
            field_ui(
                ui,
                Field::Region,
                &mut profile.region,
                "cn-hangzhou (V4 signing)",
                errors,
            );
            profile_network::region_picker_ui(
                ui,
                &mut profile.region,
                &mut profile.endpoint,
                &mut profile.network,
            );
            profile_checks::bucket_row_ui(ui, &mut profile.bucket, &form.probe, errors, commands);
            ui.label("Credentials");
            ui.horizontal(|ui| {
                ui.radio_value(
                    &mut profile.credentials,
                    CredentialSource::Environment,
                    "From OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET",
                );
                ui.radio_value(
                    &mut profile.credentials,
                    CredentialSource::Entered,
                    "Entered here",
                );
            });
            ui.end_row();
            if profile.credentials == CredentialSource::Entered {
                field_ui(
                    ui,
                    Field::AccessKeyId,
                    &mut profile.access_key_id,
                    "LTAI…",
                    errors,
                );
                let label = ui.label(Field::AccessKeySecret.label());
                let hint = if profile.has_stored_secret {
                    "stored; type to replace"
                } else {
                    "secret"
                };
                ui.add(
                    egui::TextEdit::singleline(&mut profile.new_secret)
                        .password(true)
                        .hint_text(hint)
                        .desired_width(320.0),
                )
                .labelled_by(label.id);
                ui.end_row();
                field_error_ui(ui, Field::AccessKeySecret, errors);
            }
            ui.label("");
            ui.checkbox(
                &mut profile.path_style,
                "Path-style addressing (endpoint/bucket/key)",
            );
            ui.end_row();
        });
    profile_network::network_section_ui(ui, &mut form.profile.network);
    ui.add_space(6.0);
    profile_checks::connection_test_ui(ui, &form.probe, commands);
}

/// The theme and the desktop notifications.
fn window_form_ui(ui: &mut Ui, window: &mut WindowSettings) {
    egui::Grid::new("window_form")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            let theme_label = ui.label("Theme");
            ui.horizontal(|ui| {
                egui::ComboBox::from_id_salt("theme")
                    .selected_text(window.theme.label())
                    .show_ui(ui, |ui| {
                        for choice in ThemeChoice::ALL {
                            ui.selectable_value(&mut window.theme, choice, choice.label());
                        }
                    })
                    .response
                    .labelled_by(theme_label.id);
                ui.label(RichText::new("shown at once; Save settings keeps it").weak());
            });
            ui.end_row();
            ui.label("Notifications");
            ui.checkbox(
                &mut window.notifications,
                "Tell the desktop when an upload finishes or fails",
            );
            ui.end_row();
        });
}

/// "Delete profile NAME…", then a second, explicit click to delete it.
fn delete_profile_ui(
    ui: &mut Ui,
    form: &mut SettingsForm,
    name: &str,
    commands: &mut Vec<UiCommand>,
) {
    if !form.confirm_delete {
        if ui.button(format!("Delete profile {name}…")).clicked() {
            form.confirm_delete = true;
        }
        return;
    }
    ui.colored_label(
        part_map::FAILED_COLOR,
        format!("Delete {name} and its stored key?"),
    );
    if ui.button(format!("Delete {name}")).clicked() {
        commands.push(UiCommand::DeleteProfile(name.to_owned()));
        form.confirm_delete = false;
    }
    if ui.button("Keep it").clicked() {
        form.confirm_delete = false;
    }
}

fn tuning_form_ui(ui: &mut Ui, tuning: &mut TuningForm, errors: &FieldErrors) {
    egui::Grid::new("tuning_form")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            field_ui(
                ui,
                Field::PartSize,
                &mut tuning.part_size,
                "8MiB (100KiB to 5GiB)",
                errors,
            );
            field_ui(
                ui,
                Field::ParallelParts,
                &mut tuning.parallel_parts,
                "4",
                errors,
            );
            field_ui(
                ui,
                Field::ConcurrentTransfers,
                &mut tuning.concurrent_transfers,
                "2",
                errors,
            );
            field_ui(
                ui,
                Field::BandwidthLimit,
                &mut tuning.bandwidth_limit,
                "empty = no limit, e.g. 20MiB",
                errors,
            );
            let storage_label = ui.label(Field::StorageClass.label());
            let shown = if tuning.storage_class.is_empty() {
                "Bucket default"
            } else {
                tuning.storage_class.as_str()
            };
            egui::ComboBox::from_id_salt("storage_class")
                .selected_text(shown.to_owned())
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut tuning.storage_class, String::new(), "Bucket default");
                    for class in STORAGE_CLASSES {
                        ui.selectable_value(&mut tuning.storage_class, class.to_owned(), class);
                    }
                })
                .response
                .labelled_by(storage_label.id);
            ui.end_row();
            field_error_ui(ui, Field::StorageClass, errors);
            ui.label("");
            ui.checkbox(
                &mut tuning.forbid_overwrite,
                "Never overwrite existing objects (skip them)",
            );
            ui.end_row();
            ui.label("");
            ui.checkbox(
                &mut tuning.resume_on_start,
                "Resume unfinished uploads when ossup starts",
            );
            ui.end_row();
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_form() -> SettingsForm {
        SettingsForm::from_config(&ConfigFile::default())
    }

    #[test]
    fn defaults_round_trip_through_the_form() {
        let config = ConfigFile::default();
        let (saved, named) = valid_form().to_config(&config).expect("defaults are valid");
        assert_eq!(saved.tuning, config.tuning);
        assert_eq!(named, None);
    }

    #[test]
    fn invalid_values_are_refused_not_clamped() {
        let config = ConfigFile::default();
        for (edit, field) in [
            (
                Box::new(|f: &mut TuningForm| f.part_size = "50KiB".into())
                    as Box<dyn Fn(&mut TuningForm)>,
                "part size",
            ),
            (
                Box::new(|f: &mut TuningForm| f.part_size = "eight".into()),
                "part size",
            ),
            (
                Box::new(|f: &mut TuningForm| f.parallel_parts = "0".into()),
                "parallel parts",
            ),
            (
                Box::new(|f: &mut TuningForm| f.parallel_parts = "-3".into()),
                "parallel parts",
            ),
            (
                Box::new(|f: &mut TuningForm| f.concurrent_transfers = "1000".into()),
                "concurrent transfers",
            ),
            (
                Box::new(|f: &mut TuningForm| f.bandwidth_limit = "10B".into()),
                "bandwidth limit",
            ),
            (
                Box::new(|f: &mut TuningForm| f.storage_class = "Cold".into()),
                "storage class",
            ),
        ] {
            let mut form = valid_form();
            edit(&mut form.tuning);
            let error = form.to_config(&config).expect_err("refused").to_lowercase();
            assert!(error.starts_with(field), "{error:?} should name {field}");
        }
    }

    #[test]
    fn an_empty_secret_keeps_the_stored_one_and_it_never_reaches_the_form() {
        let mut config = ConfigFile::default();
        config.profiles.insert(
            "work".into(),
            Profile {
                endpoint: "https://oss-cn-hangzhou.aliyuncs.com".into(),
                region: Some("cn-hangzhou".into()),
                bucket: Some("photos".into()),
                access_key_id: Some("LTAIexample".into()),
                access_key_secret: Some("s3cret-value".into()),
                security_token: None,
                process_command: None,
                path_style: false,
                ..Profile::default()
            },
        );
        let mut form = SettingsForm::from_config(&config);
        form.edit_profile(&config, "work");
        assert!(form.profile.new_secret.is_empty());
        assert!(form.profile.has_stored_secret);
        assert!(!format!("{form:?}").contains("s3cret-value"));
        form.profile.new_secret = "typed-secret".into();
        assert!(!format!("{form:?}").contains("typed-secret"));
        form.profile.new_secret.clear();
        form.profile.bucket = "videos".into();
        let (saved, named) = form.to_config(&config).expect("valid");
        assert_eq!(named.as_deref(), Some("work"));
        let work = &saved.profiles["work"];
        assert_eq!(work.bucket.as_deref(), Some("videos"));
        assert_eq!(work.access_key_secret.as_deref(), Some("s3cret-value"));
    }

    #[test]
    fn a_new_profile_needs_a_valid_endpoint_and_a_secret() {
        let config = ConfigFile::default();
        let mut form = valid_form();
        form.profile.name = "work".into();
        form.profile.endpoint = "oss-cn-hangzhou.aliyuncs.com".into();
        let error = form.to_config(&config).expect_err("no scheme");
        assert!(error.starts_with("Endpoint:"), "{error}");
        form.profile.endpoint = "https://oss-cn-hangzhou.aliyuncs.com".into();
        form.profile.credentials = CredentialSource::Entered;
        form.profile.access_key_id = "LTAIexample".into();
        let error = form.to_config(&config).expect_err("no secret");
        assert!(error.starts_with("Access key secret:"), "{error}");
        form.profile.new_secret = "typed".into();
        let (saved, named) = form.to_config(&config).expect("valid");
        assert_eq!(named.as_deref(), Some("work"));
        assert_eq!(
            saved.profiles["work"].access_key_secret.as_deref(),
            Some("typed")
        );
    }
}
