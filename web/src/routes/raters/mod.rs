//! Organizers' rater routes: create rater accounts for a competition, and see how far the
//! raters agree.

pub mod agreement;
pub mod post;
