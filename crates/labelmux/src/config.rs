//! Configuration: which provider to use and its settings, from a TOML file and/or environment
//! variables. Switching vendor is a change here, not in code. Every key is documented in
//! `docs/configuration.md`; an unknown key is an error, never silently ignored.

use labelmux_core::cursor::FileCursorStore;
use labelmux_core::transport::{SecretString, TransportConfig};
use labelmux_core::{Error, InputMapping, JsonMap, Result, Vendor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The file [`Config::load`] reads when no path is given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "labelmux.toml";

/// Settings of one vendor: the `[<vendor>]` table of the file.
#[derive(Clone, Default)]
pub struct VendorSettings {
    /// API base URL; the vendor's production URL when unset.
    pub base_url: Option<String>,
    /// The API key. Prefer the environment variable: keys in files end up in backups.
    pub api_key: Option<SecretString>,
    /// Environment variable holding the key, when not the vendor's default (e.g. `SAMA_API_KEY`).
    pub api_key_env: Option<String>,
    /// Renames and defaults applied to task inputs before they go to this vendor
    /// (`[<vendor>.inputs]`).
    pub inputs: InputMapping,
    /// Overrides of the shared `[transport]` settings for this vendor (`[<vendor>.transport]`,
    /// the same keys).
    pub transport: JsonMap,
    /// The adapter's own options: every other key of `[<vendor>]`, handed to the adapter, which
    /// refuses unknown ones (see `SamaOptions`, `ScaleOptions`, …).
    pub options: JsonMap,
}

impl fmt::Debug for VendorSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VendorSettings")
            .field(
                "base_url",
                &self
                    .base_url
                    .as_deref()
                    .map(labelmux_core::transport::redact::redact_url_str),
            )
            .field("api_key", &self.api_key.as_ref().map(|_| "REDACTED"))
            .field("api_key_env", &self.api_key_env)
            .field("inputs", &self.inputs)
            .field("transport", &self.transport)
            .field("options", &self.options)
            .finish()
    }
}

/// Everything needed to build a provider.
#[derive(Clone, Debug)]
pub struct Config {
    /// Which adapter [`crate::AnyProvider::from_config`] builds.
    pub provider: Vendor,
    /// Default project id, used by the CLI when `--project` is absent.
    pub project: Option<String>,
    /// Where consumer cursors (and their lock files) are kept.
    pub state_dir: Option<PathBuf>,
    /// Timeouts, retries, rate and concurrency limits shared by every vendor (each vendor's
    /// `[<vendor>.transport]` overrides them: see [`Config::transport_for`]).
    pub transport: TransportConfig,
    vendors: BTreeMap<Vendor, VendorSettings>,
}

// The raw shapes of the TOML file. `deny_unknown_fields` turns typos into errors; a vendor
// table's own options are checked by its adapter.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    provider: Option<toml::Value>,
    project: Option<toml::Value>,
    state_dir: Option<PathBuf>,
    transport: Option<TransportConfig>,
    sama: Option<RawVendor>,
    scale: Option<RawVendor>,
    labelbox: Option<RawVendor>,
    segments: Option<RawVendor>,
}

#[derive(Deserialize, Default)]
struct RawVendor {
    base_url: Option<String>,
    api_key: Option<String>,
    api_key_env: Option<String>,
    inputs: Option<InputMapping>,
    transport: Option<toml::Table>,
    #[serde(flatten)]
    options: toml::Table,
}

fn to_json_map(table: toml::Table, origin: &str) -> Result<JsonMap> {
    match serde_json::to_value(table) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Ok(JsonMap::new()),
        Err(e) => Err(Error::config(format!("invalid {origin}: {e}"))),
    }
}

impl RawVendor {
    fn into_settings(self, vendor: Vendor) -> Result<VendorSettings> {
        Ok(VendorSettings {
            base_url: self.base_url,
            api_key: self.api_key.map(SecretString::from),
            api_key_env: self.api_key_env,
            inputs: self.inputs.unwrap_or_default(),
            transport: to_json_map(
                self.transport.unwrap_or_default(),
                &format!("[{vendor}.transport]"),
            )?,
            options: to_json_map(self.options, &format!("[{vendor}]"))?,
        })
    }
}

/// A scalar id or name from the file: a string, or a number written without quotes
/// (`project = 1001`).
fn scalar_text(value: toml::Value, key: &str, origin: &str) -> Result<String> {
    match value {
        toml::Value::String(s) => Ok(s),
        toml::Value::Integer(i) => Ok(i.to_string()),
        other => Err(Error::config(format!(
            "in {origin}: `{key}` must be a string, found {}",
            other.type_str()
        ))),
    }
}

impl Config {
    /// Defaults for `vendor`: production URLs, keys from the environment.
    pub fn for_vendor(vendor: Vendor) -> Config {
        Config {
            provider: vendor,
            project: None,
            state_dir: None,
            transport: TransportConfig::default(),
            vendors: Vendor::ALL
                .into_iter()
                .map(|v| (v, VendorSettings::default()))
                .collect(),
        }
    }

    /// Parse a TOML document. Unknown keys and bad values are [`labelmux_core::ErrorKind::Config`]
    /// errors naming the key.
    pub fn from_toml_str(text: &str) -> Result<Config> {
        Self::parse(text, "configuration")
    }

    fn parse(text: &str, origin: &str) -> Result<Config> {
        // toml's messages quote the offending line; an `api_key = "…"` line would leak the key,
        // so keep only the first line of its message plus the location.
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let msg = e.message().to_owned();
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            Error::config(format!("invalid {origin}{at}: {msg}"))
        })?;
        let provider = match raw.provider {
            Some(p) => scalar_text(p, "provider", origin)?
                .parse::<Vendor>()
                .map_err(|e| Error::config(format!("in {origin}: {e}")))?,
            None => Vendor::Sama,
        };
        let mut cfg = Config::for_vendor(provider);
        cfg.project = raw
            .project
            .map(|p| scalar_text(p, "project", origin))
            .transpose()?;
        cfg.state_dir = raw.state_dir;
        if let Some(t) = raw.transport {
            cfg.transport = t;
        }
        for (vendor, table) in [
            (Vendor::Sama, raw.sama),
            (Vendor::Scale, raw.scale),
            (Vendor::Labelbox, raw.labelbox),
            (Vendor::Segments, raw.segments),
        ] {
            if let Some(table) = table {
                cfg.vendors.insert(vendor, table.into_settings(vendor)?);
            }
        }
        Ok(cfg)
    }

    /// The transport settings of `vendor`: the shared `[transport]` with `[<vendor>.transport]`
    /// applied over it, validated.
    pub fn transport_for(&self, vendor: Vendor) -> Result<TransportConfig> {
        let overrides = &self.settings(vendor).transport;
        if overrides.is_empty() {
            self.transport.validate()?;
            return Ok(self.transport.clone());
        }
        let mut merged = match serde_json::to_value(&self.transport) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => JsonMap::new(),
        };
        for (k, v) in overrides {
            merged.insert(k.clone(), v.clone());
        }
        let merged: TransportConfig = serde_json::from_value(serde_json::Value::Object(merged))
            .map_err(|e| {
                Error::config(format!("invalid [{vendor}.transport]: {e}")).with_vendor(vendor)
            })?;
        merged.validate().map_err(|e| {
            Error::config(format!(
                "in [{vendor}.transport] over [transport]: {}",
                e.message()
            ))
            .with_vendor(vendor)
        })?;
        Ok(merged)
    }

    /// Check the selected provider's settings before anything runs: its transport settings
    /// within their documented ranges ([`TransportConfig::validate`]) and its base URL a URL
    /// that may carry a key (`https`, or `http` to loopback or with `allow_insecure_http`).
    /// Errors show the URL redacted and never the key.
    pub fn validate(&self) -> Result<()> {
        let vendor = self.provider;
        let transport = self.transport_for(vendor)?;
        let forms = self
            .api_key(vendor)
            .map(|k| {
                labelmux_core::transport::redact::secret_forms(
                    labelmux_core::transport::ExposeSecret::expose_secret(&k),
                )
            })
            .unwrap_or_default();
        labelmux_core::transport::parse_base_url(
            vendor,
            &self.base_url(vendor),
            transport.allow_insecure_http,
            &forms,
        )?;
        // The adapter's own numeric options, where it has some.
        match vendor {
            Vendor::Scale => self
                .adapter_options::<labelmux_scale::ScaleOptions>(vendor)?
                .validate(),
            Vendor::Segments => self
                .adapter_options::<labelmux_segments::SegmentsOptions>(vendor)?
                .validate(),
            Vendor::Labelbox => self
                .adapter_options::<labelmux_labelbox::LabelboxSettings>(vendor)?
                .options()
                .map(drop),
            _ => Ok(()),
        }
    }

    /// The base URL of `vendor` as it may be shown: secrets in its query and user info replaced
    /// by `REDACTED` (also when it does not parse).
    pub fn base_url_shown(&self, vendor: Vendor) -> String {
        labelmux_core::transport::redact::redact_url_str(&self.base_url(vendor))
    }

    /// The adapter options of `vendor` (every key of `[<vendor>]` but the common ones), decoded
    /// into the adapter's options type, whose unknown keys are errors naming the table.
    pub fn adapter_options<T: serde::de::DeserializeOwned>(&self, vendor: Vendor) -> Result<T> {
        let options = self.settings(vendor).options.clone();
        serde_json::from_value(serde_json::Value::Object(options)).map_err(|e| {
            Error::config(format!("invalid option in [{vendor}]: {e}")).with_vendor(vendor)
        })
    }

    /// Read a TOML file.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        Self::parse(&text, &format!("config file {}", path.display()))
    }

    /// The configuration a program should use: the file given, else `$LABELMUX_CONFIG`, else
    /// `./labelmux.toml` if present, else defaults; then environment overrides
    /// (`LABELMUX_PROVIDER`, `LABELMUX_PROJECT`, `LABELMUX_BASE_URL` for the selected provider,
    /// `LABELMUX_STATE_DIR`, `LABELMUX_TRANSPORT_<KEY>`; see [`Config::apply_env`]).
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let env_path = std::env::var_os("LABELMUX_CONFIG").map(PathBuf::from);
        let mut cfg = match path.map(Path::to_path_buf).or(env_path) {
            Some(p) => Config::from_file(&p)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                Config::from_file(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => Config::for_vendor(Vendor::Sama),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.apply_env_options(std::env::vars());
        Ok(cfg)
    }

    /// Apply environment overrides read through `get` (injectable for tests).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        if let Some(p) = get("LABELMUX_PROVIDER").filter(|s| !s.trim().is_empty()) {
            self.provider = p
                .parse()
                .map_err(|e| Error::config(format!("LABELMUX_PROVIDER: {e}")))?;
        }
        if let Some(p) = get("LABELMUX_PROJECT").filter(|s| !s.trim().is_empty()) {
            self.project = Some(p);
        }
        if let Some(u) = get("LABELMUX_BASE_URL").filter(|s| !s.trim().is_empty()) {
            self.settings_mut(self.provider).base_url = Some(u);
        }
        if let Some(d) = get("LABELMUX_STATE_DIR").filter(|s| !s.trim().is_empty()) {
            self.state_dir = Some(PathBuf::from(d));
        }
        self.transport = transport_from_env(&self.transport, &get)?;
        for vendor in Vendor::ALL {
            self.apply_vendor_env(vendor, &get)?;
        }
        Ok(())
    }

    /// `LABELMUX_<VENDOR>_<KEY>` for the keys of `[<vendor>]`: `BASE_URL`, `API_KEY_ENV`,
    /// `INPUTS` (a JSON object like the table), `INPUTS_RENAME` and `INPUTS_DEFAULTS` (JSON
    /// objects), `TRANSPORT_<KEY>`. The adapter's own options come from
    /// [`Config::apply_env_options`].
    fn apply_vendor_env(
        &mut self,
        vendor: Vendor,
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<()> {
        let prefix = format!("LABELMUX_{}_", vendor.name().to_ascii_uppercase());
        let var = |key: &str| {
            let name = format!("{prefix}{key}");
            get(&name)
                .filter(|s| !s.trim().is_empty())
                .map(|v| (name, v))
        };
        let json_object = |name: &str, text: &str| -> Result<serde_json::Value> {
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v @ serde_json::Value::Object(_)) => Ok(v),
                _ => Err(Error::config(format!(
                    "{name}: expected a JSON object, e.g. {{\"url\": \"attachment\"}}"
                ))),
            }
        };
        if let Some((_, v)) = var("BASE_URL") {
            self.settings_mut(vendor).base_url = Some(v.trim().to_owned());
        }
        if let Some((_, v)) = var("API_KEY_ENV") {
            self.settings_mut(vendor).api_key_env = Some(v.trim().to_owned());
        }
        if let Some((name, v)) = var("INPUTS") {
            self.settings_mut(vendor).inputs = serde_json::from_value(json_object(&name, &v)?)
                .map_err(|e| Error::config(format!("{name}: {e}")))?;
        }
        if let Some((name, v)) = var("INPUTS_RENAME") {
            self.settings_mut(vendor).inputs.rename =
                serde_json::from_value(json_object(&name, &v)?)
                    .map_err(|e| Error::config(format!("{name}: {e}")))?;
        }
        if let Some((name, v)) = var("INPUTS_DEFAULTS") {
            if let serde_json::Value::Object(m) = json_object(&name, &v)? {
                self.settings_mut(vendor).inputs.defaults = m;
            }
        }
        for key in transport_keys() {
            if let Some((_, v)) = var(&format!("TRANSPORT_{}", key.to_ascii_uppercase())) {
                let value = serde_json::from_str(v.trim())
                    .unwrap_or_else(|_| serde_json::Value::String(v.trim().to_owned()));
                self.settings_mut(vendor).transport.insert(key, value);
            }
        }
        Ok(())
    }

    /// The adapter options of every vendor from `LABELMUX_<VENDOR>_<OPTION>` variables among
    /// `vars` (e.g. `LABELMUX_SAMA_EXTERNAL_KEY_INPUT=ext_id`): the value as JSON when it
    /// parses, else as text. The adapter refuses options it does not know.
    pub fn apply_env_options(&mut self, vars: impl IntoIterator<Item = (String, String)>) {
        for (name, value) in vars {
            for vendor in Vendor::ALL {
                let prefix = format!("LABELMUX_{}_", vendor.name().to_ascii_uppercase());
                let Some(key) = name.strip_prefix(&prefix) else {
                    continue;
                };
                if VENDOR_ENV_KEYS.contains(&key)
                    || key.starts_with("TRANSPORT_")
                    || value.trim().is_empty()
                {
                    continue;
                }
                let value = serde_json::from_str(value.trim())
                    .unwrap_or_else(|_| serde_json::Value::String(value.trim().to_owned()));
                self.settings_mut(vendor)
                    .options
                    .insert(key.to_ascii_lowercase(), value);
            }
        }
    }

    /// The `LABELMUX_*` names among `names` that configure nothing, with the message to show:
    /// a typo (`LABELMUX_PROJCT`) would otherwise be ignored silently. Variables of labelmux's
    /// own tooling (`LABELMUX_EMULATOR_*`, `LABELMUX_BENCH_*`, `LABELMUX_PYTHON`,
    /// `LABELMUX_VENV`, the test hook `LABELMUX_FAULT`) are not configuration and pass.
    pub fn check_env_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let transport = transport_keys();
        let unknown: Vec<&str> = names
            .into_iter()
            .filter(|n| n.starts_with("LABELMUX_"))
            .filter(|n| {
                let rest = &n["LABELMUX_".len()..];
                let known_top = ENV_KEYS.contains(&rest)
                    || TOOL_ENV_PREFIXES.iter().any(|p| rest.starts_with(p))
                    || rest
                        .strip_prefix("TRANSPORT_")
                        .is_some_and(|k| transport.iter().any(|t| t.eq_ignore_ascii_case(k)));
                let vendor_key = Vendor::ALL.into_iter().any(|v| {
                    rest.strip_prefix(&format!("{}_", v.name().to_ascii_uppercase()))
                        .is_some_and(|k| !k.is_empty())
                });
                !(known_top || vendor_key)
            })
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let mut known: Vec<String> = ENV_KEYS.iter().map(|k| format!("LABELMUX_{k}")).collect();
        known.extend(
            transport
                .iter()
                .map(|k| format!("LABELMUX_TRANSPORT_{}", k.to_ascii_uppercase())),
        );
        known.push("LABELMUX_<VENDOR>_<KEY> (BASE_URL, API_KEY_ENV, INPUTS, INPUTS_RENAME, INPUTS_DEFAULTS, TRANSPORT_<KEY>, adapter options)".into());
        Err(Error::config(format!(
            "unknown environment variable{} {}; known: {}",
            if unknown.len() > 1 { "s" } else { "" },
            unknown.join(", "),
            known.join(", ")
        )))
    }

    /// The settings of `vendor`.
    pub fn settings(&self, vendor: Vendor) -> &VendorSettings {
        static NONE: std::sync::OnceLock<VendorSettings> = std::sync::OnceLock::new();
        self.vendors
            .get(&vendor)
            .unwrap_or_else(|| NONE.get_or_init(VendorSettings::default))
    }

    /// The settings of `vendor`, to change them.
    pub fn settings_mut(&mut self, vendor: Vendor) -> &mut VendorSettings {
        self.vendors.entry(vendor).or_default()
    }

    /// The base URL for `vendor`: configured, else production.
    pub fn base_url(&self, vendor: Vendor) -> String {
        self.settings(vendor)
            .base_url
            .clone()
            .unwrap_or_else(|| vendor.default_base_url().to_owned())
    }

    /// The API key of `vendor`: the configured one, else its environment variable.
    pub fn api_key(&self, vendor: Vendor) -> Result<SecretString> {
        self.api_key_from(vendor, |k| std::env::var(k).ok())
    }

    /// Like [`Config::api_key`] with an injectable environment.
    pub fn api_key_from(
        &self,
        vendor: Vendor,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<SecretString> {
        let s = self.settings(vendor);
        if let Some(k) = &s.api_key {
            return Ok(k.clone());
        }
        let var = s.api_key_env.as_deref().unwrap_or(vendor.api_key_env());
        match get(var) {
            Some(k) if !k.trim().is_empty() => Ok(SecretString::from(k.trim().to_owned())),
            _ => Err(Error::config(format!(
                "no API key for {vendor}: set the environment variable {var} (or `api_key` under [{vendor}] in the config file)"
            ))
            .with_vendor(vendor)),
        }
    }

    /// The consumer-cursor store (every adapter keeps its consumers' positions there).
    pub fn cursor_store(&self) -> FileCursorStore {
        match &self.state_dir {
            Some(d) => FileCursorStore::new(d),
            None => FileCursorStore::default_location(),
        }
    }
}

/// Top-level environment variables (after `LABELMUX_`).
const ENV_KEYS: [&str; 5] = ["CONFIG", "PROVIDER", "PROJECT", "BASE_URL", "STATE_DIR"];

/// Keys of `[<vendor>]` with their own environment form (after `LABELMUX_<VENDOR>_`).
const VENDOR_ENV_KEYS: [&str; 5] = [
    "BASE_URL",
    "API_KEY_ENV",
    "INPUTS",
    "INPUTS_RENAME",
    "INPUTS_DEFAULTS",
];

/// `LABELMUX_` variables of labelmux's tools (CI, fidelity checks, benchmarks), not config.
const TOOL_ENV_PREFIXES: [&str; 5] = ["EMULATOR_", "BENCH_", "PYTHON", "VENV", "FAULT"];

/// The keys of `[transport]`.
fn transport_keys() -> Vec<String> {
    match serde_json::to_value(TransportConfig::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Every `[transport]` key can also come from `LABELMUX_TRANSPORT_<KEY>` (upper case), e.g.
/// `LABELMUX_TRANSPORT_MAX_ATTEMPTS=8`. Values are read as JSON scalars (`8`, `2.5`, `true`);
/// the same validation as in the file applies.
fn transport_from_env(
    current: &TransportConfig,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<TransportConfig> {
    let serde_json::Value::Object(mut fields) = serde_json::to_value(current)
        .map_err(|e| Error::config(format!("cannot read transport settings: {e}")))?
    else {
        return Ok(current.clone());
    };
    let mut changed = false;
    let keys: Vec<String> = fields.keys().cloned().collect();
    for key in keys {
        let var = format!("LABELMUX_TRANSPORT_{}", key.to_ascii_uppercase());
        let Some(text) = get(&var).filter(|s| !s.trim().is_empty()) else {
            continue;
        };
        // JSON scalars (`8`, `2.5`, `true`), else the text itself, so durations read as in
        // the file (`10s`, `1m30s`).
        let value = serde_json::from_str(text.trim())
            .unwrap_or_else(|_| serde_json::Value::String(text.trim().to_owned()));
        fields.insert(key, value);
        // Check now, so the error names this variable.
        serde_json::from_value::<TransportConfig>(serde_json::Value::Object(fields.clone()))
            .map_err(|e| Error::config(format!("{var}: {text:?}: {e}")))?;
        changed = true;
    }
    if !changed {
        return Ok(current.clone());
    }
    serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| Error::config(format!("LABELMUX_TRANSPORT_*: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use labelmux_core::transport::ExposeSecret;
    use labelmux_core::ErrorKind;

    #[test]
    fn parses_every_section() {
        let cfg = Config::from_toml_str(
            r#"
            provider = "scale"
            project = "demo"
            state_dir = "/tmp/lm"
            [transport]
            timeout_secs = 5
            max_attempts = 3
            rate_limit_per_second = 10
            concurrency = 4
            [sama]
            base_url = "http://127.0.0.1:1/v2"
            external_key_input = ""
            [scale]
            api_key_env = "MY_SCALE_KEY"
            [scale.inputs]
            rename = { url = "attachment" }
            defaults = { attachment_type = "image", geometries = { box = {} } }
            "#,
        )
        .unwrap();
        assert_eq!(cfg.provider, Vendor::Scale);
        assert_eq!(cfg.project.as_deref(), Some("demo"));
        assert_eq!(cfg.transport.max_attempts, 3);
        assert_eq!(cfg.transport.rate_limit_per_second, Some(10));
        assert_eq!(cfg.transport.timeout_secs, 5.0);
        assert_eq!(
            cfg.settings(Vendor::Sama).options["external_key_input"],
            serde_json::json!("")
        );
        assert_eq!(cfg.base_url(Vendor::Sama), "http://127.0.0.1:1/v2");
        assert_eq!(cfg.base_url(Vendor::Scale), "https://api.scale.com/v1");
        let key = cfg
            .api_key_from(Vendor::Scale, |k| {
                (k == "MY_SCALE_KEY").then(|| "s3cret".into())
            })
            .unwrap();
        assert_eq!(key.expose_secret(), "s3cret");
        let scale = cfg.settings(Vendor::Scale);
        assert_eq!(scale.inputs.rename["url"], "attachment");
        assert_eq!(
            scale.inputs.defaults["geometries"],
            serde_json::json!({"box": {}})
        );
        assert!(cfg.settings(Vendor::Sama).inputs.is_empty());
    }

    #[test]
    fn unknown_keys_and_providers_are_errors() {
        let err = Config::from_toml_str("provider = \"sama\"\ntimeout = 3").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("timeout"), "{err}");
        let err = Config::from_toml_str("[transport]\nretries = 3").unwrap_err();
        assert!(err.to_string().contains("retries"), "{err}");
        let err = Config::from_toml_str("[scale.inputs]\nrenames = {}").unwrap_err();
        assert!(err.to_string().contains("renames"), "{err}");
        // A vendor's own options are checked by its adapter: see the facade's tests.
        let err = Config::from_toml_str("provider = \"labelboxx\"").unwrap_err();
        assert!(
            err.to_string().contains("sama, scale, labelbox, segments"),
            "{err}"
        );
        let err = Config::from_toml_str("provider = ").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn missing_key_names_the_variable_and_the_field() {
        let cfg = Config::for_vendor(Vendor::Sama);
        let err = cfg.api_key_from(Vendor::Sama, |_| None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        let msg = err.to_string();
        assert!(
            msg.contains("SAMA_API_KEY") && msg.contains("[sama]"),
            "{msg}"
        );
    }

    #[test]
    fn environment_overrides_file() {
        let mut cfg = Config::from_toml_str("provider = \"sama\"\nproject = \"1\"").unwrap();
        cfg.apply_env(|k| match k {
            "LABELMUX_PROVIDER" => Some("scale".into()),
            "LABELMUX_PROJECT" => Some("p2".into()),
            "LABELMUX_BASE_URL" => Some("http://localhost:9/v1".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.provider, Vendor::Scale);
        assert_eq!(cfg.project.as_deref(), Some("p2"));
        assert_eq!(cfg.base_url(Vendor::Scale), "http://localhost:9/v1");
        assert_eq!(cfg.base_url(Vendor::Sama), "https://api.sama.com/v2");
        let err = cfg
            .apply_env(|k| (k == "LABELMUX_PROVIDER").then(|| "nope".into()))
            .unwrap_err();
        assert!(err.to_string().contains("LABELMUX_PROVIDER"), "{err}");
    }

    #[test]
    fn transport_settings_come_from_the_environment_too() {
        let mut cfg =
            Config::from_toml_str("[transport]\nmax_attempts = 3\ntimeout_secs = 9").unwrap();
        cfg.apply_env(|k| match k {
            "LABELMUX_TRANSPORT_MAX_ATTEMPTS" => Some("8".into()),
            "LABELMUX_TRANSPORT_RATE_LIMIT_PER_SECOND" => Some("20".into()),
            "LABELMUX_TRANSPORT_CONCURRENCY" => Some(" 4 ".into()),
            "LABELMUX_TRANSPORT_ALLOW_INSECURE_HTTP" => Some("true".into()),
            "LABELMUX_STATE_DIR" => Some("/tmp/lm-state".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.transport.max_attempts, 8);
        assert_eq!(cfg.transport.rate_limit_per_second, Some(20));
        assert_eq!(cfg.transport.concurrency, 4);
        assert!(cfg.transport.allow_insecure_http);
        assert_eq!(
            cfg.transport.timeout_secs, 9.0,
            "untouched keys keep the file's value"
        );
        assert_eq!(cfg.state_dir, Some(PathBuf::from("/tmp/lm-state")));
        let err = cfg
            .apply_env(|k| (k == "LABELMUX_TRANSPORT_TIMEOUT_SECS").then(|| "soon".into()))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(
            err.to_string().contains("LABELMUX_TRANSPORT_TIMEOUT_SECS"),
            "{err}"
        );
        let err = cfg
            .apply_env(|k| (k == "LABELMUX_TRANSPORT_MAX_ATTEMPTS").then(|| "-1".into()))
            .unwrap_err();
        assert!(err.to_string().contains("LABELMUX_TRANSPORT"), "{err}");
    }

    #[test]
    fn every_key_has_an_environment_form() {
        let mut cfg = Config::for_vendor(Vendor::Sama);
        cfg.apply_env(|k| match k {
            "LABELMUX_PROVIDER" => Some("scale".into()),
            "LABELMUX_TRANSPORT_TIMEOUT_SECS" => Some("10s".into()),
            "LABELMUX_TRANSPORT_CONNECT_TIMEOUT" => Some("1m30s".into()),
            "LABELMUX_SCALE_INPUTS" => Some(
                r#"{"rename": {"url": "attachment"}, "defaults": {"attachment_type": "image"}}"#
                    .into(),
            ),
            "LABELMUX_SAMA_INPUTS_RENAME" => Some(r#"{"image": "url"}"#.into()),
            "LABELMUX_SAMA_BASE_URL" => Some("http://127.0.0.1:1/v2".into()),
            "LABELMUX_SCALE_API_KEY_ENV" => Some("MY_KEY".into()),
            "LABELMUX_SCALE_TRANSPORT_MAX_ATTEMPTS" => Some("2".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.transport.timeout_secs, 10.0);
        assert_eq!(cfg.transport.connect_timeout.as_secs(), 90);
        let scale = cfg.settings(Vendor::Scale);
        assert_eq!(scale.inputs.rename["url"], "attachment");
        assert_eq!(scale.inputs.defaults["attachment_type"], "image");
        assert_eq!(scale.api_key_env.as_deref(), Some("MY_KEY"));
        assert_eq!(cfg.transport_for(Vendor::Scale).unwrap().max_attempts, 2);
        assert_eq!(cfg.settings(Vendor::Sama).inputs.rename["image"], "url");
        assert_eq!(cfg.base_url(Vendor::Sama), "http://127.0.0.1:1/v2");
        cfg.apply_env_options([
            (
                "LABELMUX_SAMA_EXTERNAL_KEY_INPUT".to_owned(),
                "ext".to_owned(),
            ),
            (
                "LABELMUX_SAMA_BASE_URL".to_owned(),
                "ignored here".to_owned(),
            ),
        ]);
        assert_eq!(
            cfg.settings(Vendor::Sama).options["external_key_input"],
            serde_json::json!("ext")
        );
        assert!(!cfg.settings(Vendor::Sama).options.contains_key("base_url"));
        let err = cfg
            .apply_env(|k| (k == "LABELMUX_SCALE_INPUTS").then(|| "url=attachment".into()))
            .unwrap_err();
        assert!(err.to_string().contains("LABELMUX_SCALE_INPUTS"), "{err}");
    }

    #[test]
    fn unknown_labelmux_variables_are_named_with_the_known_ones() {
        Config::check_env_names([
            "LABELMUX_PROJECT",
            "LABELMUX_TRANSPORT_MAX_ATTEMPTS",
            "LABELMUX_SCALE_INPUTS",
            "LABELMUX_EMULATOR_URL",
            "LABELMUX_VENV",
            "PATH",
        ])
        .unwrap();
        let err =
            Config::check_env_names(["LABELMUX_PROJCT", "LABELMUX_TRANSPORT_RETRIES"]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("LABELMUX_PROJCT")
                && text.contains("LABELMUX_TRANSPORT_RETRIES")
                && text.contains("LABELMUX_PROJECT")
                && text.contains("LABELMUX_TRANSPORT_MAX_ATTEMPTS"),
            "{text}"
        );
    }

    #[test]
    fn secrets_never_show_in_debug_or_errors() {
        let canary = "CANARY-7f3a9";
        let cfg = Config::from_toml_str(&format!(
            "[sama]\napi_key = \"{canary}\"\nbase_url = \"https://u:{canary}@h/v2?access_key={canary}\""
        ))
        .unwrap();
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains(canary), "{dbg}");
        // A TOML error on a line holding a key must not echo it.
        let err =
            Config::from_toml_str(&format!("[sama]\napi_key = \"{canary}\" junk")).unwrap_err();
        assert!(!format!("{err} {err:?}").contains(canary), "{err}");
    }

    #[test]
    fn vendor_tables_carry_transport_overrides_and_numeric_projects() {
        let cfg = Config::from_toml_str(
            "project = 1001\n[transport]\nmax_attempts = 3\n[scale.transport]\nmax_attempts = 7\n[scale]\ntask_type = \"imageannotation\"",
        )
        .unwrap();
        assert_eq!(cfg.project.as_deref(), Some("1001"));
        assert_eq!(cfg.transport_for(Vendor::Scale).unwrap().max_attempts, 7);
        assert_eq!(cfg.transport_for(Vendor::Sama).unwrap().max_attempts, 3);
        assert_eq!(
            cfg.settings(Vendor::Scale).options["task_type"],
            serde_json::json!("imageannotation")
        );
        let bad = Config::from_toml_str("[sama.transport]\nmax_attempts = \"many\"").unwrap();
        let err = bad.transport_for(Vendor::Sama).unwrap_err().to_string();
        assert!(err.contains("[sama.transport]"), "{err}");
        let err = Config::from_toml_str("project = [1]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`project` must be a string"), "{err}");
    }

    #[test]
    fn adapters_refuse_unknown_options_naming_the_table() {
        let cfg = Config::from_toml_str("[scale]\nexternal_key_input = \"x\"").unwrap();
        let err = cfg
            .adapter_options::<labelmux_scale::ScaleOptions>(Vendor::Scale)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[scale]") && err.contains("external_key_input"),
            "{err}"
        );
        let cfg = Config::from_toml_str(
            "[sama]\nexternal_key_input = \"\"\n[scale]\ntask_type = \"imageannotation\"\npre_annotations = { metadata = \"pre\" }",
        )
        .unwrap();
        let sama: labelmux_sama::SamaOptions = cfg.adapter_options(Vendor::Sama).unwrap();
        assert_eq!(sama.external_key_input, None);
        assert_eq!(
            sama.client_batch_id_input.as_deref(),
            Some("client_batch_id")
        );
        let scale: labelmux_scale::ScaleOptions = cfg.adapter_options(Vendor::Scale).unwrap();
        assert_eq!(scale.task_type.as_deref(), Some("imageannotation"));
        assert_eq!(
            scale.pre_annotations,
            labelmux_scale::PreAnnotationTarget::Metadata("pre".into())
        );
    }
    #[test]
    fn settings_that_could_hang_a_command_are_refused_before_it_runs() {
        for (toml, key) in [
            ("[transport]\nmax_attempts = 4294967295", "max_attempts"),
            ("[transport]\nconcurrency = 100000000", "concurrency"),
            (
                "[transport]\nrate_limit_per_second = 4294967295",
                "rate_limit_per_second",
            ),
            ("[transport]\ndeadline_secs = \"30d\"", "deadline_secs"),
            ("[sama.transport]\nmax_attempts = 1000", "max_attempts"),
        ] {
            let cfg = Config::from_toml_str(toml).unwrap();
            let err = cfg.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{toml}");
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
        let mut cfg = Config::for_vendor(Vendor::Sama);
        let err = cfg
            .apply_env(|k| (k == "LABELMUX_TRANSPORT_CONCURRENCY").then(|| "100000".into()))
            .and_then(|()| cfg.validate())
            .unwrap_err();
        assert!(err.to_string().contains("concurrency"), "{err}");
    }

    #[test]
    fn base_urls_must_be_https_or_loopback_and_adapter_options_in_range() {
        let with = |url: &str| {
            let mut cfg = Config::for_vendor(Vendor::Scale);
            cfg.settings_mut(Vendor::Scale).api_key = Some(SecretString::from("CANARY-K3Y"));
            cfg.settings_mut(Vendor::Scale).base_url = Some(url.to_owned());
            cfg
        };
        for ok in [
            "https://api.scale.com/v1",
            "http://127.0.0.1:9/v1",
            "http://localhost/v1",
        ] {
            with(ok).validate().unwrap();
        }
        for bad in [
            "ftp://user:CANARY-K3Y@files.example/v1",
            "http://api.scale.com/v1",
            "https://user:CANARY-K3Y@[bad/v1",
            "https//CANARY-K3Y@api.scale.com/v1",
            "https://api.scale.com:99999/v1?api_key=CANARY-K3Y",
        ] {
            let cfg = with(bad);
            let err = cfg.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{bad}");
            let shown = format!("{err} {err:?} {}", cfg.base_url_shown(Vendor::Scale));
            assert!(!shown.contains("CANARY-K3Y"), "{bad}: {shown}");
        }
        for (vendor, toml, key) in [
            (
                Vendor::Scale,
                "[scale]\ndelivery_window = 0",
                "delivery_window",
            ),
            (
                Vendor::Scale,
                "[scale]\ndelivery_window = 1000000000",
                "delivery_window",
            ),
            (
                Vendor::Segments,
                "[segments]\nchunk_size = 100000",
                "chunk_size",
            ),
            (
                Vendor::Segments,
                "[segments]\ndelivery_window = 0",
                "delivery_window",
            ),
            (
                Vendor::Labelbox,
                "[labelbox]\ndelivery_overlap = \"400d\"",
                "delivery_overlap",
            ),
        ] {
            let mut cfg = Config::from_toml_str(toml).unwrap();
            cfg.provider = vendor;
            let err = cfg.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{toml}");
            assert!(err.to_string().contains(key), "{toml}: {err}");
        }
        let mut insecure = with("http://api.scale.com/v1");
        insecure.transport.allow_insecure_http = true;
        insecure.validate().unwrap();
    }
}

#[cfg(test)]
mod building_a_provider {
    use crate::{AnyProvider, Config, ErrorKind};

    #[test]
    fn an_empty_project_id_is_refused_when_the_provider_is_built() {
        for project in ["\"\"", "\"  \""] {
            let cfg = Config::from_toml_str(&format!(
                "provider = \"sama\"\nproject = {project}\n[sama]\napi_key = \"k\"\n"
            ))
            .unwrap();
            let err = AnyProvider::from_config(&cfg).expect_err("refused");
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.to_string().contains("project id is empty"), "{err}");
        }
        let cfg = Config::from_toml_str(
            "provider = \"sama\"\nproject = \"1001\"\n[sama]\napi_key = \"k\"\n",
        )
        .unwrap();
        assert!(AnyProvider::from_config(&cfg).is_ok());
    }
}
