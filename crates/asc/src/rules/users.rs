//! Users and invitations: an email may be invited once and not when it already belongs to a user.

use super::find_by_attr;
use crabapple_jsonapi::{AscError, BoxFut, Engine, Family, Write};
use crabapple_store::Tx;
use serde_json::Value;

pub struct Users;

impl Family for Users {
    fn name(&self) -> &'static str {
        "users"
    }

    fn before_write<'a>(
        &'a self,
        _engine: &'a Engine,
        tx: &'a mut Tx,
        w: &'a mut Write,
    ) -> BoxFut<'a, Result<(), AscError>> {
        Box::pin(async move {
            if w.existing.is_some() || w.rtype != "userInvitations" {
                return Ok(());
            }
            let email = w.attributes.get("email").cloned().unwrap_or(Value::Null);
            let taken = !find_by_attr(tx, "userInvitations", "email", &email)
                .await?
                .is_empty()
                || !find_by_attr(tx, "users", "username", &email)
                    .await?
                    .is_empty();
            if taken {
                return Err(AscError::entity_error(
                    "ATTRIBUTE.INVALID",
                    "An attribute value is invalid.",
                    format!(
                        "The email address '{}' is already associated with a user or a pending invitation.",
                        email.as_str().unwrap_or_default()
                    ),
                    "/data/attributes/email",
                ));
            }
            Ok(())
        })
    }
}
