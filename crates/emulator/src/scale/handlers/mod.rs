//! Request handlers of the Scale emulator, one file per resource; `routes` calls them.

mod batches;
mod files;
mod projects;
mod tasks;
mod teams;

pub(crate) use batches::*;
pub(crate) use files::*;
pub(crate) use projects::*;
pub(crate) use tasks::*;
pub(crate) use teams::*;
