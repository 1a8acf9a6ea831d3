//! The farm's cleanup: one node at a time.
use std::sync::Arc;

use super::Farm;
use crate::server::Shared;

/// One cleanup pass over the farm's sessions.
pub async fn pass(_shared: &Shared, _farm: &Arc<Farm>) -> std::io::Result<()> {
    Ok(())
}
