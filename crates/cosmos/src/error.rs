//! The crate's one error type. Each variant is one of Cosmos' error classes: its `type` (the
//! class name the `dcos` CLI switches on), its message, its `data` and its HTTP status are what
//! Cosmos answers, so the CLI formats them as it would a real Cosmos' errors.

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

/// A Cosmos error, as `{"type", "message", "data"}` with a status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("Package [{name}] not found")]
    PackageNotFound { name: String },
    #[error("Version [{version}] of package [{name}] not found")]
    VersionNotFound { name: String, version: String },
    #[error("Package is already installed")]
    PackageAlreadyInstalled,
    /// The options (defaults merged) break the package's config schema: one json-schema-validator
    /// report per broken rule (`instance.pointer`, `keyword`, `found`, `expected`, …).
    #[error("Options JSON failed validation")]
    JsonSchemaMismatch { errors: Vec<Value> },
    #[error("No schema available to validate the provided options")]
    OptionsNotAllowed,
    #[error("Multiple apps named [{name}] are installed: [{}]", .app_ids.join(", "))]
    AmbiguousAppId { name: String, app_ids: Vec<String> },
    #[error("Package [{name}] is not installed")]
    PackageNotInstalled { name: String },
    #[error("Package [{name}] with id [{app_id}] is not installed")]
    UninstallNonExistentAppForPackage { name: String, app_id: String },
    #[error("Uninstalled package [{name}]{}\nUnable to shutdown [{name}] service framework with name [{framework_name}] because there are multiple framework ids matching this name: [{}]", version_text(.version), .ids.join(", "))]
    MultipleFrameworkIds {
        name: String,
        version: Option<String>,
        framework_name: String,
        ids: Vec<String>,
    },
    #[error("Incomplete uninstall of package [{name}] due to Mesos unavailability")]
    IncompleteUninstall { name: String },
    #[error("{}", already_present(.name, .uri))]
    RepositoryAlreadyPresent {
        name: Option<String>,
        uri: Option<String>,
    },
    #[error("{}", not_present(.name, .uri))]
    RepositoryNotPresent {
        name: Option<String>,
        uri: Option<String>,
    },
    #[error("Must specify either the name or URI of the repository")]
    RepoNameOrUriMissing,
    #[error("Index ({attempted}) is out of range. Index value {}", index_suggestion(*.max))]
    RepositoryAddIndexOutOfBounds { attempted: i64, max: usize },
    #[error("URI for repository [{name}] has invalid syntax: {uri}")]
    RepositoryUriSyntax {
        name: String,
        uri: String,
        cause: String,
    },
    #[error("Could not access data at URI for repository [{name}]: {uri}")]
    RepositoryUriConnection {
        name: String,
        uri: String,
        cause: String,
    },
    #[error(
        "Unexpected upstream http error while fetching repository '{name}' at {uri}: GET {status}"
    )]
    UniverseClientHttpError {
        name: String,
        uri: String,
        status: u16,
    },
    #[error("Repository URI [{uri}] uses an unsupported scheme. Only http, https, file and builtin are supported")]
    UnsupportedRepositoryUri { uri: String },
    #[error("{}", unsupported_type(.supported, .actual))]
    UnsupportedContentType {
        supported: Vec<String>,
        actual: Option<String>,
    },
    /// A body (a request, a repository, a rendered template) that is not JSON; `what` says which.
    #[error("Unable to parse {what} as a JSON value: {cause}")]
    JsonParsingError { what: String, cause: String },
    /// JSON of the wrong shape; `what` says which document, `cause` which field.
    #[error("Unable to decode {what}: {cause}")]
    JsonDecodingError { what: String, cause: String },
    #[error("Rendered Marathon JSON must be a JSON object")]
    MarathonTemplateMustBeJsonObject,
    #[error("Package: [{name}] version: [{version}] does not have a Marathon template defined and can not be rendered")]
    ServiceMarathonTemplateNotFound { name: String, version: String },
    /// The package's `marathon.json.mustache` is not a valid template.
    #[error("The Marathon template of package [{name}] is not a valid mustache template: {cause}")]
    MarathonTemplateInvalid { name: String, cause: String },
    /// Marathon refused the app (a 4xx other than 409) with this message and details.
    #[error("{message}")]
    MarathonBadResponse {
        message: String,
        details: Option<Vec<Value>>,
    },
    #[error("Received response status code {marathon_status} from Marathon")]
    MarathonGenericError { marathon_status: u16 },
    #[error("Received response status code {marathon_status} from Marathon")]
    MarathonBadGateway { marathon_status: u16 },
    #[error("Error while deleting marathon app '{app_id}'")]
    MarathonAppDeleteError { app_id: String },
    /// An app id (the request's `appId`, or the one a template renders) that is not a Marathon
    /// path id; `cause` says which part.
    #[error("The appId [{app_id}] is not a valid Marathon app id: {cause}")]
    InvalidAppId { app_id: String, cause: String },
    /// Marathon or the master: not configured, or not answering.
    #[error("Unable to complete request due to service [{service}] unavailability{}", cause_text(.cause))]
    ServiceUnavailable { service: String, cause: String },
    #[error("Unexpected response from the Mesos master ({cause})")]
    MasterBadResponse { cause: String },
    #[error("This operation is not implemented")]
    NotImplemented,
    /// The repository list in the state directory cannot be read or written.
    #[error("Cannot use the repository list at {path}: {cause}")]
    Storage { path: String, cause: String },
}

fn version_text(v: &Option<String>) -> String {
    v.as_ref()
        .map(|v| format!(" version [{v}]"))
        .unwrap_or_default()
}

fn cause_text(c: &str) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!(": {c}")
    }
}

fn already_present(name: &Option<String>, uri: &Option<String>) -> String {
    match (name, uri) {
        (Some(n), Some(u)) => {
            format!("Repository name [{n}] and URI [{u}] are both already present in the list")
        }
        (Some(n), None) => format!("Repository name [{n}] is already present in the list"),
        (None, Some(u)) => format!("Repository URI [{u}] is already present in the list"),
        (None, None) => "Repository is already present in the list".into(),
    }
}

fn not_present(name: &Option<String>, uri: &Option<String>) -> String {
    match (name, uri) {
        (Some(n), Some(u)) => {
            format!("Neither repository name [{n}] nor URI [{u}] are present in the list")
        }
        (Some(n), None) => format!("Repository name [{n}] is not present in the list"),
        (None, Some(u)) => format!("Repository URI [{u}] is not present in the list"),
        (None, None) => "Repository is not present in the list".into(),
    }
}

fn index_suggestion(max: usize) -> String {
    if max == 0 {
        "can be at most 0".into()
    } else {
        format!("must be between 0 and {max} inclusive.")
    }
}

fn unsupported_type(supported: &[String], actual: &Option<String>) -> String {
    let accept = format!("[{}]", supported.join(", "));
    match actual {
        Some(mt) => format!("Unsupported Content-Type: {mt} Accept: {accept}"),
        None => format!("Unspecified Content-Type Accept: {accept}"),
    }
}

fn name_uri(name: &Option<String>, uri: &Option<String>) -> Value {
    let mut m = Map::new();
    if let Some(n) = name {
        m.insert("name".into(), json!(n));
    }
    if let Some(u) = uri {
        m.insert("uri".into(), json!(u));
    }
    Value::Object(m)
}

impl Error {
    /// The error class, as Cosmos names it in `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::PackageNotFound { .. } => "PackageNotFound",
            Error::VersionNotFound { .. } => "VersionNotFound",
            Error::PackageAlreadyInstalled => "PackageAlreadyInstalled",
            Error::JsonSchemaMismatch { .. } => "JsonSchemaMismatch",
            Error::OptionsNotAllowed => "OptionsNotAllowed",
            Error::AmbiguousAppId { .. } => "AmbiguousAppId",
            Error::PackageNotInstalled { .. } => "PackageNotInstalled",
            Error::UninstallNonExistentAppForPackage { .. } => "UninstallNonExistentAppForPackage",
            Error::MultipleFrameworkIds { .. } => "MultipleFrameworkIds",
            Error::IncompleteUninstall { .. } => "IncompleteUninstall",
            Error::RepositoryAlreadyPresent { .. } => "RepositoryAlreadyPresent",
            Error::RepositoryNotPresent { .. } => "RepositoryNotPresent",
            Error::RepoNameOrUriMissing => "RepoNameOrUriMissing",
            Error::RepositoryAddIndexOutOfBounds { .. } => "RepositoryAddIndexOutOfBounds",
            Error::RepositoryUriSyntax { .. } => "RepositoryUriSyntax",
            Error::RepositoryUriConnection { .. } => "RepositoryUriConnection",
            Error::UniverseClientHttpError { .. } => "UniverseClientHttpError",
            Error::UnsupportedRepositoryUri { .. } => "UnsupportedRepositoryUri",
            Error::UnsupportedContentType { .. } => "UnsupportedContentType",
            Error::JsonParsingError { .. } => "JsonParsingError",
            Error::JsonDecodingError { .. } => "JsonDecodingError",
            Error::MarathonTemplateMustBeJsonObject => "MarathonTemplateMustBeJsonObject",
            Error::ServiceMarathonTemplateNotFound { .. } => "ServiceMarathonTemplateNotFound",
            Error::MarathonTemplateInvalid { .. } => "MarathonTemplateInvalid",
            Error::MarathonBadResponse { .. } => "MarathonBadResponse",
            Error::MarathonGenericError { .. } => "MarathonGenericError",
            Error::MarathonBadGateway { .. } => "MarathonBadGateway",
            Error::MarathonAppDeleteError { .. } => "MarathonAppDeleteError",
            Error::InvalidAppId { .. } => "InvalidAppId",
            Error::ServiceUnavailable { .. } => "ServiceUnavailable",
            Error::MasterBadResponse { .. } => "MasterBadResponse",
            Error::NotImplemented => "NotImplemented",
            Error::Storage { .. } => "StorageError",
        }
    }

    /// The HTTP status Cosmos answers with: 400 unless the class says otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::PackageAlreadyInstalled => StatusCode::CONFLICT,
            Error::IncompleteUninstall { .. } | Error::ServiceUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Error::MarathonGenericError { .. }
            | Error::MarathonAppDeleteError { .. }
            | Error::Storage { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Error::MarathonBadGateway { .. } | Error::MasterBadResponse { .. } => {
                StatusCode::BAD_GATEWAY
            }
            Error::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The `data` object, when the class carries one.
    pub fn data(&self) -> Option<Value> {
        let v = match self {
            Error::PackageNotFound { name } | Error::PackageNotInstalled { name } => {
                json!({"packageName": name})
            }
            Error::VersionNotFound { name, version }
            | Error::ServiceMarathonTemplateNotFound { name, version } => {
                json!({"packageName": name, "packageVersion": version})
            }
            Error::JsonSchemaMismatch { errors } => json!({ "errors": errors }),
            Error::AmbiguousAppId { name, app_ids } => {
                json!({"packageName": name, "appIds": app_ids})
            }
            Error::UninstallNonExistentAppForPackage { name, app_id } => {
                json!({"packageName": name, "appId": app_id})
            }
            Error::MultipleFrameworkIds {
                name,
                version,
                framework_name,
                ids,
            } => json!({"packageName": name, "packageVersion": version,
                        "frameworkName": framework_name, "ids": ids}),
            Error::IncompleteUninstall { name } => json!({ "packageName": name }),
            Error::RepositoryAlreadyPresent { name, uri }
            | Error::RepositoryNotPresent { name, uri } => name_uri(name, uri),
            Error::RepositoryAddIndexOutOfBounds { attempted, max } => {
                json!({"attempted": attempted, "max": max})
            }
            Error::RepositoryUriSyntax { name, uri, cause }
            | Error::RepositoryUriConnection { name, uri, cause } => {
                json!({"repository": {"name": name, "uri": uri}, "cause": cause})
            }
            Error::UniverseClientHttpError { name, uri, status } => json!({
                "packageRepository": {"name": name, "uri": uri},
                "method": "GET", "clientStatus": status}),
            Error::UnsupportedRepositoryUri { uri } => json!({ "uri": uri }),
            Error::UnsupportedContentType { supported, actual } => {
                json!({"supported": supported, "actual": actual})
            }
            Error::JsonParsingError { what, cause } => {
                json!({"underlyingType": what, "parsingErrorMessage": cause})
            }
            Error::JsonDecodingError { what, cause } => {
                json!({"typeName": what, "decodingErrorMessage": cause})
            }
            Error::MarathonBadResponse { details, .. } => {
                return details.as_ref().map(|d| json!({ "errors": d }))
            }
            Error::MarathonGenericError { marathon_status }
            | Error::MarathonBadGateway { marathon_status } => {
                json!({ "marathonStatus": marathon_status })
            }
            Error::MarathonAppDeleteError { app_id } | Error::InvalidAppId { app_id, .. } => {
                json!({ "appId": app_id })
            }
            Error::ServiceUnavailable { service, .. } => json!({ "serviceName": service }),
            Error::MarathonTemplateInvalid { name, .. } => json!({ "packageName": name }),
            Error::PackageAlreadyInstalled
            | Error::OptionsNotAllowed
            | Error::RepoNameOrUriMissing
            | Error::MarathonTemplateMustBeJsonObject
            | Error::MasterBadResponse { .. }
            | Error::NotImplemented
            | Error::Storage { .. } => return None,
        };
        Some(v)
    }

    /// The error body: `{"type", "message"[, "data"]}`.
    pub fn body(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.kind()));
        m.insert("message".into(), json!(self.to_string()));
        if let Some(d) = self.data() {
            m.insert("data".into(), d);
        }
        Value::Object(m)
    }

    /// Marathon (or the master) is not configured or did not answer.
    pub(crate) fn unavailable(service: &str, cause: impl Into<String>) -> Error {
        Error::ServiceUnavailable {
            service: service.into(),
            cause: cause.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_statuses_and_bodies_are_cosmos_own() {
        let cases: Vec<(Error, &str, u16, &str)> = vec![
            (
                Error::PackageNotFound { name: "x".into() },
                "PackageNotFound",
                400,
                "Package [x] not found",
            ),
            (
                Error::VersionNotFound {
                    name: "x".into(),
                    version: "9".into(),
                },
                "VersionNotFound",
                400,
                "Version [9] of package [x] not found",
            ),
            (
                Error::PackageAlreadyInstalled,
                "PackageAlreadyInstalled",
                409,
                "Package is already installed",
            ),
            (
                Error::RepositoryAddIndexOutOfBounds {
                    attempted: 7,
                    max: 2,
                },
                "RepositoryAddIndexOutOfBounds",
                400,
                "Index (7) is out of range. Index value must be between 0 and 2 inclusive.",
            ),
            (
                Error::unavailable("marathon", ""),
                "ServiceUnavailable",
                503,
                "Unable to complete request due to service [marathon] unavailability",
            ),
            (
                Error::NotImplemented,
                "NotImplemented",
                501,
                "This operation is not implemented",
            ),
        ];
        for (e, kind, status, message) in cases {
            assert_eq!(e.kind(), kind);
            assert_eq!(e.status().as_u16(), status, "{kind}");
            assert_eq!(e.body()["message"], message);
            assert_eq!(e.body()["type"], kind);
        }
        let e = Error::RepositoryAlreadyPresent {
            name: Some("u".into()),
            uri: None,
        };
        assert_eq!(e.body()["data"], json!({"name": "u"}));
        assert!(Error::OptionsNotAllowed.body().get("data").is_none());
    }
}
