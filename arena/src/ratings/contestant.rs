//! Who is rated: a team in one of the game's two roles. Below the fit, the matches and the live
//! ratings, which all name contestants.

use serde::Serialize;

/// Which side of the game a team plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = RatingRole)]
pub enum Role {
    Creator,
    Detector,
}

/// A rated entry: a team in one role (a team that both creates and detects is two entries).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Contestant {
    pub role: Role,
    pub team: String,
}

impl Contestant {
    pub fn new(team: &str, role: Role) -> Self {
        Self {
            role,
            team: team.to_owned(),
        }
    }
}
