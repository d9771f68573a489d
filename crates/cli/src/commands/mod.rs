//! The commands. Each takes the parsed arguments and a [`Ctx`] and prints its result.

mod batches;
mod deliveries;
mod deliveries_table;
mod demo;
mod emulate;
mod export;
mod info;
mod tasks;

use crate::args::{
    BatchesCommand, Cli, Command, DeliveriesCommand, GlobalArgs, OutputMode, ProjectCommand,
    TasksCommand,
};
use crate::exit::CliError;
use crate::progress::Bars;
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

    /// A remark for humans on stderr (not under `-q` or `--output json`), made printable
    /// (ids and names in it may come from a server).
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.global.quiet && !self.json() {
            eprintln!("{}", crate::exit::printable(text.as_ref()));
        }
    }

    /// The configuration with the command line's overrides applied.
    pub fn config(&self) -> Result<Config, CliError> {
        let names: Vec<String> = std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .collect();
        Config::check_env_names(names.iter().map(String::as_str))?;
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
        if let Ok(key) = cfg.api_key(cfg.provider) {
            crate::exit::register_secret(labelmux::transport::ExposeSecret::expose_secret(&key));
        }
        // Refused before anything runs: settings out of range, a base URL that is not https.
        cfg.validate()?;
        Ok(cfg)
    }

    /// The provider the configuration names (needs its API key).
    pub fn provider(&self) -> Result<(AnyProvider, Config), CliError> {
        let cfg = self.config()?;
        let provider = AnyProvider::from_config(&cfg)?;
        Ok((provider, cfg))
    }

    /// `labelmux` followed by every option of this run that chose the endpoint (`--config`,
    /// `--provider`, `--base-url`), so a printed follow-up command talks to the same server.
    pub fn again(&self) -> String {
        let mut cmd = String::from("labelmux");
        if let Some(c) = &self.global.config {
            cmd.push_str(&format!(
                " --config {}",
                shell_word(&c.display().to_string())
            ));
        }
        if let Some(p) = self.global.provider {
            cmd.push_str(&format!(" --provider {}", p.name()));
        }
        if let Some(u) = &self.global.base_url {
            let shown = labelmux::transport::redact::redact_url_str(u);
            cmd.push_str(&format!(" --base-url {}", shell_word(&shown)));
        }
        cmd
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

/// `s` quoted for a POSIX shell when it holds anything but plain characters.
pub(crate) fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Run one parsed command line.
pub(crate) async fn run(cli: Cli) -> Result<(), CliError> {
    let ctx = Ctx::new(cli.global);
    run_command(&ctx, cli.command)
        .await
        .map_err(|e| base_url_hint(&ctx, e))
}

/// A 404 from a base URL whose path differs from the vendor's API path (`/v2` for Sama) is
/// more likely the URL than the ids: say so.
fn base_url_hint(ctx: &Ctx, mut e: CliError) -> CliError {
    if e.code != crate::exit::code::NOT_FOUND {
        return e;
    }
    let Ok(cfg) = ctx.config() else { return e };
    let vendor = cfg.provider;
    if cfg.settings(vendor).base_url.is_none() {
        return e;
    }
    let url = cfg.base_url_shown(vendor);
    let default = vendor.default_base_url();
    let api_path = default
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    if !api_path.is_empty() && !url.trim_end_matches('/').ends_with(&format!("/{api_path}")) {
        e.advice = Some(format!(
            "check the base URL {url}: {vendor}'s API ends in /{api_path} (e.g. {default}); then check the project, batch and task ids"
        ));
    }
    e
}

async fn run_command(ctx: &Ctx, command: Command) -> Result<(), CliError> {
    match command {
        Command::Demo(a) => demo::run(ctx, a).await,
        Command::Emulate(a) => emulate::run(ctx, a).await,
        Command::Emulator(a) => emulate::control(ctx, a).await,
        Command::Tasks(t) => match t {
            TasksCommand::Create(a) => tasks::create(ctx, a).await,
            TasksCommand::List(a) => tasks::list(ctx, a).await,
            TasksCommand::Get(a) => tasks::get(ctx, a).await,
            TasksCommand::Reject(a) => tasks::reject(ctx, a).await,
            TasksCommand::Priority(a) => tasks::priority(ctx, a).await,
            TasksCommand::Delete(a) => tasks::delete(ctx, a).await,
        },
        Command::Batches(b) => match b {
            BatchesCommand::Status(a) => batches::status(ctx, a).await,
            BatchesCommand::Cancel(a) => batches::cancel(ctx, a).await,
            BatchesCommand::List => batches::list(ctx).await,
        },
        Command::Deliveries(DeliveriesCommand::Pull(a)) => deliveries::pull(ctx, a).await,
        Command::Project(p) => match p {
            ProjectCommand::Info => info::project_info(ctx).await,
            ProjectCommand::Stats(a) => info::project_stats(ctx, a).await,
        },
        Command::Schema => info::schema(ctx).await,
        Command::Capabilities => info::capabilities(ctx).await,
        Command::Config(crate::args::ConfigCommand::Show) => info::config_show(ctx).await,
        Command::Doctor => info::doctor(ctx).await,
    }
}
