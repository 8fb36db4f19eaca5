//! A small pool of read-only connections.
//!
//! SQLite connections are not shareable between threads at once, and opening one costs a
//! file open plus schema parsing, so reads borrow an idle connection (with its prepared
//! statements) and give it back. The pool never blocks: when all are busy a new one is
//! opened, and only a few idle ones are kept.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;

use concord_core::store::StoreError;

use crate::schema;

/// How many idle readers are kept for reuse.
const MAX_IDLE: usize = 4;

pub struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    pub fn new(path: PathBuf) -> Self {
        ReaderPool {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    pub fn get(&self) -> Result<Reader<'_>, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => schema::open_reader(&self.path)?,
        };
        Ok(Reader {
            pool: self,
            conn: Some(conn),
        })
    }
}

/// A borrowed reader; goes back to the pool when dropped.
pub struct Reader<'p> {
    pool: &'p ReaderPool,
    conn: Option<Connection>,
}

impl Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // A connection still inside a transaction (a read that failed half-way and could not
        // roll back) would pin an old snapshot forever: close it instead of reusing it.
        if !conn.is_autocommit() {
            return;
        }
        let mut idle = self.pool.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}
