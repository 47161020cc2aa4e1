//! Creation tasks: organizers add them; creator teams list them and download target clips.

pub mod list;
pub mod post;
pub mod target;
