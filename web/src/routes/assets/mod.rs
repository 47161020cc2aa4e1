//! The pages' scripts and style sheet, served from files compiled into the binary: pages carry no
//! inline script or style, so the Content-Security-Policy can forbid both (docs/WEB.md).

pub mod get;
