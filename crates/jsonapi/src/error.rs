//! App Store Connect's error document, `{"errors":[{id,status,code,title,detail,source}]}`
//! (../shared/docs/apple-semantics.md §1.5), plus crabapple's `reason`: plain words for the
//! `X-Crabapple-Reason` header that never change Apple's body.

use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct AscError {
    pub status: u16,
    pub code: String,
    pub title: String,
    pub detail: Option<String>,
    /// `{"pointer": …}` or `{"parameter": …}`.
    pub source: Option<Value>,
    pub meta: Option<Value>,
    /// Why, in plain words (the `X-Crabapple-Reason` header).
    pub reason: String,
    /// Extra response headers (e.g. `Allow`).
    pub headers: Vec<(String, String)>,
}

impl AscError {
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> AscError {
        let detail = detail.into();
        AscError {
            status,
            code: code.into(),
            title: title.into(),
            reason: detail.clone(),
            detail: Some(detail),
            source: None,
            meta: None,
            headers: Vec::new(),
        }
    }

    pub fn reason(mut self, reason: impl Into<String>) -> AscError {
        self.reason = reason.into();
        self
    }

    pub fn parameter(mut self, name: &str) -> AscError {
        self.source = Some(json!({ "parameter": name }));
        self
    }

    pub fn pointer(mut self, pointer: &str) -> AscError {
        self.source = Some(json!({ "pointer": pointer }));
        self
    }

    /// The error document Apple sends.
    pub fn body(&self) -> Value {
        let mut e = json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "status": self.status.to_string(),
            "code": self.code,
            "title": self.title,
        });
        if let Some(d) = &self.detail {
            e["detail"] = json!(d);
        }
        if let Some(s) = &self.source {
            e["source"] = s.clone();
        }
        if let Some(m) = &self.meta {
            e["meta"] = m.clone();
        }
        json!({ "errors": [e] })
    }

    // ---- Apple's documented and observed errors (apple-semantics.md §1.5, §1.6) ----

    /// 401: Apple's exact body for every token problem (§1.5, observed text).
    pub fn not_authorized(reason: impl Into<String>) -> AscError {
        AscError::new(
            401,
            "NOT_AUTHORIZED",
            "Authentication credentials are missing or invalid.",
            "Provide a properly configured and signed bearer token, and make sure that it has not expired. Learn more about Generating Tokens for API Requests https://developer.apple.com/go/?id=api-generating-tokens",
        )
        .reason(reason)
    }

    /// 400 for a token whose scope entry is not a request (forum post 10, observed body:
    /// `ENTITY_INVALID`, "JSON processing failed", "Invalid scope GET /v1/apps/{appId}/…").
    /// Apple also sent `links: ""`; omitted here, as the spec types `links` as an object.
    pub fn invalid_scope(entry: &str) -> AscError {
        AscError::new(
            400,
            "ENTITY_INVALID",
            "JSON processing failed",
            format!("Invalid scope {entry}"),
        )
    }

    /// 403 for a role that may not make the request (§1.7, observed text).
    pub fn forbidden(reason: impl Into<String>) -> AscError {
        AscError::new(
            403,
            "FORBIDDEN_ERROR",
            "This request is forbidden for security reasons",
            "The API key in use does not allow this request",
        )
        .reason(reason)
    }

    /// 403 for a Developer key creating an external beta group (§1.7 [DEV]: title "Unable to
    /// process request." and an empty detail).
    pub fn forbidden_unable(reason: impl Into<String>) -> AscError {
        AscError::new(403, "FORBIDDEN_ERROR", "Unable to process request.", "").reason(reason)
    }

    /// 403 for an operation the resource does not have (§1.5, fastlane#19788 text).
    pub fn operation_not_allowed(resource: &str, op: &str, allowed: &[&str]) -> AscError {
        AscError::new(
            403,
            "FORBIDDEN_ERROR",
            "The given operation is not allowed",
            format!(
                "The resource '{resource}' does not allow '{op}'. Allowed operations are: {}",
                allowed.join(", ")
            ),
        )
    }

    /// 404 for a path no operation has (§1.5 PATH_ERROR). Wording: crabapple's choice.
    pub fn path_error(path: &str) -> AscError {
        AscError::new(
            404,
            "PATH_ERROR",
            "The URL path is not valid",
            format!("The path provided '{path}' does not match a defined resource type."),
        )
    }

    /// 405 for a known path with a method it does not take (§1.5). Wording: crabapple's choice.
    pub fn method_not_allowed(method: &str, path: &str, allowed: &[String]) -> AscError {
        let mut e = AscError::new(
            405,
            "METHOD_NOT_ALLOWED",
            "The request method is not valid for the resource path.",
            format!(
                "The request method '{method}' is not valid for the resource path '{path}'. Allowed methods: {}",
                allowed.join(", ")
            ),
        );
        e.headers.push(("Allow".into(), allowed.join(", ")));
        e
    }

    /// 404 for an id that does not exist (§1.5 NOT_FOUND).
    pub fn not_found(rtype: &str, id: &str) -> AscError {
        AscError::new(
            404,
            "NOT_FOUND",
            "The specified resource does not exist",
            format!("There is no resource of type '{rtype}' with id '{id}'"),
        )
    }

    /// 429 (§1.6, observed text).
    pub fn rate_limited(reason: impl Into<String>) -> AscError {
        AscError::new(
            429,
            "RATE_LIMIT_EXCEEDED",
            "The request rate limit has been reached.",
            "We've received too many requests for this API. Please wait and try again or slow down your request rate.",
        )
        .reason(reason)
    }

    /// 400 PARAMETER_ERROR.ILLEGAL: a parameter the operation does not take (§1.5 observed text).
    pub fn parameter_illegal(name: &str) -> AscError {
        AscError::new(
            400,
            "PARAMETER_ERROR.ILLEGAL",
            "A parameter cannot be used with this request",
            format!("The parameter '{name}' can not be used with this request"),
        )
        .parameter(name)
    }

    /// 400 PARAMETER_ERROR.INVALID (§1.5; the filter wording is observed, codemagic#467).
    pub fn parameter_invalid(name: &str, detail: impl Into<String>) -> AscError {
        AscError::new(
            400,
            "PARAMETER_ERROR.INVALID",
            "A parameter has an invalid value",
            detail,
        )
        .parameter(name)
    }

    pub fn parameter_required(name: &str) -> AscError {
        AscError::new(
            400,
            "PARAMETER_ERROR.REQUIRED",
            "A required parameter is missing",
            format!("The parameter '{name}' is required"),
        )
        .parameter(name)
    }

    /// 400 ENTITY_INVALID: the body is not JSON (§1.5).
    pub fn entity_invalid(detail: impl Into<String>) -> AscError {
        AscError::new(
            400,
            "ENTITY_INVALID",
            "The request entity is invalid",
            detail,
        )
    }

    /// 422 ENTITY_UNPROCESSABLE: JSON, but not the request document (§1.5, observed text).
    pub fn entity_unprocessable(pointer: &str) -> AscError {
        let dotted = pointer.trim_start_matches('/').replace('/', ".");
        let mut e = AscError::new(
            422,
            "ENTITY_UNPROCESSABLE",
            "The request entity is not a valid request document object",
            format!("Unexpected or invalid value at '{dotted}'."),
        )
        .pointer(pointer);
        e.meta = Some(json!({ "position": { "row": -1, "column": -1 } }));
        e
    }

    /// 409 ENTITY_ERROR family: a well-formed document with unacceptable data (§1.5).
    pub fn entity_error(
        code_suffix: &str,
        title: &str,
        detail: impl Into<String>,
        pointer: &str,
    ) -> AscError {
        let code = if code_suffix.is_empty() {
            "ENTITY_ERROR".to_string()
        } else {
            format!("ENTITY_ERROR.{code_suffix}")
        };
        AscError::new(409, &code, title, detail).pointer(pointer)
    }

    /// 409 STATE_ERROR (§1.5, Apple's example text).
    pub fn state_error(detail: impl Into<String>) -> AscError {
        AscError::new(
            409,
            "STATE_ERROR",
            "The request cannot be fulfilled because of the state of another resource.",
            detail,
        )
    }

    pub fn internal(reason: impl Into<String>) -> AscError {
        AscError::new(
            500,
            "UNEXPECTED_ERROR",
            "An unexpected error occurred.",
            "An unexpected error occurred on the server side. If this issue continues, contact us at https://developer.apple.com/contact/.",
        )
        .reason(reason)
    }
}

/// An internal error (a store error): Apple's 500 `UNEXPECTED_ERROR`; the reason names a storage
/// fault in plain words ("storage full: …", issue 8) or gives the chain of causes.
impl From<anyhow::Error> for AscError {
    fn from(e: anyhow::Error) -> AscError {
        tracing::error!("internal error: {e:#}");
        AscError::internal(crabapple_store::error_reason(&e))
    }
}
