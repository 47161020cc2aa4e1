//! The `arena` command line: one binary for the server, the workers, organizer chores and the
//! teams' client. Global flags have `ARENA_*` env equivalents.
//!
//! [`args`] holds the clap types; [`run`] only dispatches, one named function per command,
//! grouped by noun: [`server`] (up, serve, worker, migrate, backup, restore), [`team`] (teams,
//! raters), [`competition`] (create, reveal, reals, import, purge) and
//! [`offline`] (dataset, eval, score). The commands that only talk to a running server call
//! [`crate::client`] directly.

mod args;
mod competition;
mod offline;
mod open;
mod server;
mod team;

use crate::client;
use args::{
    Cli, Command, CompetitionCommand, RaterCommand, SubmitCommand, TasksCommand, TeamCommand,
    TokenCommand,
};
use clap::Parser;
use std::process::ExitCode;

/// Parses the command line, runs it, and turns errors into a message and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init(cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let g = cli.global;
    match cli.command {
        Command::Up { demo, workers, gpu } => server::up(&g, demo, workers, &gpu).await,
        Command::Serve => server::serve(&g).await,
        Command::Worker { workers, http, gpu } => server::worker(&g, workers, http, &gpu).await,
        Command::Migrate => server::migrate(&g).await,
        Command::Backup { out } => server::backup(&g, &out).await,
        Command::Restore { archive, force } => server::restore(&g, &archive, force).await,
        Command::Team(TeamCommand::Add {
            name,
            role,
            admin,
            baseline,
        }) => team::add(&g, name, &role, admin, baseline).await,
        Command::Team(TeamCommand::Token(TokenCommand::Rotate { name, client })) => {
            client::rotate_token(&client.server, client.token.as_deref(), &name).await
        }
        Command::Team(TeamCommand::Token(TokenCommand::Revoke { name, client })) => {
            client::revoke_token(&client.server, client.token.as_deref(), &name).await
        }
        Command::Rater(RaterCommand::Add { name, competition }) => {
            team::add_rater(&g, &name, &competition).await
        }
        Command::Competition(CompetitionCommand::Add {
            slug,
            title,
            private_fraction,
            private_salt,
        }) => competition::add(&g, &slug, &title, private_fraction, private_salt).await,
        Command::Competition(CompetitionCommand::Reveal { slug }) => {
            competition::reveal(&g, &slug).await
        }
        Command::Competition(CompetitionCommand::AddReal { slug, files }) => {
            competition::add_reals(&g, &slug, &files).await
        }
        Command::Competition(CompetitionCommand::Import {
            slug,
            dataset,
            title,
            phase_hours,
        }) => competition::import(&g, &slug, &title, &dataset, phase_hours).await,
        Command::Competition(CompetitionCommand::Release {
            slug,
            out,
            reals,
            anonymise,
            force,
            client,
        }) => {
            let opts = client::ReleaseArgs {
                reals,
                anonymise,
                force,
            };
            client::release(&client.server, client.token.as_deref(), &slug, &out, &opts).await
        }
        Command::Purge {
            competition,
            out,
            force,
        } => competition::purge(&g, &competition, &out, force).await,
        Command::Tasks(TasksCommand::List {
            competition,
            client,
        }) => client::tasks_list(&client.server, client.token.as_deref(), &competition).await,
        Command::Tasks(TasksCommand::Download {
            competition,
            out,
            task,
            client,
        }) => {
            let tok = client.token.as_deref();
            client::tasks_download(&client.server, tok, &competition, &out, task.as_deref()).await
        }
        Command::Submit(SubmitCommand::Creation {
            file,
            competition,
            task,
            client,
        }) => {
            let tok = client.token.as_deref();
            client::submit_creation(&client.server, tok, &competition, &file, task.as_deref()).await
        }
        Command::Submit(SubmitCommand::Detector {
            model,
            manifest,
            competition,
            client,
        }) => {
            let tok = client.token.as_deref();
            client::submit_detector(&client.server, tok, &competition, &model, &manifest).await
        }
        Command::Status { id, watch, client } => {
            client::status(&client.server, client.token.as_deref(), id, watch).await
        }
        Command::Leaderboard { slug, client } => client::leaderboard(&client.server, &slug).await,
        Command::Dataset(cmd) => offline::dataset(cmd).await,
        Command::Eval {
            videos,
            detectors,
            out,
            parallel,
            intra_threads,
            gpu,
        } => {
            let threads = (parallel, intra_threads);
            offline::eval(
                gpu.settings(&g)?,
                videos,
                &detectors,
                out.as_deref(),
                threads,
            )
            .await
        }
        Command::Score {
            input,
            preset,
            ratings,
            bootstrap,
            seed,
        } => offline::score(
            &input,
            preset.as_deref(),
            ratings.as_deref(),
            bootstrap,
            seed,
        ),
    }
}
