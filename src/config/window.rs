//! The window's own settings (the `[window]` table): its theme and whether it tells the
//! desktop when uploads end. The engine and the CLI ignore them.

use serde::{Deserialize, Serialize};

/// Which colours the window uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThemeChoice {
    /// Follow the desktop's light or dark preference (dark when it says nothing).
    #[default]
    System,
    Light,
    Dark,
}

impl ThemeChoice {
    pub const ALL: [ThemeChoice; 3] = [ThemeChoice::System, ThemeChoice::Light, ThemeChoice::Dark];

    /// How the settings view names it.
    pub fn label(self) -> &'static str {
        match self {
            ThemeChoice::System => "Follow the system",
            ThemeChoice::Light => "Light",
            ThemeChoice::Dark => "Dark",
        }
    }
}

/// The `[window]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowSettings {
    pub theme: ThemeChoice,
    /// A desktop notification when a folder or a file finishes or fails; on unless turned
    /// off, since an upload often ends while the window is out of sight.
    pub notifications: bool,
}

impl Default for WindowSettings {
    fn default() -> Self {
        Self {
            theme: ThemeChoice::default(),
            notifications: true,
        }
    }
}

impl WindowSettings {
    /// Nothing changed: the file need not carry the table.
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::ConfigFile;

    use super::*;

    #[test]
    fn a_file_without_the_table_follows_the_system_theme() {
        let file = ConfigFile::parse("").expect("empty file");
        assert_eq!(file.window, WindowSettings::default());
        assert_eq!(file.window.theme, ThemeChoice::System);
    }

    #[test]
    fn the_table_round_trips_and_refuses_unknown_values() {
        let file = ConfigFile::parse("[window]\ntheme = \"light\"\n").expect("parses");
        assert_eq!(file.window.theme, ThemeChoice::Light);
        let text = toml::to_string_pretty(&file).expect("serialises");
        assert_eq!(ConfigFile::parse(&text).expect("reparses"), file);
        assert!(ConfigFile::parse("[window]\ntheme = \"purple\"\n").is_err());
    }

    #[test]
    fn notifications_are_on_unless_the_file_turns_them_off() {
        let file = ConfigFile::parse("[window]\ntheme = \"dark\"\n").expect("parses");
        assert!(file.window.notifications);
        let off = ConfigFile::parse("[window]\nnotifications = false\n").expect("parses");
        assert!(!off.window.notifications);
        assert_eq!(off.window.theme, ThemeChoice::System);
        let text = toml::to_string_pretty(&off).expect("serialises");
        assert!(text.contains("notifications = false"), "{text}");
        assert_eq!(ConfigFile::parse(&text).expect("reparses"), off);
        assert!(ConfigFile::parse("[window]\nnotifications = \"maybe\"\n").is_err());
    }
}
