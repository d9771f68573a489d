//! Request handlers of the Sama emulator, grouped as the API reference groups them; `routes`
//! calls them.

mod batches;
mod project;
mod task_reads;
mod task_writes;

pub(crate) use batches::*;
pub(crate) use project::*;
pub(crate) use task_reads::*;
pub(crate) use task_writes::*;
