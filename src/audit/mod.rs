//! The access log: one record per overview access, granted or denied, written before any data
//! is returned. If a record cannot be written, the request gets no data.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// One access to a patient's data.
#[derive(Clone, Debug, Serialize)]
pub struct AccessRecord {
    pub time: DateTime<Utc>,
    pub request_id: String,
    /// Who asked: the token's issuer and subject.
    pub actor_issuer: String,
    pub actor_subject: String,
    pub actor_role: &'static str,
    /// Whose data (12 digits). The access log is the one place it is written down.
    pub patient: String,
    /// The domains asked for.
    pub domains: Vec<&'static str>,
    /// The sources whose data was read (ids).
    pub sources: Vec<String>,
    /// `granted`, or the error code of the denial.
    pub outcome: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the access log could not be written: {0}")]
pub struct AuditError(String);

/// Where access records go.
pub trait AuditLog: Send + Sync {
    fn record<'a>(&'a self, record: &'a AccessRecord) -> BoxFuture<'a, Result<(), AuditError>>;
}

/// An append-only file of JSON lines. Each record is written and flushed to the operating
/// system before the call returns, so a crash of the service loses none.
pub struct FileAuditLog {
    path: PathBuf,
    file: Mutex<tokio::fs::File>,
}

impl FileAuditLog {
    /// Opens (creating if needed, with its folder) the log at `path` for appending.
    pub async fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await?;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        Ok(FileAuditLog {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl AuditLog for FileAuditLog {
    fn record<'a>(&'a self, record: &'a AccessRecord) -> BoxFuture<'a, Result<(), AuditError>> {
        Box::pin(async move {
            let mut line =
                serde_json::to_vec(record).map_err(|e| AuditError(format!("encoding: {e}")))?;
            line.push(b'\n');
            let mut file = self.file.lock().await;
            file.write_all(&line)
                .await
                .map_err(|e| AuditError(e.kind().to_string()))?;
            file.flush()
                .await
                .map_err(|e| AuditError(e.kind().to_string()))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AccessRecord {
        AccessRecord {
            time: Utc::now(),
            request_id: "r1".into(),
            actor_issuer: "i".into(),
            actor_subject: "s".into(),
            actor_role: "patient",
            patient: "191212121212".into(),
            domains: vec!["medications"],
            sources: vec!["a".into()],
            outcome: "granted".into(),
        }
    }

    #[tokio::test]
    async fn records_are_appended_one_json_line_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/audit.jsonl");
        let log = FileAuditLog::open(&path).await.unwrap();
        log.record(&record()).await.unwrap();
        log.record(&record()).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["outcome"], "granted");
    }
}
