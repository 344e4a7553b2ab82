//! The profile fields that say how the endpoint is reached: a region picker that builds
//! an Alibaba endpoint (public, internal or acceleration), the V1 signature choice, and
//! the network settings (CA bundle, proxy, resolve entries), each checked with a message
//! that names the field.

use std::path::PathBuf;

use egui::Ui;

use super::settings::labelled_text;
use crate::config::{Profile, SignatureChoice};
use crate::protocol::client::ResolveEntry;
use crate::protocol::client::network::{redact_proxy, validate_proxy};
use crate::protocol::region::{EndpointKind, alibaba_endpoint_kind, endpoint_for_region};

/// Regions offered in the picker; any other id can still be typed in the Region field.
pub const KNOWN_REGIONS: &[&str] = &[
    "cn-hangzhou",
    "cn-shanghai",
    "cn-beijing",
    "cn-shenzhen",
    "cn-qingdao",
    "cn-zhangjiakou",
    "cn-chengdu",
    "cn-hongkong",
    "ap-southeast-1",
    "ap-northeast-1",
    "ap-southeast-5",
    "us-west-1",
    "us-east-1",
    "eu-central-1",
    "eu-west-1",
    "me-east-1",
];

/// The fields as typed. `Debug` hides a proxy's password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NetworkForm {
    /// Which endpoint of the region the picker builds.
    pub endpoint_kind: EndpointKind,
    /// Sign with V1 even where V4 would be used.
    pub use_v1: bool,
    /// Empty: the system's certificates only.
    pub ca_bundle: String,
    /// Empty: the system proxy.
    pub proxy: String,
    /// One `HOST:PORT:ADDRESS` per line.
    pub resolve: String,
}

impl std::fmt::Debug for NetworkForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkForm")
            .field("endpoint_kind", &self.endpoint_kind)
            .field("use_v1", &self.use_v1)
            .field("ca_bundle", &self.ca_bundle)
            .field("proxy", &redact_proxy(&self.proxy))
            .field("resolve", &self.resolve)
            .finish()
    }
}

impl NetworkForm {
    pub fn from_profile(profile: &Profile) -> Self {
        Self {
            endpoint_kind: alibaba_endpoint_kind(&profile.endpoint)
                .map(|(kind, _)| kind)
                .unwrap_or_default(),
            use_v1: profile.signature == Some(SignatureChoice::V1),
            ca_bundle: profile
                .ca_bundle
                .as_ref()
                .map(|path| path.display().to_string())
                .unwrap_or_default(),
            proxy: profile.proxy.clone().unwrap_or_default(),
            resolve: profile.resolve.join("\n"),
        }
    }

    /// Copies the fields into `profile`; refuses a missing CA file, a bad proxy URL or a
    /// bad resolve line with a sentence that names the field.
    pub fn apply_to(&self, profile: &mut Profile) -> Result<(), String> {
        profile.signature = self.use_v1.then_some(SignatureChoice::V1);
        profile.ca_bundle = match self.ca_bundle.trim() {
            "" => None,
            path => {
                let path = PathBuf::from(path);
                if !path.is_file() {
                    return Err(format!(
                        "CA bundle: {} is not a file; give the path of a PEM file",
                        path.display()
                    ));
                }
                Some(path)
            }
        };
        profile.proxy = match self.proxy.trim() {
            "" => None,
            proxy => {
                validate_proxy(proxy).map_err(|m| format!("proxy: {m}"))?;
                Some(proxy.to_owned())
            }
        };
        profile.resolve = self
            .resolve
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| {
                ResolveEntry::parse(line)
                    .map(|entry| entry.to_string())
                    .map_err(|m| format!("resolve: {m}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(())
    }
}

/// A row that sets Region and Endpoint from a picked region and kind of endpoint; drawn
/// inside the profile form's grid.
pub fn region_picker_ui(
    ui: &mut Ui,
    region: &mut String,
    endpoint: &mut String,
    form: &mut NetworkForm,
) {
    let label = ui.label("Alibaba region");
    ui.horizontal(|ui| {
        let shown = if region.trim().is_empty() {
            "pick a region"
        } else {
            region.as_str()
        };
        let mut picked = None;
        egui::ComboBox::from_id_salt("region_picker")
            .selected_text(shown.to_owned())
            .show_ui(ui, |ui| {
                for known in KNOWN_REGIONS {
                    if ui.selectable_label(region == known, *known).clicked() {
                        picked = Some((*known).to_owned());
                    }
                }
            })
            .response
            .labelled_by(label.id);
        // Its own label, so a screen reader (and a test) tells the two pickers apart.
        let kind_label = ui.label("Kind of endpoint");
        egui::ComboBox::from_id_salt("endpoint_kind")
            .selected_text(form.endpoint_kind.label())
            .show_ui(ui, |ui| {
                for kind in EndpointKind::ALL {
                    ui.selectable_value(&mut form.endpoint_kind, kind, kind.label());
                }
            })
            .response
            .labelled_by(kind_label.id);
        if let Some(picked) = picked {
            *region = picked;
        }
        let can_build = !region.trim().is_empty();
        if ui
            .add_enabled(can_build, egui::Button::new("Set endpoint"))
            .clicked()
        {
            *endpoint = endpoint_for_region(region.trim(), form.endpoint_kind);
        }
    });
    ui.end_row();
}

/// The signature choice and network settings, folded away until asked for: most
/// profiles need none of them.
pub fn network_section_ui(ui: &mut Ui, form: &mut NetworkForm) {
    egui::CollapsingHeader::new("Signature and network")
        .id_salt("profile_network")
        .show(ui, |ui| {
            egui::Grid::new("profile_network_form")
                .num_columns(2)
                .spacing([12.0, 6.0])
                .show(ui, |ui| network_rows_ui(ui, form));
        });
}

fn network_rows_ui(ui: &mut Ui, form: &mut NetworkForm) {
    ui.label("");
    ui.checkbox(
        &mut form.use_v1,
        "Sign with V1 (V4 is used when the region is known)",
    );
    ui.end_row();
    labelled_text(
        ui,
        "CA bundle",
        &mut form.ca_bundle,
        "PEM file of extra CAs to trust (optional)",
    );
    labelled_text(
        ui,
        "Proxy",
        &mut form.proxy,
        "http://proxy.example.com:3128 (optional)",
    );
    let label = ui.label("Resolve entries");
    ui.add(
        egui::TextEdit::multiline(&mut form.resolve)
            .hint_text("HOST:PORT:ADDRESS, one a line (optional)")
            .desired_rows(2)
            .desired_width(320.0),
    )
    .labelled_by(label.id);
    ui.end_row();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_checked_naming_the_field_and_round_trip_through_a_profile() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "pem").unwrap();
        let form = NetworkForm {
            use_v1: true,
            ca_bundle: ca.display().to_string(),
            proxy: "http://me:hunter2@proxy:3128".into(),
            resolve: "demo.oss-test.local:443:127.0.0.1\n\n".into(),
            ..NetworkForm::default()
        };
        assert!(!format!("{form:?}").contains("hunter2"));
        let mut profile = Profile::default();
        form.apply_to(&mut profile).expect("valid");
        assert_eq!(profile.signature, Some(SignatureChoice::V1));
        assert_eq!(profile.resolve, ["demo.oss-test.local:443:127.0.0.1"]);
        let back = NetworkForm::from_profile(&profile);
        assert_eq!(back.resolve, "demo.oss-test.local:443:127.0.0.1");
        assert_eq!(back.proxy, form.proxy);

        for (bad, field) in [
            (
                NetworkForm {
                    ca_bundle: dir.path().join("missing.pem").display().to_string(),
                    ..NetworkForm::default()
                },
                "CA bundle:",
            ),
            (
                NetworkForm {
                    proxy: "proxy:3128".into(),
                    ..NetworkForm::default()
                },
                "proxy:",
            ),
            (
                NetworkForm {
                    resolve: "demo.oss-test.local:443".into(),
                    ..NetworkForm::default()
                },
                "resolve:",
            ),
        ] {
            let message = bad.apply_to(&mut Profile::default()).expect_err(field);
            assert!(message.starts_with(field), "{message}");
        }
    }

    #[test]
    fn the_kind_of_an_alibaba_endpoint_is_read_back() {
        let profile = Profile {
            endpoint: endpoint_for_region("cn-beijing", EndpointKind::Internal),
            ..Profile::default()
        };
        assert_eq!(
            NetworkForm::from_profile(&profile).endpoint_kind,
            EndpointKind::Internal
        );
    }
}
