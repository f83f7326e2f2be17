//! Sales and finance report downloads (`GET /v1/salesReports`, `GET /v1/financeReports`): Apple's
//! parameter and Accept rules. Until the reports capability generates files from the ledger, every
//! valid request is answered as Apple answers a period without sales: 404 "There were no sales for
//! the date specified." (apple-semantics.md §3, §4).

use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Reply, Request, query};
use crabapple_spec::Operation;

pub struct Reports;

impl Family for Reports {
    fn name(&self) -> &'static str {
        "reports"
    }

    fn rules(&self) -> Vec<&'static str> {
        vec!["salesReports_getCollection", "financeReports_getCollection"]
    }

    fn handle<'a>(
        &'a self,
        engine: &'a Engine,
        op: &'a Operation,
        req: &'a Request,
    ) -> Option<BoxFut<'a, Result<Reply, AscError>>> {
        if op.path != "/v1/salesReports" && op.path != "/v1/financeReports" {
            return None;
        }
        Some(Box::pin(async move {
            let q = query::parse(op, &req.query)?;
            // §3: reports are application/a-gzip; `Accept: application/json` gets 406 (plain text).
            if let Some(a) = &req.accept
                && !a.contains("a-gzip")
                && !a.contains("*/*")
                && !a.is_empty()
            {
                return Err(AscError::new(
                    406,
                    "NOT_ACCEPTABLE",
                    "The requested media type is not acceptable",
                    format!("The Accept header '{a}' is not supported. Use 'application/a-gzip'."),
                ));
            }
            let vendor = engine
                .store
                .meta_get("team.vendorNumber")
                .await?
                .unwrap_or_default();
            if let Some((_, v)) = q.filters.iter().find(|(n, _)| n == "vendorNumber")
                && v.first().map(String::as_str) != Some(vendor.as_str())
            {
                return Err(AscError::parameter_invalid(
                    "filter[vendorNumber]",
                    format!(
                        "'{}' is not a valid vendor number for this account",
                        v.join(",")
                    ),
                ));
            }
            Err(AscError::new(
                404,
                "NOT_FOUND",
                "The specified resource does not exist",
                "There were no sales for the date specified.",
            ))
        }))
    }
}
