//! The compile cache: outputs stored under sha256(graph, uuid, shape, format).
//!
//! Entries are written to a temporary file and renamed into place, so a
//! crash or a concurrent compile never leaves a torn entry. Each entry starts
//! with a header holding the sha256 of its body; an entry whose body does not
//! match (truncated, edited, bit-rotted) is reported and recompiled, never used.
use std::{
    io::Write,
    path::{Path, PathBuf},
};

const MAGIC: &str = "vllm-opt-cache v1 sha256=";

#[derive(Clone, Debug)]
pub struct CompileCache {
    dir: PathBuf,
}

/// What a lookup found.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    Hit(String),
    Miss,
    /// The entry exists but fails its checksum: recompile.
    Corrupt(String),
}

impl CompileCache {
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(CompileCache { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn key(graph: &str, uuid: &str, shape: &str, format: &str) -> String {
        crate::manager::sha256(&[graph, uuid, shape, format])
    }

    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.entry"))
    }

    pub fn get(&self, key: &str) -> Lookup {
        let Ok(text) = std::fs::read_to_string(self.path(key)) else { return Lookup::Miss };
        let Some((header, body)) = text.split_once('\n') else { return Lookup::Corrupt("no header".into()) };
        let Some(sum) = header.strip_prefix(MAGIC) else { return Lookup::Corrupt("bad header".into()) };
        if crate::manager::sha256(&[body]) != sum {
            return Lookup::Corrupt("checksum mismatch".into());
        }
        Lookup::Hit(body.to_string())
    }

    /// Stores `body` atomically (temporary file, fsync, rename).
    pub fn put(&self, key: &str, body: &str) -> std::io::Result<()> {
        let final_path = self.path(key);
        let tmp = self.dir.join(format!(".{key}.{}.{:?}.tmp", std::process::id(), std::thread::current().id()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            writeln!(f, "{MAGIC}{}", crate::manager::sha256(&[body]))?;
            f.write_all(body.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &final_path)
    }
}
