//! Requirement levels: shared by scenarios (which cite them), outcomes (graded by
//! them) and the catalogue.

use schemars::JsonSchema;
use serde::Deserialize;

/// How binding a requirement is (RFC 2119 keyword of the cited sentence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Must,
    Should,
    May,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "must",
            Level::Should => "should",
            Level::May => "may",
        }
    }
}
