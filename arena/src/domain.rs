//! Domain types: parsed names and the closed sets of roles, kinds and states.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a user-supplied name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidName(pub String);

/// A team name: 1–64 characters of letters, digits, `-`, `_` or `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TeamName(String);

impl TeamName {
    pub fn parse(raw: &str) -> Result<TeamName, InvalidName> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if raw.is_empty() || raw.len() > 64 || !raw.chars().all(ok_char) {
            return Err(InvalidName(format!(
                "team name {raw:?} must be 1-64 characters of letters, digits, '-', '_' or '.'"
            )));
        }
        Ok(TeamName(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TeamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A competition slug: 1–64 characters of lowercase letters, digits and `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Slug, InvalidName> {
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if raw.is_empty() || raw.len() > 64 || !raw.chars().all(ok_char) || raw.starts_with('-') {
            return Err(InvalidName(format!(
                "slug {raw:?} must be 1-64 characters of lowercase letters, digits and '-'"
            )));
        }
        Ok(Slug(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(raw: &str) -> Option<$name> {
                match raw { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// What a team may submit; a `rater` account submits nothing and rates fakes.
    Role { Creator => "creator", Detector => "detector", Both => "both", Rater => "rater" }
);

impl Role {
    /// A role a competing team may have (`rater` accounts are made per competition).
    pub fn parse_team(s: &str) -> Option<Role> {
        Role::parse(s).filter(|r| *r != Role::Rater)
    }
    pub fn may_create(self) -> bool {
        matches!(self, Role::Creator | Role::Both)
    }
    pub fn may_detect(self) -> bool {
        matches!(self, Role::Detector | Role::Both)
    }
}

string_enum!(
    /// What a submission carries.
    SubmissionKind { Creation => "creation", Detector => "detector", Reals => "reals", Target => "target" }
);

string_enum!(
    /// A submission's life: validated at ingest (a refused upload leaves no row, so there is no
    /// `validating` or `rejected` status), then evaluated by workers. A detector's model checks
    /// run after its upload, in a job: it stays `queued` until they pass, and a model they refuse
    /// ends `failed` with the checks' error code.
    SubmissionStatus {
        Queued => "queued",
        Running => "running",
        Finished => "finished",
        Failed => "failed",
        Disqualified => "disqualified",
        Withdrawn => "withdrawn",
    }
);

impl SubmissionStatus {
    /// Out of the game: not on the boards, its pairs do not count, workers leave it alone.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SubmissionStatus::Failed | SubmissionStatus::Disqualified | SubmissionStatus::Withdrawn
        )
    }
}

string_enum!(
    /// Whether a team may take part: a registered team waits for an organizer's approval.
    TeamStatus { Pending => "pending", Approved => "approved", Rejected => "rejected" }
);

string_enum!(
    /// Real videos are the hidden negatives (label 0); fakes come from creator teams (label 1);
    /// targets are the tasks' target clips (given to creators, never scored).
    VideoRole { Real => "real", Fake => "fake", Target => "target" }
);

string_enum!(
    /// Whether a video's frames have been decoded and cached.
    PrepareState { Pending => "pending", Ready => "ready", Failed => "failed" }
);

string_enum!(
    /// `live` scores every valid pair as it appears; `rounds` alternates creation and detection phases.
    CompetitionMode { Live => "live", Rounds => "rounds" }
);

string_enum!(
    /// Creation-score preset (DESIGN.md §6).
    Preset { Dfgc2021 => "dfgc2021", Dfgc2022 => "dfgc2022" }
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn team_names_are_checked() {
        assert!(TeamName::parse("deep-fakers_2").is_ok());
        assert!(TeamName::parse("").is_err());
        assert!(TeamName::parse("a b").is_err());
        assert!(TeamName::parse("../etc").is_err());
        assert!(TeamName::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn slugs_are_checked() {
        assert!(Slug::parse("dfgc-2022").is_ok());
        assert!(Slug::parse("Demo").is_err());
        assert!(Slug::parse("-x").is_err());
    }

    #[test]
    fn enums_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(*role));
        }
        assert_eq!(
            SubmissionStatus::parse("finished"),
            Some(SubmissionStatus::Finished)
        );
        assert_eq!(SubmissionStatus::parse("nope"), None);
    }
}
