//! The inspector's commerce events view: every event of the commerce ledger (a purchase, a
//! renewal, a refund, …) as the notification Apple's `notificationType`/`subtype` pair it
//! emitted, with the transaction it carried decoded, newest first; and a form that makes a
//! customer buy a product (`POST /crabapple/admin/commerce/purchase`, as `crabapple purchase`).

use super::notifications::{entries, text};
use super::{Base, esc, frame, html, internal, table, time_el};
use crate::App;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use std::sync::Arc;

const LIMIT: i64 = 200;

pub async fn page(State(app): State<Arc<App>>, base: Base) -> Response {
    let list = match entries(&app, LIMIT).await {
        Ok(l) => l,
        Err(e) => return internal(&base, e),
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|n| {
            let tx = n
                .pointer("/payload/data/signedTransactionInfoDecoded")
                .unwrap_or(&Value::Null);
            let price = match (
                tx.get("price").and_then(Value::as_i64),
                text(tx, "currency"),
            ) {
                // Milliunits (Apple's `price`): 2990 is 2.99.
                (Some(p), c) => format!("{:.2} {}", p as f64 / 1000.0, esc(c)),
                _ => String::new(),
            };
            let event = match text(n, "subtype") {
                "" => esc(text(n, "notificationType")),
                s => format!("{} / {}", esc(text(n, "notificationType")), esc(s)),
            };
            vec![
                time_el(n.get("signedDate").and_then(Value::as_i64).unwrap_or(0)),
                format!(
                    "<a href=\"{}/{}\">{event}</a>",
                    base.ui("/notifications"),
                    esc(text(n, "notificationUUID"))
                ),
                esc(text(n, "bundleId")),
                esc(text(n, "environment")),
                esc(text(tx, "productId")),
                esc(text(tx, "type")),
                price,
                esc(text(tx, "storefront")),
                format!("<code>{}</code>", esc(text(tx, "transactionId"))),
                format!("<code>{}</code>", esc(text(tx, "originalTransactionId"))),
            ]
        })
        .collect();
    let main = format!(
        "<h1>Commerce events</h1>\
         <section aria-labelledby=\"buy-h\"><h2 id=\"buy-h\">A customer buys</h2>\
         <form id=\"purchase\" data-admin=\"POST {}\">\
         <p><label for=\"bundleId\">Bundle ID</label> <input id=\"bundleId\" name=\"bundleId\" required></p>\
         <p><label for=\"productId\">Product ID</label> <input id=\"productId\" name=\"productId\" required></p>\
         <p><label for=\"environment\">Environment</label> <select id=\"environment\" name=\"environment\">\
         <option>sandbox</option><option>production</option></select></p>\
         <p><button type=\"submit\">Purchase</button></p></form>\
         <p id=\"result\" role=\"status\" aria-live=\"polite\"></p></section>\
         <h2>Events</h2><p>Each event as the notification it emitted (at most {LIMIT}, newest \
         first); the other events are the admin API's <code>POST /crabapple/admin/commerce/{{event}}</code> \
         and the CLI's commands.</p>{}",
        base.admin("/commerce/purchase"),
        table(
            "events",
            "Commerce events, newest first",
            &[
                "Signed",
                "Event",
                "Bundle ID",
                "Environment",
                "Product",
                "Type",
                "Price",
                "Storefront",
                "Transaction",
                "Original transaction"
            ],
            &rows
        )
    );
    html(
        StatusCode::OK,
        frame(&base, "Commerce events", Some("/commerce"), &main),
    )
}
