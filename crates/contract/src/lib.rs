//! # labelmux-contract
//!
//! One behaviour suite, written once against [`labelmux_core::Provider`], that every adapter
//! runs unchanged against its emulator in plain `cargo test`.
//!
//! An adapter's test file implements [`Fixture`] (usually by building an [`EmulatorFixture`])
//! and calls [`contract_tests!`], which expands to one `#[test]` per function of [`suite`]:
//!
//! ```ignore
//! async fn fixture() -> labelmux_contract::EmulatorFixture {
//!     let emulator = labelmux_emulator::start(EmulatorConfig::new(Vendor::Sama)).await.unwrap();
//!     // ... build the provider under test and one with a wrong key ...
//!     EmulatorFixture::new(emulator, provider, wrong_key_provider, valid_task, invalid_task)
//! }
//! labelmux_contract::contract_tests!(fixture);
//! ```
//!
//! Every test builds its own fixture (a fresh in-process emulator), so tests are independent
//! and run in parallel. A test whose operation the adapter's [`Capabilities`] rule out is
//! skipped *visibly*: it writes `SKIPPED <test>: <vendor> lacks <capability>` straight to
//! stderr (bypassing the test harness's output capture) and returns.
//!
//! Adding a test: write a `pub async fn name(f: &dyn Fixture)` in [`suite`] and add `name` to
//! the list in [`contract_tests!`]; every adapter then runs it.
//!
//! [`contract_self_tests!`] checks the suite itself: it runs suite functions against the same
//! fixture with one deliberate bug injected ([`mutants`]) and expects each to fail.
//!
//! Design choice: the suite depends on `labelmux-emulator` and uses its [`FaultConfig`] as the
//! fault vocabulary, instead of a parallel struct every fixture would have to translate: the
//! emulators are the only thing the suite runs against, and one definition cannot drift.
#![deny(missing_docs)]

pub mod mutants;
pub mod suite;
mod support;

pub use labelmux_emulator::{Control, FaultConfig, RunningEmulator};

use async_trait::async_trait;
use labelmux_core::{Capabilities, ProjectId, Provider, TaskId, TaskSpec};
pub use labelmux_core::{Operation, Property};
use std::future::Future;
use std::io::Write;

/// A task the vendor must refuse, and a part of the vendor's message that proves the refusal
/// reached the caller unchanged.
#[derive(Debug, Clone)]
pub struct InvalidTask {
    /// The task to submit. The suite sets its external key.
    pub spec: TaskSpec,
    /// Text the vendor's error message for this task contains (e.g. Sama's
    /// `Invalid seeded output name(s)`).
    pub message_contains: String,
}

/// What the suite needs from one adapter under test.
///
/// The suite owns external keys: it overwrites [`TaskSpec::external_key`] of every task it
/// gets from [`Fixture::valid_task`] / [`Fixture::invalid_task`] with a key unique to the test.
#[async_trait]
pub trait Fixture: Send + Sync {
    /// The provider under test, with the right key and a transport that retries enough to
    /// ride out the injected faults (e.g. `TransportConfig::fast_for_tests()`).
    fn provider(&self) -> &dyn Provider;

    /// The project every test works in (the emulator's default project).
    fn project(&self) -> ProjectId;

    /// The same adapter against the same emulator, with a wrong API key.
    fn unauthorized_provider(&self) -> &dyn Provider;

    /// Drive the vendor's workforce: complete and deliver every task not yet delivered
    /// (including rejected ones). Returns how many tasks were delivered.
    async fn finish_all(&self) -> usize;

    /// Replace the faults injected into vendor-API requests (default: none).
    async fn set_faults(&self, faults: FaultConfig);

    /// Task number `i` valid for the project (distinct inputs per `i`).
    fn valid_task(&self, i: usize) -> TaskSpec;

    /// A task the vendor refuses.
    fn invalid_task(&self) -> InvalidTask;

    /// A well-formed id of a task that does not exist.
    fn unknown_task_id(&self) -> TaskId {
        TaskId::new("ffffffffffffffffffffffff")
    }

    /// Strings (API keys) that must never appear in an error's `Display` or `Debug`.
    fn secrets(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A [`Fixture`] over an in-process emulator: what most adapter test files need.
pub struct EmulatorFixture {
    emulator: RunningEmulator,
    provider: Box<dyn Provider>,
    unauthorized: Box<dyn Provider>,
    project: ProjectId,
    valid_task: fn(usize) -> TaskSpec,
    invalid_task: fn() -> InvalidTask,
    secrets: Vec<String>,
    // Resources that must live as long as the fixture (e.g. a cursor directory).
    _guards: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl EmulatorFixture {
    /// A fixture over `emulator`'s first seeded project. The emulator's key is treated as a
    /// secret; add the wrong key with [`EmulatorFixture::with_secret`].
    pub fn new(
        emulator: RunningEmulator,
        provider: impl Provider + 'static,
        unauthorized: impl Provider + 'static,
        valid_task: fn(usize) -> TaskSpec,
        invalid_task: fn() -> InvalidTask,
    ) -> Self {
        let project = ProjectId::new(emulator.projects().first().cloned().unwrap_or_default());
        let secrets = vec![emulator.api_key()];
        EmulatorFixture {
            emulator,
            provider: Box::new(provider),
            unauthorized: Box::new(unauthorized),
            project,
            valid_task,
            invalid_task,
            secrets,
            _guards: Vec::new(),
        }
    }

    /// Keep `guard` (e.g. a `tempfile::TempDir` holding consumer cursors) alive as long as
    /// the fixture.
    pub fn with_guard(mut self, guard: impl std::any::Any + Send + Sync) -> Self {
        self._guards.push(Box::new(guard));
        self
    }

    /// Work in this project instead of the first seeded one.
    pub fn with_project(mut self, project: impl Into<ProjectId>) -> Self {
        self.project = project.into();
        self
    }

    /// One more string that must never appear in errors.
    pub fn with_secret(mut self, secret: impl Into<String>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// The emulator's control handle.
    pub fn control(&self) -> Control {
        self.emulator.control()
    }
}

#[async_trait]
impl Fixture for EmulatorFixture {
    fn provider(&self) -> &dyn Provider {
        self.provider.as_ref()
    }
    fn project(&self) -> ProjectId {
        self.project.clone()
    }
    fn unauthorized_provider(&self) -> &dyn Provider {
        self.unauthorized.as_ref()
    }
    async fn finish_all(&self) -> usize {
        self.emulator.control().finish_all(self.project.as_str())
    }
    async fn set_faults(&self, faults: FaultConfig) {
        self.emulator.control().set_faults(faults);
    }
    fn valid_task(&self, i: usize) -> TaskSpec {
        (self.valid_task)(i)
    }
    fn invalid_task(&self) -> InvalidTask {
        (self.invalid_task)()
    }
    fn secrets(&self) -> Vec<String> {
        self.secrets.clone()
    }
}

/// A capability a contract test needs: an operation or a property (an enum, so a misspelt
/// capability is a compile error, not a silent skip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// An operation of the `Provider` trait.
    Op(Operation),
    /// A property of the adapter.
    Prop(Property),
}

impl From<Operation> for Need {
    fn from(op: Operation) -> Self {
        Need::Op(op)
    }
}

impl From<Property> for Need {
    fn from(p: Property) -> Self {
        Need::Prop(p)
    }
}

impl Need {
    fn name(self) -> &'static str {
        match self {
            Need::Op(o) => o.as_str(),
            Need::Prop(p) => p.as_str(),
        }
    }
}

/// Whether `fixture`'s adapter has every capability in `needs`. If not, prints
/// `SKIPPED <test>: <vendor> lacks <capability>` to stderr, bypassing output capture so the skip
/// shows in every `cargo test` run.
pub fn requires(fixture: &dyn Fixture, test: &str, needs: &[Need]) -> bool {
    let caps = fixture.provider().capabilities();
    match needs.iter().find(|n| !has(&caps, **n)) {
        None => true,
        Some(missing) => {
            skip_note(&format!(
                "SKIPPED {test}: {} lacks {}",
                fixture.provider().vendor(),
                missing.name()
            ));
            false
        }
    }
}

/// Whether `caps` has `need`.
pub fn has(caps: &Capabilities, need: Need) -> bool {
    match need {
        Need::Op(o) => caps.supports(o),
        Need::Prop(p) => caps.has(p),
    }
}

/// Write one line to the real stderr (not the captured one).
pub fn skip_note(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Run one contract test: a fresh multi-threaded runtime (2 workers), so the in-process
/// emulator and the client run concurrently. Used by [`contract_tests!`].
pub fn block_on<F: Future<Output = ()>>(test: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("cannot build a tokio runtime for a contract test");
    rt.block_on(test);
}

/// Expands to one `#[test]` per function of [`suite`]. The argument is a path to an
/// `async fn() -> impl Fixture` that builds a fresh fixture for every test.
#[macro_export]
macro_rules! contract_tests {
    ($make:path) => {
        $crate::__contract_tests!(
            $make;
            create_batch_from_stream_creates_every_task_once,
            resubmitted_external_keys_create_no_duplicates,
            deliveries_since_timestamp_deliver_each_task_once,
            since_last_call_consumers_are_independent,
            uncommitted_consumer_is_redelivered,
            reject_sends_task_back_for_rework,
            priority_updates_are_visible,
            delete_removes_only_deletable_tasks,
            unknown_task_is_not_found,
            wrong_key_is_unauthorized,
            invalid_task_failure_is_not_lost,
            errors_name_vendor_and_operation,
            faults_lose_nothing_and_duplicate_nothing,
            project_reads_agree_with_created_tasks,
            capabilities_match_behaviour,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tests {
    ($make:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::block_on(async {
                    let fixture = $make().await;
                    $crate::suite::$name(&fixture).await;
                });
            }
        )*
    };
}

/// Expands to one `#[test]` per deliberate bug of [`mutants::Bug`]: each runs the suite
/// function that must catch the bug against a [`mutants::Mutant`] of a fresh fixture and
/// asserts it fails for the expected reason. Same argument as [`contract_tests!`].
#[macro_export]
macro_rules! contract_self_tests {
    ($make:path) => {
        $crate::__self_test!(
            $make,
            suite_catches_duplicate_deliveries,
            DuplicateFirstDelivery,
            deliveries_since_timestamp_deliver_each_task_once,
            "delivered twice",
            [CreateBatch, DeliveriesSince]
        );
        $crate::__self_test!(
            $make,
            suite_catches_lost_deliveries,
            DropLastDelivery,
            deliveries_since_timestamp_deliver_each_task_once,
            "expected 40 deliveries",
            [CreateBatch, DeliveriesSince]
        );
        $crate::__self_test!(
            $make,
            suite_catches_lost_listed_tasks,
            DropLastListedTask,
            create_batch_from_stream_creates_every_task_once,
            "tasks listed for the batch",
            [CreateBatch, ListTasks]
        );
        $crate::__self_test!(
            $make,
            suite_catches_swallowed_creation_failures,
            SwallowCreationFailures,
            invalid_task_failure_is_not_lost,
            "creation failures reported",
            [CreateBatch]
        );
        $crate::__self_test!(
            $make,
            suite_catches_wrong_error_kind,
            NotFoundAsInternal,
            unknown_task_is_not_found,
            "right: NotFound",
            [GetTask]
        );
        $crate::__self_test!(
            $make,
            suite_catches_errors_without_operation,
            ErrorsWithoutOperation,
            unknown_task_is_not_found,
            "error names no operation",
            [GetTask]
        );
        $crate::__self_test!(
            $make,
            suite_catches_false_capabilities,
            ClaimRejectUnsupported,
            capabilities_match_behaviour,
            "reject_task",
            [RejectTasks]
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __self_test {
    ($make:path, $name:ident, $bug:ident, $test:ident, $expected:literal, [$($need:ident),*]) => {
        #[test]
        fn $name() {
            $crate::block_on(async {
                let fixture = $make().await;
                if !$crate::requires(&fixture, stringify!($name), &[$($crate::Need::Op($crate::Operation::$need)),*]) {
                    return;
                }
                let bug = $crate::mutants::Bug::$bug;
                let mutant = $crate::mutants::Mutant::new(fixture, bug);
                let message =
                    $crate::mutants::panic_message($crate::suite::$test(&mutant)).await;
                $crate::mutants::assert_caught(stringify!($test), bug, message, $expected);
            });
        }
    };
}
