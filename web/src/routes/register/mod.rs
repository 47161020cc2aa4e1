//! Public team registration: a name and a role in, a team waiting for the organizers' approval
//! out (no token until then; the organizers hand it over).

pub mod get;
pub mod post;
