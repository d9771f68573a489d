//! Waiting for a release and reading its file.

use super::{op_err, SegmentsClient};
use crate::release::ReleaseReader;
use crate::wire::Release;
use bytes::Bytes;
use futures::stream::BoxStream;
use labelmux_core::transport::resumable_download;
use labelmux_core::{Error, Result};

impl SegmentsClient {
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
