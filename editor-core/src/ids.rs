//! Typed identifiers: a type prefix, an underscore and a canonical ULID (`clp_01JD…`).
//!
//! Callers mint ids (the host has a clock and randomness; [`crate::command::apply`] must not), so
//! they travel inside commands. The prefix makes a misplaced id (a clip id where a track id is
//! expected) a validation error instead of a confusing "not found". Ids deserialize without
//! checks so that a malformed id reaches [`crate::command::apply`] and comes back as a typed
//! [`crate::error::CommandError::InvalidId`] rather than a parse failure.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

/// Why a string is not a valid id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{id}` is not a valid id: expected `{prefix}_` followed by a 26-character ULID")]
pub struct IdError {
    /// The offending string.
    pub id: String,
    /// The prefix that was expected (without the underscore).
    pub prefix: &'static str,
}

/// Checks `value` is `<prefix>_<ULID>` with the ULID in canonical (upper-case Crockford) form, so
/// two spellings of one ULID can never coexist as "different" ids.
fn check(value: &str, prefix: &'static str) -> Result<(), IdError> {
    let error = || IdError {
        id: value.to_owned(),
        prefix,
    };
    let body = value
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .ok_or_else(error)?;
    let ulid = Ulid::from_string(body).map_err(|_| error())?;
    if ulid.to_string() != body {
        return Err(error());
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
        )]
        #[serde(transparent)]
        pub struct $name(
            #[schemars(regex(pattern = concat!("^", $prefix, "_[0-7][0-9A-HJKMNP-TV-Z]{25}$")))]
            String,
        );

        impl $name {
            /// The type prefix, without the underscore.
            pub const PREFIX: &'static str = $prefix;

            /// Parses and validates an id string.
            pub fn parse(value: &str) -> Result<Self, IdError> {
                check(value, $prefix)?;
                Ok(Self(value.to_owned()))
            }

            /// Builds the id for a ULID the caller minted.
            pub fn from_ulid(ulid: Ulid) -> Self {
                Self(format!("{}_{}", $prefix, ulid))
            }

            /// The id as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Checks the id is well formed (it may have been deserialized unchecked).
            pub fn validate(&self) -> Result<(), IdError> {
                check(&self.0, $prefix)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// Identifies a track (`trk_…`), unique within a timeline.
    TrackId,
    "trk"
);
id_type!(
    /// Identifies a clip (`clp_…`), unique within a timeline.
    ClipId,
    "clp"
);
id_type!(
    /// Identifies an effect (`fx_…`), unique within its clip.
    EffectId,
    "fx"
);
id_type!(
    /// Identifies a keyframe (`kf_…`), unique within its clip (across all its properties).
    KeyframeId,
    "kf"
);
id_type!(
    /// Identifies a marker (`mrk_…`), unique within a timeline.
    MarkerId,
    "mrk"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_canonical_ulids_with_the_right_prefix() {
        let id = ClipId::from_ulid(Ulid::from_parts(1_700_000_000_000, 42));
        assert!(id.validate().is_ok());
        assert_eq!(ClipId::parse(id.as_str()), Ok(id.clone()));
        assert!(id.as_str().starts_with("clp_"));
    }

    #[test]
    fn rejects_wrong_prefix_garbage_and_non_canonical_spellings() {
        let ulid = Ulid::from_parts(1_700_000_000_000, 42).to_string();
        assert!(TrackId::parse(&format!("clp_{ulid}")).is_err());
        assert!(TrackId::parse("trk_").is_err());
        assert!(TrackId::parse("trk_hello").is_err());
        assert!(TrackId::parse(&ulid).is_err());
        assert!(TrackId::parse(&format!("trk_{}", ulid.to_lowercase())).is_err());
        assert!(TrackId::parse(&format!("trk{ulid}")).is_err());
    }
}
