//! Opening the arena (settings, database, storage) for the commands that work on it directly.

use super::args::GlobalArgs;
use crate::context::AppContext;
use anyhow::Context;
use arena::Settings;

/// The arena the global flags point at.
pub(super) async fn open(global: &GlobalArgs) -> anyhow::Result<AppContext> {
    open_settings(global.settings()?).await
}

/// [`open`] with settings the command has adjusted (e.g. by [`super::args::GpuArgs`]).
pub(super) async fn open_settings(settings: Settings) -> anyhow::Result<AppContext> {
    tracing::info!(
        data = %settings.data_dir.display(),
        database = %arena::config::redact_url(&settings.database_url()),
        "opening"
    );
    AppContext::open(settings)
        .await
        .context("cannot open the arena")
}
