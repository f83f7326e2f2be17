//! The ledger in memory for a batch of many events in one write transaction (a simulated day,
//! [`LedgerTx::ledger_batch`]): customers, transactions and subscription state are read once, changed
//! in memory and written at commit in multi-row statements, so an event costs no SQL statement at
//! all when what it reads is already known. Without it every read and write of an event is a
//! statement, each a round trip to SQLite's worker thread (the simulator's year took ~1 ms an
//! event, two thirds of it waiting on those trips).
//!
//! What the overlay answers is exactly what the database would answer inside the transaction:
//! point reads look in memory first; the queries over several rows (a customer's subscriptions,
//! a chain, what a customer owns) take the database's rows and lay the changed rows over them,
//! and for a customer created in this batch (all of whose rows are in memory) skip the database.
//! Savepoints are marks in an undo log; the transaction's savepoints are deferred
//! ([`Tx::defer_savepoints`]): a real SAVEPOINT is issued only when a statement writes to the
//! database under one (`Tx::write_conn`), and rolled back with it.

use std::collections::{HashMap, HashSet};

use super::pending::ledger;
use super::tx::{insert_customers, upsert_subscriptions, upsert_transactions};
use super::*;

pub(crate) struct Entry<T> {
    pub row: T,
    pub dirty: bool,
}

enum Undo {
    Txn(String, Option<Entry<TransactionRow>>),
    Sub(String, Option<Entry<SubscriptionRow>>),
    Customer(i64, Option<Entry<CustomerRow>>),
}

/// A savepoint of a batch: where the undo log and the outbox stood.
pub(crate) struct Mark {
    pub name: &'static str,
    undo: usize,
    pub notifications: usize,
}

#[derive(Default)]
pub(crate) struct Overlay {
    txns: HashMap<String, Entry<TransactionRow>>,
    subs: HashMap<String, Entry<SubscriptionRow>>,
    customers: HashMap<i64, Entry<CustomerRow>>,
    /// `(app id, environment, label)` → customer id, for customers in memory.
    labels: HashMap<(String, String, String), i64>,
    /// Customers created in this batch: every row of theirs is in memory.
    new_customers: HashSet<i64>,
    /// Customer → transaction / subscription ids in memory (a superset: check the row).
    txns_of: HashMap<i64, Vec<String>>,
    subs_of: HashMap<i64, Vec<String>>,
    next_customer_id: Option<i64>,
    /// `(app id, environment, label prefix)`s no customer in the database has
    /// ([`LedgerTx::ledger_fresh_labels`]).
    fresh_labels: Vec<(String, String, String)>,
    undo: Vec<Undo>,
    pub marks: Vec<Mark>,
}

/// 21 parameters a transaction row: 500 rows a statement stay far under SQLite's bound.
pub(super) const ROWS_PER_INSERT: usize = 500;

impl Overlay {
    /// Rows held.
    pub(super) fn rows(&self) -> usize {
        self.txns.len() + self.subs.len() + self.customers.len()
    }

    fn keep_txn(&mut self, row: TransactionRow, dirty: bool) {
        let id = row.transaction_id.clone();
        self.txns_of
            .entry(row.customer_id)
            .or_default()
            .push(id.clone());
        let old = self.txns.insert(id.clone(), Entry { row, dirty });
        if dirty && !self.marks.is_empty() {
            self.undo.push(Undo::Txn(id, old));
        }
    }

    fn keep_sub(&mut self, row: SubscriptionRow, dirty: bool) {
        let id = row.original_transaction_id.clone();
        self.subs_of
            .entry(row.customer_id)
            .or_default()
            .push(id.clone());
        let old = self.subs.insert(id.clone(), Entry { row, dirty });
        if dirty && !self.marks.is_empty() {
            self.undo.push(Undo::Sub(id, old));
        }
    }

    fn keep_customer(&mut self, row: CustomerRow, dirty: bool) {
        let id = row.id;
        self.labels.insert(
            (
                row.app_id.clone(),
                row.environment.clone(),
                row.label.clone(),
            ),
            id,
        );
        let old = self.customers.insert(id, Entry { row, dirty });
        if dirty && !self.marks.is_empty() {
            self.undo.push(Undo::Customer(id, old));
        }
    }

    /// Undoes everything since `mark` (the mark itself is popped by the caller).
    fn undo_to(&mut self, undo: usize) {
        while self.undo.len() > undo {
            match self.undo.pop().expect("len checked") {
                Undo::Txn(id, old) => restore(&mut self.txns, id, old),
                Undo::Sub(id, old) => restore(&mut self.subs, id, old),
                Undo::Customer(id, old) => {
                    if old.is_none() {
                        self.new_customers.remove(&id);
                    }
                    restore(&mut self.customers, id, old)
                }
            }
        }
    }

    /// The changed subscriptions (the due window lays them over the database's).
    pub(crate) fn dirty_subs(&self) -> impl Iterator<Item = &SubscriptionRow> {
        self.subs.values().filter(|e| e.dirty).map(|e| &e.row)
    }

    /// Rows in memory of `customer`, current and matching `keep`, by id.
    fn rows_of<'a, T>(
        index: &HashMap<i64, Vec<String>>,
        rows: &'a HashMap<String, Entry<T>>,
        customer: i64,
        owner: impl Fn(&T) -> i64,
    ) -> HashMap<&'a str, &'a T> {
        let mut out = HashMap::new();
        for id in index.get(&customer).into_iter().flatten() {
            if let Some((k, e)) = rows.get_key_value(id.as_str())
                && owner(&e.row) == customer
            {
                out.insert(k.as_str(), &e.row);
            }
        }
        out
    }
}

fn restore<K: std::hash::Hash + Eq, T>(
    map: &mut HashMap<K, Entry<T>>,
    k: K,
    old: Option<Entry<T>>,
) {
    match old {
        Some(e) => {
            map.insert(k, e);
        }
        None => {
            map.remove(&k);
        }
    }
}

/// Keeps the ledger in memory until commit (see the module comment). For a caller that runs
/// many events in this transaction; nothing else changes for it.
pub(super) fn ledger_batch(tx: &mut Tx) {
    if ledger(tx).overlay.is_none() {
        ledger(tx).overlay = Some(Overlay::default());
        tx.defer_savepoints();
    }
}

/// Whether no customer of the app in the environment has a label starting with `prefix`
/// (one query); if so the batch answers lookups of such labels from memory alone (a
/// simulated day names its new customers `sim-YYYYMMDD-n`).
pub(super) async fn ledger_fresh_labels(
    tx: &mut Tx,
    app_id: &str,
    environment: &str,
    prefix: &str,
) -> Result<bool> {
    // `label >= prefix AND label < prefix + U+10FFFF`: the (app, environment, label) index.
    let taken: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM commerce_customers WHERE app_id = $1 AND environment = $2
         AND label >= $3 AND label < $4 LIMIT 1",
    )
    .bind(app_id)
    .bind(environment)
    .bind(prefix)
    .bind(format!("{prefix}\u{10FFFF}"))
    .fetch_optional(tx.conn())
    .await?;
    if taken.is_some() {
        return Ok(false);
    }
    if let Some(o) = ledger(tx).overlay.as_mut() {
        o.fresh_labels.push((
            app_id.to_string(),
            environment.to_string(),
            prefix.to_string(),
        ));
    }
    Ok(true)
}

pub(super) async fn ov_customer(tx: &mut Tx, id: i64) -> Result<Option<CustomerRow>> {
    let o = ledger(tx).overlay.as_mut().expect("batch");
    if let Some(e) = o.customers.get(&id) {
        return Ok(Some(e.row.clone()));
    }
    let row = q::customer(tx.conn(), id).await?;
    if let Some(r) = &row {
        overlay_mut(tx).keep_customer(r.clone(), false);
    }
    Ok(row)
}

pub(super) async fn ov_customer_by_label(
    tx: &mut Tx,
    app_id: &str,
    environment: &str,
    label: &str,
) -> Result<Option<CustomerRow>> {
    let key = (
        app_id.to_string(),
        environment.to_string(),
        label.to_string(),
    );
    let o = ledger(tx).overlay.as_mut().expect("batch");
    if let Some(id) = o.labels.get(&key)
        && let Some(e) = o.customers.get(id)
        && e.row.label == label
    {
        return Ok(Some(e.row.clone()));
    }
    if o.fresh_labels
        .iter()
        .any(|(a, e, p)| a == app_id && e == environment && label.starts_with(p.as_str()))
    {
        return Ok(None);
    }
    let row = q::customer_by_label(tx.conn(), app_id, environment, label).await?;
    if let Some(r) = &row {
        overlay_mut(tx).keep_customer(r.clone(), false);
    }
    Ok(row)
}

pub(super) async fn ov_insert_customer(tx: &mut Tx, c: &CustomerRow) -> Result<i64> {
    if overlay_mut(tx).next_customer_id.is_none() {
        let sql = tx.dialect().last_id_sql("commerce_customers", "id");
        let last: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(tx.conn())
            .await?;
        overlay_mut(tx).next_customer_id = Some(last + 1);
    }
    let o = overlay_mut(tx);
    let id = o.next_customer_id.expect("set");
    o.next_customer_id = Some(id + 1);
    let mut row = c.clone();
    row.id = id;
    o.new_customers.insert(id);
    o.keep_customer(row, true);
    Ok(id)
}

pub(super) async fn ov_set_customer_token(tx: &mut Tx, id: i64, token: Option<&str>) -> Result<()> {
    if let Some(mut c) = ov_customer(tx, id).await? {
        c.app_account_token = token.map(str::to_string);
        overlay_mut(tx).keep_customer(c, true);
    }
    Ok(())
}

pub(super) async fn ov_transaction(tx: &mut Tx, id: &str) -> Result<Option<TransactionRow>> {
    if let Some(e) = overlay_mut(tx).txns.get(id) {
        return Ok(Some(e.row.clone()));
    }
    let row = q::transaction(tx.conn(), id).await?;
    if let Some(r) = &row {
        overlay_mut(tx).keep_txn(r.clone(), false);
    }
    Ok(row)
}

pub(super) fn ov_put_transaction(tx: &mut Tx, t: TransactionRow) {
    overlay_mut(tx).keep_txn(t, true);
}

pub(super) async fn ov_subscription(tx: &mut Tx, id: &str) -> Result<Option<SubscriptionRow>> {
    if let Some(e) = overlay_mut(tx).subs.get(id) {
        return Ok(Some(e.row.clone()));
    }
    let row = q::subscription(tx.conn(), id).await?;
    if let Some(r) = &row {
        overlay_mut(tx).keep_sub(r.clone(), false);
    }
    Ok(row)
}

pub(super) fn ov_put_subscription(tx: &mut Tx, s: &SubscriptionRow) {
    overlay_mut(tx).keep_sub(s.clone(), true);
}

/// A customer's subscriptions: the database's with the ones in memory laid over them.
pub(super) async fn ov_subscriptions_of(
    tx: &mut Tx,
    customer: i64,
) -> Result<Vec<SubscriptionRow>> {
    let from_db = if overlay_mut(tx).new_customers.contains(&customer) {
        Vec::new()
    } else {
        q::subscriptions_of(tx.conn(), customer).await?
    };
    let o = ledger(tx).overlay.as_ref().expect("batch");
    let mine = Overlay::rows_of(&o.subs_of, &o.subs, customer, |s| s.customer_id);
    let mut out: Vec<SubscriptionRow> = from_db
        .into_iter()
        .filter(|s| !o.subs.contains_key(&s.original_transaction_id))
        .chain(mine.into_values().cloned())
        .collect();
    out.sort_by(|a, b| {
        (&a.group_id, &a.original_transaction_id).cmp(&(&b.group_id, &b.original_transaction_id))
    });
    Ok(out)
}

/// Whether a customer holds an unrevoked transaction of a product, with memory laid over
/// the database.
pub(super) async fn ov_customer_owns(tx: &mut Tx, customer: i64, product_id: &str) -> Result<bool> {
    let from_db: Vec<String> = if overlay_mut(tx).new_customers.contains(&customer) {
        Vec::new()
    } else {
        sqlx::query_scalar(
            "SELECT transaction_id FROM commerce_transactions WHERE customer_id = $1
             AND product_id = $2 AND revoked = 0",
        )
        .bind(customer)
        .bind(product_id)
        .fetch_all(tx.conn())
        .await?
    };
    let o = ledger(tx).overlay.as_ref().expect("batch");
    if from_db.iter().any(|id| !o.txns.contains_key(id)) {
        return Ok(true);
    }
    let mine = Overlay::rows_of(&o.txns_of, &o.txns, customer, |t| t.customer_id);
    Ok(mine
        .values()
        .any(|t| t.product_id == product_id && !t.revoked))
}

/// The transactions of one original transaction, oldest purchase first.
pub(super) async fn ov_chain(tx: &mut Tx, orig: &str) -> Result<Vec<TransactionRow>> {
    let first = ov_transaction(tx, orig).await?;
    let o = ledger(tx).overlay.as_ref().expect("batch");
    let new = first
        .as_ref()
        .is_some_and(|t| o.new_customers.contains(&t.customer_id));
    let from_db = if new || first.is_none() {
        Vec::new()
    } else {
        q::chain(tx.conn(), orig).await?
    };
    let o = ledger(tx).overlay.as_ref().expect("batch");
    let mut out: Vec<TransactionRow> = from_db
        .into_iter()
        .filter(|t| !o.txns.contains_key(&t.transaction_id))
        .collect();
    if let Some(c) = first.map(|t| t.customer_id) {
        let mine = Overlay::rows_of(&o.txns_of, &o.txns, c, |t| t.customer_id);
        out.extend(
            mine.into_values()
                .filter(|t| t.original_transaction_id == orig)
                .cloned(),
        );
    }
    out.sort_by_key(|t| (t.purchase_ms, t.mod_seq));
    Ok(out)
}

/// Reads ahead what the steps due in a window need (subscriptions, their original and
/// latest transactions, their customers) in a few statements.
pub(super) async fn ov_prefetch(tx: &mut Tx, subs: Vec<SubscriptionRow>) -> Result<()> {
    let mut txn_ids = Vec::new();
    let mut customer_ids = Vec::new();
    for s in subs {
        if overlay_mut(tx)
            .subs
            .contains_key(&s.original_transaction_id)
        {
            continue;
        }
        txn_ids.push(s.original_transaction_id.clone());
        txn_ids.push(s.latest_transaction_id.clone());
        customer_ids.push(s.customer_id);
        overlay_mut(tx).keep_sub(s, false);
    }
    for chunk in txn_ids.chunks(ROWS_PER_INSERT) {
        let mut q = QueryBuilder::new("SELECT * FROM commerce_transactions WHERE 1 = 1");
        push_list(&mut q, "transaction_id", chunk);
        for r in q
            .build_for(tx.dialect())
            .persistent(chunk.len() == ROWS_PER_INSERT)
            .fetch_all(tx.conn())
            .await?
        {
            let t = transaction_from(&r)?;
            if !overlay_mut(tx).txns.contains_key(&t.transaction_id) {
                overlay_mut(tx).keep_txn(t, false);
            }
        }
    }
    customer_ids.sort_unstable();
    customer_ids.dedup();
    for chunk in customer_ids.chunks(ROWS_PER_INSERT) {
        let mut q = QueryBuilder::new("SELECT * FROM commerce_customers WHERE id IN (");
        let mut sep = q.separated(", ");
        for id in chunk {
            sep.push_bind(*id);
        }
        q.push(")");
        for r in q
            .build_for(tx.dialect())
            .persistent(chunk.len() == ROWS_PER_INSERT)
            .fetch_all(tx.conn())
            .await?
        {
            let c = customer_from(&r)?;
            if !overlay_mut(tx).customers.contains_key(&c.id) {
                overlay_mut(tx).keep_customer(c, false);
            }
        }
    }
    Ok(())
}

pub(super) fn overlay_mut(tx: &mut Tx) -> &mut Overlay {
    ledger(tx).overlay.as_mut().expect("batch")
}

/// Undoes the batch's memory back to its innermost mark named `name`; whether a real
/// savepoint has to be rolled back too. `None` outside a batch.
pub(super) fn ov_rollback(tx: &mut Tx, name: &str) -> Option<Mark> {
    let o = ledger(tx).overlay.as_mut()?;
    let i = o.marks.iter().rposition(|m| m.name == name)?;
    let mark = o.marks.drain(i..).next().expect("found");
    o.undo_to(mark.undo);
    if o.marks.is_empty() {
        o.undo.clear();
    }
    Some(mark)
}

/// Forgets the innermost mark named `name` (its changes stay).
pub(super) fn ov_release(tx: &mut Tx, name: &str) -> Option<Mark> {
    let o = ledger(tx).overlay.as_mut()?;
    let i = o.marks.iter().rposition(|m| m.name == name)?;
    let mark = o.marks.drain(i..).next().expect("found");
    if o.marks.is_empty() {
        o.undo.clear();
    }
    Some(mark)
}

pub(super) fn ov_mark(tx: &mut Tx, name: &'static str, notifications: usize) -> bool {
    let Some(o) = ledger(tx).overlay.as_mut() else {
        return false;
    };
    let undo = o.undo.len();
    o.marks.push(Mark {
        name,
        undo,
        notifications,
    });
    true
}

/// Writes the changed customers, transactions and subscriptions (before COMMIT), from memory
/// without copying them: the overlay is set aside while its rows are written, then put back.
pub(super) async fn ov_flush(tx: &mut Tx) -> Result<()> {
    let Some(mut o) = ledger(tx).overlay.take() else {
        return Ok(());
    };
    let written = write_dirty(tx, &mut o).await;
    ledger(tx).overlay = Some(o);
    written
}

async fn write_dirty(tx: &mut Tx, o: &mut Overlay) -> Result<()> {
    o.undo.clear();
    let mut customers: Vec<&CustomerRow> = Vec::new();
    let mut txns: Vec<&TransactionRow> = Vec::new();
    let mut subs: Vec<&SubscriptionRow> = Vec::new();
    for e in o.customers.values_mut().filter(|e| e.dirty) {
        e.dirty = false;
        customers.push(&e.row);
    }
    for e in o.txns.values_mut().filter(|e| e.dirty) {
        e.dirty = false;
        txns.push(&e.row);
    }
    for e in o.subs.values_mut().filter(|e| e.dirty) {
        e.dirty = false;
        subs.push(&e.row);
    }
    // Deterministic statements (ids are unique keys; the order only fixes the bytes).
    customers.sort_by_key(|c| c.id);
    txns.sort_by_key(|t| t.mod_seq);
    subs.sort_by(|a, b| a.original_transaction_id.cmp(&b.original_transaction_id));
    for chunk in customers.chunks(ROWS_PER_INSERT) {
        let d = tx.dialect();
        insert_customers(tx.conn(), d, chunk).await?;
    }
    if let (false, Some(sql)) = (
        customers.is_empty(),
        tx.dialect().ids_taken_sql("commerce_customers", "id"),
    ) {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(tx.conn())
            .await?;
    }
    for chunk in txns.chunks(ROWS_PER_INSERT) {
        let d = tx.dialect();
        upsert_transactions(tx.conn(), d, chunk).await?;
    }
    for chunk in subs.chunks(ROWS_PER_INSERT) {
        let d = tx.dialect();
        upsert_subscriptions(tx.conn(), d, chunk).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{LedgerStore, LedgerTx};
    use serde_json::json;

    async fn store() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("crabapple-ledger-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        (Store::open(&dir.join("db.sqlite")).await.unwrap(), dir)
    }

    fn customer(label: &str) -> CustomerRow {
        CustomerRow {
            id: 0,
            app_id: "1".into(),
            bundle_id: "b".into(),
            environment: "Production".into(),
            label: label.into(),
            app_account_token: None,
            storefront: "USA".into(),
            app_transaction_id: format!("at-{label}"),
            app_transaction: json!({}).into(),
            created_ms: 1,
        }
    }

    fn txn(id: &str, customer_id: i64, product: &str) -> TransactionRow {
        TransactionRow {
            transaction_id: id.into(),
            original_transaction_id: id.into(),
            customer_id,
            app_id: "1".into(),
            bundle_id: "b".into(),
            environment: "Production".into(),
            product_id: product.into(),
            product_type: "AUTO_RENEWABLE".into(),
            group_id: Some("g".into()),
            order_id: format!("o{id}"),
            web_order_line_item_id: None,
            ownership: "PURCHASED".into(),
            purchase_ms: 10,
            expires_ms: Some(20),
            revoked: false,
            revoked_ms: None,
            finished: false,
            mod_seq: 0,
            refund_seq: None,
            modified_ms: 10,
            payload: json!({"transactionId": id}).into(),
        }
    }

    fn sub(orig: &str, customer_id: i64, group: &str, status: i64) -> SubscriptionRow {
        SubscriptionRow {
            original_transaction_id: orig.into(),
            customer_id,
            app_id: "1".into(),
            bundle_id: "b".into(),
            environment: "Production".into(),
            group_id: group.into(),
            product_id: "p".into(),
            status,
            expires_ms: 20,
            latest_transaction_id: orig.into(),
            ownership: "PURCHASED".into(),
            storefront: "USA".into(),
            next_event_ms: Some(20),
            renewal: json!({}).into(),
            state: json!({}).into(),
            updated_ms: 10,
        }
    }

    const ONE: &str = "t_one";

    #[tokio::test]
    async fn a_rolled_back_mark_leaves_nothing_in_memory_or_in_the_database() {
        let (s, _dir) = store().await;
        let mut tx = s.begin().await.unwrap();
        tx.ledger_batch();
        tx.savepoint(ONE).await.unwrap();
        let id = tx.ledger_insert_customer(&customer("a")).await.unwrap();
        tx.ledger_put_transaction(&txn("t1", id, "p"))
            .await
            .unwrap();
        tx.ledger_put_subscription(&sub("t1", id, "g", 1))
            .await
            .unwrap();
        // A statement under the mark makes it a real savepoint, rolled back with the memory.
        tx.meta_set("under.mark", "x").await.unwrap();
        assert!(tx.ledger_transaction("t1").await.unwrap().is_some());
        tx.rollback_to_savepoint(ONE).await.unwrap();
        assert!(tx.ledger_customer(id).await.unwrap().is_none());
        assert!(tx.ledger_transaction("t1").await.unwrap().is_none());
        assert!(tx.ledger_subscription("t1").await.unwrap().is_none());
        assert!(
            tx.ledger_customer_by_label("1", "Production", "a")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(tx.meta_get("under.mark").await.unwrap(), None);
        // A released mark keeps what was done under it.
        tx.savepoint(ONE).await.unwrap();
        let id = tx.ledger_insert_customer(&customer("b")).await.unwrap();
        tx.ledger_put_transaction(&txn("t2", id, "p"))
            .await
            .unwrap();
        tx.meta_set("under.mark", "y").await.unwrap();
        tx.release_savepoint(ONE).await.unwrap();
        tx.commit().await.unwrap();
        assert!(s.ledger_transaction("t1").await.unwrap().is_none());
        let t2 = s.ledger_transaction("t2").await.unwrap().unwrap();
        assert_eq!(t2.customer_id, id);
        assert_eq!(s.ledger_customer(id).await.unwrap().unwrap().label, "b");
        assert_eq!(
            s.meta_get("under.mark").await.unwrap().as_deref(),
            Some("y")
        );
    }

    #[tokio::test]
    async fn queries_lay_the_batch_over_the_database() {
        let (s, _dir) = store().await;
        let mut tx = s.begin().await.unwrap();
        let old = tx.ledger_insert_customer(&customer("old")).await.unwrap();
        tx.ledger_put_transaction(&txn("t1", old, "p"))
            .await
            .unwrap();
        tx.ledger_put_subscription(&sub("t1", old, "g2", 1))
            .await
            .unwrap();
        tx.ledger_put_subscription(&sub("t0", old, "g1", 1))
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let mut tx = s.begin().await.unwrap();
        tx.ledger_batch();
        // An existing customer: one subscription changed, one added in memory.
        tx.ledger_put_subscription(&sub("t1", old, "g2", 2))
            .await
            .unwrap();
        tx.ledger_put_subscription(&sub("t3", old, "g1", 1))
            .await
            .unwrap();
        let subs = tx.ledger_subscriptions_of(old).await.unwrap();
        let got: Vec<(&str, i64)> = subs
            .iter()
            .map(|s| (s.original_transaction_id.as_str(), s.status))
            .collect();
        assert_eq!(got, [("t0", 1), ("t3", 1), ("t1", 2)]);
        assert!(tx.ledger_customer_owns(old, "p").await.unwrap());
        let mut t1 = tx.ledger_transaction("t1").await.unwrap().unwrap();
        t1.revoked = true;
        tx.ledger_put_transaction(&t1).await.unwrap();
        assert!(!tx.ledger_customer_owns(old, "p").await.unwrap());
        // A renewal in memory joins the chain of a transaction in the database.
        let mut renewal = txn("t4", old, "p");
        renewal.original_transaction_id = "t1".into();
        renewal.purchase_ms = 20;
        tx.ledger_put_transaction(&renewal).await.unwrap();
        let chain: Vec<String> = tx
            .ledger_chain("t1")
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.transaction_id)
            .collect();
        assert_eq!(chain, ["t1", "t4"]);
        // Fresh labels: none of the database's customers starts with `new-`; `ol` is taken.
        assert!(
            tx.ledger_fresh_labels("1", "Production", "new-")
                .await
                .unwrap()
        );
        assert!(
            !tx.ledger_fresh_labels("1", "Production", "ol")
                .await
                .unwrap()
        );
        assert!(
            tx.ledger_customer_by_label("1", "Production", "new-1")
                .await
                .unwrap()
                .is_none()
        );
        let new = tx.ledger_insert_customer(&customer("new-1")).await.unwrap();
        assert!(new > old);
        let found = tx
            .ledger_customer_by_label("1", "Production", "new-1")
            .await
            .unwrap();
        assert_eq!(found.map(|c| c.id), Some(new));
        assert!(tx.ledger_subscriptions_of(new).await.unwrap().is_empty());
        // Nothing reached the database before the commit; everything after it.
        assert_eq!(
            s.ledger_subscription("t1").await.unwrap().unwrap().status,
            1
        );
        tx.commit().await.unwrap();
        assert_eq!(
            s.ledger_subscription("t1").await.unwrap().unwrap().status,
            2
        );
        assert!(s.ledger_subscription("t3").await.unwrap().is_some());
        assert!(s.ledger_transaction("t1").await.unwrap().unwrap().revoked);
        assert_eq!(s.ledger_chain("t1").await.unwrap().len(), 2);
        assert_eq!(
            s.ledger_customer(new).await.unwrap().unwrap().label,
            "new-1"
        );
    }

    #[tokio::test]
    async fn the_due_window_sees_the_batch_and_survives_a_rollback() {
        let (s, _dir) = store().await;
        let mut tx = s.begin().await.unwrap();
        let c = tx.ledger_insert_customer(&customer("c")).await.unwrap();
        tx.ledger_put_transaction(&txn("t1", c, "p")).await.unwrap();
        tx.ledger_put_subscription(&sub("t1", c, "g", 1))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut tx = s.begin().await.unwrap();
        tx.ledger_batch();
        tx.ledger_open_due_window(100).await.unwrap();
        assert_eq!(
            tx.ledger_next_due_subscription(25).await.unwrap(),
            Some(("t1".into(), 20))
        );
        let mut moved = sub("t1", c, "g", 1);
        moved.next_event_ms = Some(50);
        tx.ledger_put_subscription(&moved).await.unwrap();
        assert_eq!(tx.ledger_next_due_subscription(25).await.unwrap(), None);
        tx.savepoint(ONE).await.unwrap();
        moved.next_event_ms = Some(30);
        tx.ledger_put_subscription(&moved).await.unwrap();
        assert_eq!(
            tx.ledger_next_due_subscription(60).await.unwrap(),
            Some(("t1".into(), 30))
        );
        tx.rollback_to_savepoint(ONE).await.unwrap();
        assert_eq!(
            tx.ledger_next_due_subscription(60).await.unwrap(),
            Some(("t1".into(), 50))
        );
    }
}
