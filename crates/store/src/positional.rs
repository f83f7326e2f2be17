//! Statements with many bound values on SQLite: [`QueryBuilder::build_for`] hands SQLite anonymous
//! `?` placeholders instead of the numbered `$N` both engines take. sqlx binds a numbered
//! placeholder by asking SQLite its name (`sqlite3_bind_parameter_name`), which walks SQLite's
//! list of the statement's names: a statement of n numbered placeholders costs n²/2 steps to
//! bind (a 500-row `VALUES` of 21 columns, 55 million; 80 % of `crabapple simulate`'s time),
//! where anonymous ones are bound by position at once. PostgreSQL keeps `$N`.

use sqlx::Execute;
use sqlx::any::AnyArguments;

use crate::{Db, Dialect, QueryBuilder};

impl QueryBuilder {
    /// The statement for `dialect`: on SQLite its `$1, $2, …` (in order, each once: how
    /// [`QueryBuilder::push_bind`] numbers them) become `?`.
    pub fn build_for(self, dialect: Dialect) -> sqlx::query::Query<'static, Db, AnyArguments> {
        let mut q = self.build();
        if dialect != Dialect::Sqlite {
            return q;
        }
        let args = q.take_arguments().ok().flatten().unwrap_or_default();
        let sql = anonymous(q.sql().as_str());
        sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
    }
}

/// `sql` with every `$` followed by digits replaced by `?`.
fn anonymous(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            out.push('$');
        } else {
            out.push('?');
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_placeholders_become_anonymous() {
        assert_eq!(
            anonymous("INSERT INTO t (a, b) VALUES ($1, $2), ($3, $10) -- $x"),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) -- $x"
        );
    }

    #[tokio::test]
    async fn sqlite_binds_anonymous_placeholders_in_order() {
        use sqlx::Row;
        let dir =
            std::env::temp_dir().join(format!("crabapple-positional-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = crate::Store::open(&dir.join("db.sqlite")).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        // Every row's two values must land in their own row, in order.
        let mut q =
            QueryBuilder::new("SELECT count(*) FROM (SELECT column1 AS n, column2 AS s FROM (");
        q.push_values(0..1200i64, |mut b, i| {
            b.push_bind(i).push_bind(format!("{i}"));
        });
        q.push(")) WHERE CAST(s AS INTEGER) = n");
        let row = q
            .build_for(tx.dialect())
            .fetch_one(tx.conn())
            .await
            .unwrap();
        assert_eq!(row.get::<i64, _>(0), 1200);
        drop(tx);
        std::fs::remove_dir_all(&dir).ok();
    }
}
