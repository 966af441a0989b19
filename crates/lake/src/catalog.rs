//! The lake's catalog: tables users declared with Athena DDL, kept in `_trawl/catalog.json`
//! so they are there in every later session. A table is a view over the lake; no data is
//! copied.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, LakeError};
use crate::layout::Layout;
use crate::log::write_atomic;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDef {
    /// Schema (database) and table name, lowercase.
    pub schema: String,
    pub name: String,
    /// Declared columns, lowercase, in order.
    pub columns: Vec<String>,
    /// Declared partition columns, lowercase, in order.
    pub partitions: Vec<String>,
    pub location: Option<String>,
    pub properties: BTreeMap<String, String>,
    /// The statement as the user wrote it (for `SHOW CREATE TABLE`).
    pub ddl: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub tables: Vec<TableDef>,
}

impl Catalog {
    pub fn load(layout: &Layout) -> Result<Catalog, LakeError> {
        let path = layout.catalog();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| LakeError::BadLog {
                path,
                message: format!("catalog: {e}"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Catalog::default()),
            Err(e) => Err(e).at(path),
        }
    }

    pub fn save(&self, layout: &Layout) -> Result<(), LakeError> {
        write_atomic(
            &layout.catalog(),
            &serde_json::to_vec_pretty(self).expect("catalog serialises"),
        )
    }

    pub fn get(&self, schema: &str, name: &str) -> Option<&TableDef> {
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.name == name)
    }

    /// Adds or replaces a table.
    pub fn put(&mut self, def: TableDef) {
        self.tables
            .retain(|t| !(t.schema == def.schema && t.name == def.name));
        self.tables.push(def);
    }

    /// Removes a table; says whether it was there.
    pub fn remove(&mut self, schema: &str, name: &str) -> bool {
        let before = self.tables.len();
        self.tables
            .retain(|t| !(t.schema == schema && t.name == name));
        before != self.tables.len()
    }
}
