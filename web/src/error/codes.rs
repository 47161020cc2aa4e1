//! Every error `code` the API answers, defined once: its name on the wire, its HTTP status and
//! what it means. Handlers build errors from these ([`super::ApiError::of`]); the OpenAPI
//! document lists them (`components.schemas.ErrorCode` and the `x-error-codes` table, see
//! [`crate::openapi`]). Codes that arrive as text from `arena` (refusals of a workflow) or the
//! worker (an upload's media, model or archive checks) are registered here too; the tests below
//! read those crates' sources to check that none is missing.

use actix_web::http::StatusCode;

/// One line per code: `Variant = "name", STATUS, "meaning";` (`tt` fragments, so the derives
/// read the literals as written).
macro_rules! codes {
    ($($variant:ident = $name:tt, $status:ident, $meaning:tt;)+) => {
        /// An error code of the API (see the module docs).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
        #[schema(as = ErrorCode)]
        pub enum Code {
            $(#[doc = $meaning] #[serde(rename = $name)] $variant,)+
        }

        impl Code {
            /// Every code, in the registry's order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),+];
            /// The code as it is sent: snake_case.
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name),+ }
            }
            /// The status an error with this code is answered with.
            pub fn status(self) -> StatusCode {
                match self { $(Code::$variant => StatusCode::$status),+ }
            }
            /// One line: what the code means.
            pub fn meaning(self) -> &'static str {
                match self { $(Code::$variant => $meaning),+ }
            }
            /// The registered code named `name`.
            pub fn parse(name: &str) -> Option<Code> {
                match name { $($name => Some(Code::$variant),)+ _ => None }
            }
        }
    };
}

codes! {
    // Requests the server cannot read.
    BadRequest = "bad_request", BAD_REQUEST, "the JSON body is malformed or has fields the operation does not take";
    InvalidQuery = "invalid_query", BAD_REQUEST, "the query string does not parse (a value of the wrong type or range)";
    BadQuery = "bad_query", BAD_REQUEST, "a query parameter has a value the operation does not know";
    InvalidForm = "invalid_form", BAD_REQUEST, "the urlencoded form is malformed";
    BadMultipart = "bad_multipart", BAD_REQUEST, "the body is not a readable multipart form";
    UnexpectedField = "unexpected_field", BAD_REQUEST, "the form has a field the operation does not take";
    DuplicateField = "duplicate_field", BAD_REQUEST, "the form has a field twice";
    MissingField = "missing_field", BAD_REQUEST, "the form lacks a field the operation needs";
    BadField = "bad_field", BAD_REQUEST, "a text field of the form is not UTF-8";
    UnreadableFile = "unreadable_file", BAD_REQUEST, "an uploaded file could not be read back";
    BadLastEventId = "bad_last_event_id", BAD_REQUEST, "`Last-Event-ID` is not an event id";
    PayloadTooLarge = "payload_too_large", PAYLOAD_TOO_LARGE, "the body or a file is over its size limit";
    RangeNotSatisfiable = "range_not_satisfiable", RANGE_NOT_SATISFIABLE, "the `Range` asked for lies outside the file";
    // Who is asking.
    MissingToken = "missing_token", UNAUTHORIZED, "the operation needs `Authorization: Bearer <token>`";
    InvalidToken = "invalid_token", UNAUTHORIZED, "the token is not a live team token";
    InvalidMetricsToken = "invalid_metrics_token", UNAUTHORIZED, "`/metrics` needs the server's scrape token";
    LoginRequired = "login_required", UNAUTHORIZED, "the page needs a logged-in team";
    CsrfFailed = "csrf_failed", FORBIDDEN, "the form's CSRF token does not match the session";
    AdminOnly = "admin_only", FORBIDDEN, "only organizers may do this";
    WrongRole = "wrong_role", FORBIDDEN, "the team's role does not allow this (e.g. a detector team uploading a creation)";
    NotYours = "not_yours", FORBIDDEN, "the resource belongs to another team";
    NotARater = "not_a_rater", FORBIDDEN, "the account is no rater of this competition";
    RateLimited = "rate_limited", TOO_MANY_REQUESTS, "too many requests in a short time (`Retry-After` says how long to wait)";
    QuotaExceeded = "quota_exceeded", TOO_MANY_REQUESTS, "the team's submission quota for this phase is used up";
    // Nothing there.
    NotFound = "not_found", NOT_FOUND, "nothing at this path (or a path parameter names nothing that can exist)";
    MethodNotAllowed = "method_not_allowed", METHOD_NOT_ALLOWED, "the path exists but not with this method (`Allow` lists those it takes)";
    CompetitionNotFound = "competition_not_found", NOT_FOUND, "no competition has this slug";
    TeamNotFound = "team_not_found", NOT_FOUND, "no team has this name";
    SubmissionNotFound = "submission_not_found", NOT_FOUND, "no submission has this id";
    DetectorNotFound = "detector_not_found", NOT_FOUND, "no detector with this id is on the board";
    CreationNotFound = "creation_not_found", NOT_FOUND, "no creation with this id is on the board";
    CropNotFound = "crop_not_found", NOT_FOUND, "the video has no face crop with this number";
    TaskNotFound = "task_not_found", NOT_FOUND, "no task has this id (or its round has not opened)";
    WebhookNotFound = "webhook_not_found", NOT_FOUND, "the team has no webhook";
    NothingToRate = "nothing_to_rate", NOT_FOUND, "the rater has rated every fake there is";
    MetricsDisabled = "metrics_disabled", NOT_FOUND, "metrics are turned off on this server";
    // Names and settings.
    InvalidSlug = "invalid_slug", BAD_REQUEST, "a slug is 1-64 lowercase letters, digits and '-', not starting with '-'";
    InvalidTitle = "invalid_title", BAD_REQUEST, "a title is 1-200 characters once trimmed";
    InvalidMode = "invalid_mode", BAD_REQUEST, "the mode is `live` or `rounds`";
    InvalidPreset = "invalid_preset", BAD_REQUEST, "the preset is `dfgc2021` or `dfgc2022`";
    InvalidSettings = "invalid_settings", BAD_REQUEST, "a competition setting is out of range";
    InvalidName = "invalid_name", BAD_REQUEST, "a team name is 1-64 letters, digits, '-', '_' or '.'";
    InvalidRole = "invalid_role", BAD_REQUEST, "the role is `creator`, `detector` or `both`";
    InvalidPhase = "invalid_phase", BAD_REQUEST, "the phase's kind, round or window is invalid (it must close after it opens)";
    InvalidRound = "invalid_round", BAD_REQUEST, "a round is a number of at least 1";
    InvalidTaskId = "invalid_task_id", BAD_REQUEST, "a task id is 1-64 letters, digits, '_' or '-'";
    InvalidReason = "invalid_reason", BAD_REQUEST, "a disqualification reason is at most 500 characters";
    InvalidNote = "invalid_note", BAD_REQUEST, "a note is at most 280 characters";
    InvalidRating = "invalid_rating", BAD_REQUEST, "a rating is 1-5 on each axis";
    InvalidWebhookSecret = "invalid_webhook_secret", BAD_REQUEST, "a webhook secret is 16-256 characters";
    UnknownReal = "unknown_real", BAD_REQUEST, "`reals=` names a video that is no real video of the competition";
    Conflict = "conflict", CONFLICT, "the name or slug is taken, or the phase exists";
    // The game's state.
    PhaseClosed = "phase_closed", CONFLICT, "no phase of this kind is open now";
    CompetitionNotFinished = "competition_not_finished", CONFLICT, "the competition has not finished (`force=true` releases it anyway)";
    NoPrivatePart = "no_private_part", CONFLICT, "the competition has no private part to reveal (`private_fraction` is 0)";
    TaskExists = "task_exists", CONFLICT, "the competition has a task with this id";
    TeamNotApproved = "team_not_approved", CONFLICT, "the team's registration is not approved";
    TeamIsOrganizer = "team_is_organizer", CONFLICT, "an organizer team is not deleted";
    NotPending = "not_pending", CONFLICT, "the registration is not pending";
    StaleRating = "stale_rating", CONFLICT, "the fake rated is not the one the rater was shown";
    SubmissionBusy = "submission_busy", CONFLICT, "a job of the submission is running; try again";
    AlreadyWithdrawn = "already_withdrawn", CONFLICT, "the submission was withdrawn";
    Disqualified = "disqualified", CONFLICT, "the submission was disqualified; only organizers may erase it";
    AlreadyDisqualified = "already_disqualified", CONFLICT, "the submission is disqualified already";
    NotDisqualifiable = "not_disqualifiable", CONFLICT, "only a creation or detector in the game is disqualified";
    NotDisqualified = "not_disqualified", CONFLICT, "the submission is not disqualified";
    NotFailed = "not_failed", CONFLICT, "only a failed submission is rerun";
    NothingToRerun = "nothing_to_rerun", CONFLICT, "the submission has no failed job";
    FinalsOff = "finals_off", CONFLICT, "the competition takes no final picks (`settings.final_picks` is 0)";
    FinalPicksExceeded = "final_picks_exceeded", CONFLICT, "the team holds all its final picks of this kind already";
    NotPickable = "not_pickable", CONFLICT, "not a creation or detector still in the game";
    // Uploads: what the files say.
    InvalidRatings = "invalid_ratings", UNPROCESSABLE_ENTITY, "a line of the ratings CSV is invalid; nothing was imported";
    UnsupportedMedia = "unsupported_media", UNSUPPORTED_MEDIA_TYPE, "the file is not of a kind this upload takes (422 for a zip entry)";
    InvalidVideo = "invalid_video", UNPROCESSABLE_ENTITY, "the video does not decode";
    VideoLimitsExceeded = "video_limits_exceeded", UNPROCESSABLE_ENTITY, "the video is over a size, rate, frame or duration limit";
    TaskRequired = "task_required", UNPROCESSABLE_ENTITY, "a single creation video needs its `task`";
    UnknownTask = "unknown_task", UNPROCESSABLE_ENTITY, "the creation names a task the competition does not have";
    DuplicateTask = "duplicate_task", UNPROCESSABLE_ENTITY, "the zip answers a task twice";
    ResolutionMismatch = "resolution_mismatch", UNPROCESSABLE_ENTITY, "the fake's resolution differs from its task's target";
    FrameCountMismatch = "frame_count_mismatch", UNPROCESSABLE_ENTITY, "the fake's frame count differs from its task's target";
    BadArchive = "bad_archive", UNPROCESSABLE_ENTITY, "the zip does not read";
    ArchiveUnsafePath = "archive_unsafe_path", UNPROCESSABLE_ENTITY, "a zip entry's name leaves the archive (absolute or `..`)";
    ArchiveTooLarge = "archive_too_large", UNPROCESSABLE_ENTITY, "the zip unpacks to more than the limit";
    ArchiveTooManyEntries = "archive_too_many_entries", UNPROCESSABLE_ENTITY, "the zip has more entries than the limit";
    NestedArchive = "nested_archive", UNPROCESSABLE_ENTITY, "the zip holds another archive";
    InvalidManifest = "invalid_manifest", UNPROCESSABLE_ENTITY, "manifest.toml is not a valid detector manifest";
    InvalidModel = "invalid_model", UNPROCESSABLE_ENTITY, "the model is not a readable ONNX graph";
    ModelTooLarge = "model_too_large", PAYLOAD_TOO_LARGE, "the model is over its size limit";
    ModelExternalData = "model_external_data", UNPROCESSABLE_ENTITY, "the model refers to external data files";
    ModelOpDomain = "model_op_domain", UNPROCESSABLE_ENTITY, "the model uses an operator domain the server does not run";
    ModelManifestMismatch = "model_manifest_mismatch", UNPROCESSABLE_ENTITY, "the model's inputs or outputs differ from its manifest";
    ModelLoadFailed = "model_load_failed", UNPROCESSABLE_ENTITY, "onnxruntime does not load the model";
    ModelRunFailed = "model_run_failed", UNPROCESSABLE_ENTITY, "the model fails on the probe frames";
    ModelOutputShape = "model_output_shape", UNPROCESSABLE_ENTITY, "the model's output is not one score per frame";
    ModelOutputNotFinite = "model_output_not_finite", UNPROCESSABLE_ENTITY, "the model scores a probe frame NaN or infinite";
    ModelNondeterministic = "model_nondeterministic", UNPROCESSABLE_ENTITY, "the model scores the same frames differently across runs or batch sizes";
    ModelTooSlow = "model_too_slow", UNPROCESSABLE_ENTITY, "the model is slower than the time limit";
    SandboxTimeout = "sandbox_timeout", UNPROCESSABLE_ENTITY, "checking the file ran past the sandbox's time limit";
    SandboxMemoryLimit = "sandbox_memory_limit", UNPROCESSABLE_ENTITY, "checking the file ran past the sandbox's memory limit";
    SandboxCpuLimit = "sandbox_cpu_limit", UNPROCESSABLE_ENTITY, "checking the file ran past the sandbox's CPU limit";
    SandboxFileLimit = "sandbox_file_limit", UNPROCESSABLE_ENTITY, "checking the file ran past the sandbox's file size limit";
    SandboxKilled = "sandbox_killed", UNPROCESSABLE_ENTITY, "the sandbox child checking the file was killed";
    SandboxCrashed = "sandbox_crashed", UNPROCESSABLE_ENTITY, "the sandbox child checking the file crashed";
    SandboxSyscall = "sandbox_syscall", UNPROCESSABLE_ENTITY, "the file made the sandbox child attempt a forbidden system call";
    InvalidWebhookUrl = "invalid_webhook_url", UNPROCESSABLE_ENTITY, "the webhook URL is not http(s) or its host does not resolve";
    WebhookAddressRefused = "webhook_address_refused", UNPROCESSABLE_ENTITY, "the webhook host resolves to a loopback, private or otherwise internal address";
    // The server.
    NotReady = "not_ready", SERVICE_UNAVAILABLE, "a dependency is unreachable or the schema is not current";
    Internal = "internal", INTERNAL_SERVER_ERROR, "the server failed; the cause is in its log with the request id";
}

#[cfg(test)]
mod tests {
    use super::Code;
    use actix_web::http::StatusCode;
    use std::collections::HashSet;
    use std::path::{Path, PathBuf};

    /// Worker codes that never reach a client as an API error: a failure of the server's own
    /// (500) or a code only a job's failure carries.
    const WORKER_INTERNAL: &[&str] = &[
        "media_internal",
        "detector_internal",
        "onnxruntime_unavailable",
        "face_model_unavailable",
        "face_model_load_failed",
        "face_model_run_failed",
        "face_model_output",
        "worker_panic",
        "archive_io",
        "sandbox_protocol",
        "sandbox_unavailable",
    ];

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Each `.rs` file under `crate_dir/src`, cut before its tests.
    fn production(crate_dir: &str) -> Vec<(PathBuf, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(crate_dir)
            .join("src");
        let mut files = Vec::new();
        sources(&root, &mut files);
        assert!(!files.is_empty(), "no sources under {}", root.display());
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let cut = text.find("#[cfg(test)]").unwrap_or(text.len());
                (p, text[..cut].to_owned())
            })
            .collect()
    }

    /// The string literal that opens `rest` after whitespace, if any.
    fn literal(rest: &str) -> Option<&str> {
        let rest = rest.trim_start().strip_prefix('"')?;
        rest.find('"').map(|end| &rest[..end])
    }

    /// A literal that reads as a code (a message has spaces or capitals).
    fn snake(text: &str) -> bool {
        !text.is_empty()
            && (text.chars()).all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    }

    /// `(constructor, status path if any, literal code)` of each `ApiError::…(` call whose code
    /// is written as text.
    fn literal_error_calls(text: &str) -> Vec<(String, Option<String>, String)> {
        let mut out = Vec::new();
        for piece in text.split("ApiError::").skip(1) {
            let Some(open) = piece.find('(') else {
                continue;
            };
            let ctor = &piece[..open];
            // `internal(cause)` and `too_large(message)` take no code.
            if ctor != "new" && status_of(ctor).is_none() {
                continue;
            }
            let args = &piece[open + 1..];
            let (status, rest) = if ctor == "new" {
                let Some(comma) = args.find(',') else {
                    continue;
                };
                let status = args[..comma].trim();
                let status = status.rsplit("::").next().unwrap_or(status).to_owned();
                (Some(status), &args[comma + 1..])
            } else {
                (None, args)
            };
            if let Some(code) = literal(rest) {
                out.push((ctor.to_owned(), status, code.to_owned()));
            }
        }
        out
    }

    fn status_of(ctor: &str) -> Option<&'static str> {
        Some(match ctor {
            "bad_request" => "BAD_REQUEST",
            "unauthorized" => "UNAUTHORIZED",
            "forbidden" => "FORBIDDEN",
            "not_found" => "NOT_FOUND",
            "conflict" => "CONFLICT",
            "unprocessable" => "UNPROCESSABLE_ENTITY",
            _ => return None,
        })
    }

    /// The status a `StatusCode::NAME` path names.
    fn status_named(name: &str) -> Option<StatusCode> {
        Some(match name {
            "BAD_REQUEST" => StatusCode::BAD_REQUEST,
            "UNAUTHORIZED" => StatusCode::UNAUTHORIZED,
            "FORBIDDEN" => StatusCode::FORBIDDEN,
            "NOT_FOUND" => StatusCode::NOT_FOUND,
            "METHOD_NOT_ALLOWED" => StatusCode::METHOD_NOT_ALLOWED,
            "CONFLICT" => StatusCode::CONFLICT,
            "PAYLOAD_TOO_LARGE" => StatusCode::PAYLOAD_TOO_LARGE,
            "UNSUPPORTED_MEDIA_TYPE" => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "RANGE_NOT_SATISFIABLE" => StatusCode::RANGE_NOT_SATISFIABLE,
            "UNPROCESSABLE_ENTITY" => StatusCode::UNPROCESSABLE_ENTITY,
            "TOO_MANY_REQUESTS" => StatusCode::TOO_MANY_REQUESTS,
            "INTERNAL_SERVER_ERROR" => StatusCode::INTERNAL_SERVER_ERROR,
            "SERVICE_UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
            _ => return None,
        })
    }

    #[test]
    fn names_are_unique_snake_case_and_serialize_as_registered() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "{name} registered twice");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{name} is not snake_case"
            );
            assert_eq!(Code::parse(name), Some(*code));
            assert_eq!(
                serde_json::to_value(code).ok(),
                Some(serde_json::Value::from(name))
            );
            assert!(
                code.status().is_client_error() || code.status().is_server_error(),
                "{name}: {} is no error status",
                code.status()
            );
            assert!(!code.meaning().is_empty(), "{name} has no meaning");
        }
    }

    /// Every code web names is a registered one with its registered status, and none is
    /// written as text any more.
    #[test]
    fn web_names_no_code_as_text() {
        let mut literal_sites = Vec::new();
        for (path, text) in production(".") {
            for (ctor, status, code) in literal_error_calls(&text) {
                let site = format!("{}: ApiError::{ctor}({code:?})", path.display());
                let Some(registered) = Code::parse(&code) else {
                    panic!("{site}: {code} is not in the registry (web/src/error/codes.rs)");
                };
                let status = status.or_else(|| status_of(&ctor).map(str::to_owned));
                if let Some(status) = status {
                    assert_eq!(
                        status_named(&status),
                        Some(registered.status()),
                        "{site}: answered {status}, registered {}",
                        registered.status()
                    );
                }
                literal_sites.push(site);
            }
        }
        assert!(
            literal_sites.is_empty(),
            "use ApiError::of(Code::…): {literal_sites:#?}"
        );
    }

    /// The codes arena's workflows refuse with (`refused("…"`, `wrong("…"`) are registered.
    #[test]
    fn arena_refusal_codes_are_registered() {
        let mut found = 0;
        for (path, text) in production("../arena") {
            for head in ["refused(", "wrong("] {
                for piece in text.split(head).skip(1) {
                    if let Some(code) = literal(piece) {
                        found += 1;
                        assert!(
                            Code::parse(code).is_some(),
                            "{}: {code} is not in the registry",
                            path.display()
                        );
                    }
                }
            }
        }
        assert!(found >= 10, "found only {found} refusal codes in arena");
    }

    /// The codes of the worker's upload checks (`fn code` of its error types, the archive's and
    /// the sandbox's codes) are registered, except those that never reach a client.
    #[test]
    fn worker_upload_codes_are_registered() {
        let mut codes: Vec<(PathBuf, String)> = Vec::new();
        for (path, text) in production("../worker") {
            for piece in text.split("fn code(&self) -> &'static str {").skip(1) {
                let body = &piece[..piece.find("\n    }\n").unwrap_or(piece.len())];
                for quoted in body.split('"').skip(1).step_by(2) {
                    codes.push((path.clone(), quoted.to_owned()));
                }
            }
            for piece in text.split("bad(").skip(1) {
                if let Some(code) = literal(piece).filter(|c| snake(c)) {
                    codes.push((path.clone(), code.to_owned()));
                }
            }
            for line in text.lines() {
                if let Some(rest) = line.trim().strip_prefix("pub const ")
                    && rest.contains(": &str = \"sandbox_")
                    && let Some(code) = rest.split('"').nth(1)
                {
                    codes.push((path.clone(), code.to_owned()));
                }
            }
        }
        codes.retain(|(_, code)| snake(code));
        assert!(codes.len() >= 20, "found only {} worker codes", codes.len());
        for (path, code) in codes {
            if WORKER_INTERNAL.contains(&code.as_str()) {
                continue;
            }
            assert!(
                Code::parse(&code).is_some(),
                "{}: {code} is not in the registry (or WORKER_INTERNAL)",
                path.display()
            );
        }
    }
}
