//! Waiting for a release and reading its file.

use super::{op_err, SegmentsClient, VENDOR};
use crate::release::ReleaseReader;
use crate::wire::{Release, ReleaseStatus};
use bytes::Bytes;
use futures::stream::BoxStream;
use labelmux_core::poll::{poll_until, PollOptions, PollStatus};
use labelmux_core::transport::resumable_download;
use labelmux_core::{Error, ErrorKind, Result};

impl SegmentsClient {
    /// Poll `GET …/releases/{release}/` until the release file is built. `FAILED` is an
    /// [`ErrorKind::Internal`] error; running out of `options.timeout` is a `Timeout` error.
    pub async fn wait_for_release(
        &self,
        dataset: &str,
        name: &str,
        options: PollOptions,
    ) -> Result<Release> {
        const OP: &str = "wait_for_release";
        poll_until(VENDOR, OP, options, || async {
            let r = self.get_release(dataset, name).await?;
            match &r.status {
                Some(ReleaseStatus::Succeeded) if r.file_url().is_some() => Ok(PollStatus::Done(r)),
                Some(ReleaseStatus::Failed) => Err(op_err(
                    Error::new(
                        ErrorKind::Internal,
                        format!("Segments.ai failed to build release {name:?} of {dataset}"),
                    ),
                    OP,
                )),
                other => Ok(PollStatus::Pending(Some(format!(
                    "release {name:?} is {}",
                    other
                        .as_ref()
                        .map(|s| s.as_str())
                        .unwrap_or("without status")
                )))),
            }
        })
        .await
    }

    /// The release file's bytes: an unauthenticated GET of its URL (pre-signed storage),
    /// resumed with `Range` where the connection drops.
    pub fn release_file_bytes(
        &self,
        release: &Release,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        const OP: &str = "read_release_file";
        let url = release.file_url().ok_or_else(|| {
            op_err(
                Error::validation(format!(
                    "release {:?} has no file yet (status {}); wait for it to succeed",
                    release.name,
                    release
                        .status
                        .as_ref()
                        .map(|s| s.as_str())
                        .unwrap_or("unknown")
                )),
                OP,
            )
        })?;
        Ok(resumable_download(self.transport(), OP, url))
    }

    /// The release file as a [`ReleaseReader`]: samples one at a time, never the whole file in
    /// memory.
    pub fn release_file(&self, release: &Release) -> Result<ReleaseReader> {
        Ok(ReleaseReader::new(self.release_file_bytes(release)?))
    }
}
