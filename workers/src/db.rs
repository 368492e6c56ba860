//! Thin helpers over the D1 binding.

use serde::de::DeserializeOwned;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

use crate::http::{AppError, AppResult};

/// The relational store (D1).
pub struct Db(pub D1Database);

/// A bound SQL argument.
pub enum Arg {
    /// TEXT
    Text(String),
    /// INTEGER (D1 receives JavaScript numbers: exact up to 2^53)
    Int(i64),
    /// NULL
    Null,
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Arg::Text(value.to_string())
    }
}
impl From<String> for Arg {
    fn from(value: String) -> Self {
        Arg::Text(value)
    }
}
impl From<&String> for Arg {
    fn from(value: &String) -> Self {
        Arg::Text(value.clone())
    }
}
impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Arg::Int(value)
    }
}
impl<T: Into<Arg>> From<Option<T>> for Arg {
    fn from(value: Option<T>) -> Self {
        value.map(Into::into).unwrap_or(Arg::Null)
    }
}

impl Arg {
    fn to_js(&self) -> JsValue {
        match self {
            Arg::Text(text) => JsValue::from_str(text),
            Arg::Int(number) => JsValue::from_f64(*number as f64),
            Arg::Null => JsValue::NULL,
        }
    }
}

/// Builds an argument list: `args![a, b, c]`.
#[macro_export]
macro_rules! args {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::db::Arg::from($value)),*]
    };
}

impl Db {
    /// A prepared statement with its arguments bound.
    pub fn stmt(&self, sql: &str, args: Vec<Arg>) -> AppResult<D1PreparedStatement> {
        let values: Vec<JsValue> = args.iter().map(Arg::to_js).collect();
        Ok(self.0.prepare(sql).bind(&values)?)
    }

    /// The first row, if any.
    pub async fn first<T: DeserializeOwned>(
        &self,
        sql: &str,
        args: Vec<Arg>,
    ) -> AppResult<Option<T>> {
        Ok(self.stmt(sql, args)?.first::<T>(None).await?)
    }

    /// All rows.
    pub async fn all<T: DeserializeOwned>(&self, sql: &str, args: Vec<Arg>) -> AppResult<Vec<T>> {
        Ok(self.stmt(sql, args)?.all().await?.results::<T>()?)
    }

    /// Runs one statement; returns the number of rows changed.
    pub async fn run(&self, sql: &str, args: Vec<Arg>) -> AppResult<usize> {
        let result = self.stmt(sql, args)?.run().await?;
        Ok(result.meta()?.and_then(|meta| meta.changes).unwrap_or(0))
    }

    /// Runs statements atomically (D1 batches are transactions); returns rows changed per statement.
    pub async fn batch(&self, statements: Vec<D1PreparedStatement>) -> AppResult<Vec<usize>> {
        let results = self.0.batch(statements).await?;
        results
            .iter()
            .map(|result| {
                if let Some(error) = result.error() {
                    return Err(AppError::internal(error));
                }
                Ok(result.meta()?.and_then(|meta| meta.changes).unwrap_or(0))
            })
            .collect()
    }
}
