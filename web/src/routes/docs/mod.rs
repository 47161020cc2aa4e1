//! The API's description: the OpenAPI JSON and a page listing it.

pub mod openapi_json;
pub mod page;
