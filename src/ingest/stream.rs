//! Running an importer on its own thread while its quads stream to the caller (the bulk
//! loader), so that reading and loading overlap. The stream ends in the importer's error if it
//! fails, so a loader that commits only on a clean end stays atomic.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use oxigraph::model::Quad;

use super::builder::{ImportCounts, ImportEvent, ImportOutput, ImportSender};
use super::error::IngestError;

/// Quads streamed from an importer thread.
pub struct ImportStream {
    /// Source name the importer announced (graph IRIs).
    pub source: String,
    /// Content hash the importer announced.
    pub content_hash: String,
    rx: Receiver<ImportEvent>,
    importer: Option<JoinHandle<Result<ImportOutput, IngestError>>>,
    batch: std::vec::IntoIter<Quad>,
    counts: Arc<Mutex<Option<ImportCounts>>>,
}

/// Starts `importer` on a thread and waits for it to announce what it imports. An importer
/// that fails before that (missing files, say) returns its error here.
pub fn spawn<F>(importer: F) -> Result<ImportStream, IngestError>
where
    F: FnOnce(Option<ImportSender>) -> Result<ImportOutput, IngestError> + Send + 'static,
{
    let (tx, rx) = sync_channel(4);
    let handle = std::thread::spawn(move || importer(Some(tx)));
    match rx.recv() {
        Ok(ImportEvent::Started {
            source,
            content_hash,
        }) => Ok(ImportStream {
            source,
            content_hash,
            rx,
            importer: Some(handle),
            batch: Vec::new().into_iter(),
            counts: Arc::new(Mutex::new(None)),
        }),
        _ => Err(match handle.join() {
            Ok(Err(e)) => e,
            _ => IngestError::Input("the importer stopped before it started".into()),
        }),
    }
}

impl ImportStream {
    /// A handle that holds the importer's counts once the stream has ended cleanly.
    pub fn counts(&self) -> Arc<Mutex<Option<ImportCounts>>> {
        Arc::clone(&self.counts)
    }
}

impl Iterator for ImportStream {
    type Item = Result<Quad, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(q) = self.batch.next() {
                return Some(Ok(q));
            }
            match self.rx.recv() {
                Ok(ImportEvent::Quads(batch)) => self.batch = batch.into_iter(),
                Ok(ImportEvent::Started { .. }) => {}
                Err(_) => {
                    return match self.importer.take()?.join() {
                        Ok(Ok(output)) => {
                            if let Ok(mut c) = self.counts.lock() {
                                *c = Some(output.counts);
                            }
                            None
                        }
                        Ok(Err(e)) => Some(Err(e)),
                        Err(_) => Some(Err(IngestError::Input("the importer panicked".into()))),
                    };
                }
            }
        }
    }
}
