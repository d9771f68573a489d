//! The commands. Each takes the parsed arguments and a [`Ctx`] and prints its result.

mod batches;
mod deliveries;
mod deliveries_table;
mod demo;
mod emulate;
mod info;
mod tasks;

use crate::args::{
    BatchesCommand, Cli, Command, DeliveriesCommand, GlobalArgs, OutputMode, ProjectCommand,
    TasksCommand,
};
use crate::exit::CliError;
use crate::progress::Bars;
use labelmux::transport::SecretString;
use labelmux::{AnyProvider, Config, ProjectId};

/// What every command needs: the global options and the bar factory.
pub(crate) struct Ctx {
    pub global: GlobalArgs,
    pub bars: Bars,
}

impl Ctx {
    fn new(global: GlobalArgs) -> Self {
        // JSON output is for scripts: no bars even on a terminal.
        let bars = if global.output == OutputMode::Json {
            Bars::hidden()
        } else {
            Bars::detect(global.quiet)
        };
        Ctx { global, bars }
    }

    pub fn json(&self) -> bool {
        self.global.output == OutputMode::Json
    }

    /// A remark for humans on stderr (not under `-q` or `--output json`).
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.global.quiet && !self.json() {
            eprintln!("{}", text.as_ref());
        }
    }

    /// The configuration with the command line's overrides applied.
    pub fn config(&self) -> Result<Config, CliError> {
        let mut cfg = Config::load(self.global.config.as_deref())?;
        if let Some(v) = self.global.provider {
            cfg.provider = v;
        }
        if let Some(u) = &self.global.base_url {
            let vendor = cfg.provider;
            cfg.settings_mut(vendor).base_url = Some(u.clone());
        }
        match self.global.project.as_slice() {
            [] => {}
            [p] => cfg.project = Some(p.clone()),
            _ => return Err(CliError::usage("--project was given more than once")),
        }
        Ok(cfg)
    }

    /// The provider the configuration names (needs its API key).
    pub fn provider(&self) -> Result<(AnyProvider, Config), CliError> {
        let cfg = self.config()?;
        let provider = AnyProvider::from_config(&cfg)?;
        Ok((provider, cfg))
    }

    /// The provider, built with a placeholder key when none is configured: for operations that
    /// never call the vendor (capabilities).
    pub fn provider_without_key(&self) -> Result<AnyProvider, CliError> {
        let mut cfg = self.config()?;
        let vendor = cfg.provider;
        if cfg.api_key(vendor).is_err() {
            cfg.settings_mut(vendor).api_key = Some(SecretString::from("unused".to_owned()));
        }
        Ok(AnyProvider::from_config(&cfg)?)
    }

    /// The project: `--project`, else the config's `project`, else `LABELMUX_PROJECT`.
    pub fn project(&self, cfg: &Config) -> Result<ProjectId, CliError> {
        match cfg.project.as_deref().map(str::trim) {
            Some(p) if !p.is_empty() => Ok(ProjectId::new(p)),
            _ => Err(CliError::usage(
                "no project given: pass --project ID, or set `project` in labelmux.toml or LABELMUX_PROJECT",
            )),
        }
    }
}

/// Run one parsed command line.
pub(crate) async fn run(cli: Cli) -> Result<(), CliError> {
    let ctx = Ctx::new(cli.global);
    match cli.command {
        Command::Demo(a) => demo::run(&ctx, a).await,
        Command::Emulate(a) => emulate::run(&ctx, a).await,
        Command::Tasks(t) => match t {
            TasksCommand::Create(a) => tasks::create(&ctx, a).await,
            TasksCommand::List(a) => tasks::list(&ctx, a).await,
            TasksCommand::Get(a) => tasks::get(&ctx, a).await,
            TasksCommand::Reject(a) => tasks::reject(&ctx, a).await,
            TasksCommand::Priority(a) => tasks::priority(&ctx, a).await,
            TasksCommand::Delete(a) => tasks::delete(&ctx, a).await,
        },
        Command::Batches(b) => match b {
            BatchesCommand::Status(a) => batches::status(&ctx, a).await,
            BatchesCommand::Cancel(a) => batches::cancel(&ctx, a).await,
        },
        Command::Deliveries(DeliveriesCommand::Pull(a)) => deliveries::pull(&ctx, a).await,
        Command::Project(p) => match p {
            ProjectCommand::Info => info::project_info(&ctx).await,
            ProjectCommand::Stats(a) => info::project_stats(&ctx, a).await,
        },
        Command::Schema => info::schema(&ctx).await,
        Command::Capabilities => info::capabilities(&ctx).await,
    }
}
