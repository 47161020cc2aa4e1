//! The API's description: the OpenAPI JSON and a page listing it.

pub mod openapi_json;
pub mod page;

/// The OpenAPI document as JSON, handed to these routes as app data by `startup`, which builds it
/// with [`crate::openapi::json`]: the document lists these routes, so they do not import it.
#[derive(Debug, Clone, Copy)]
pub struct Document(pub &'static str);
