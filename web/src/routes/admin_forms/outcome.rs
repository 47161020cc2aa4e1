//! What an organizer's form did: the message (and a token issued once) the admin page shows.

/// A token issued by an approval or a new team: shown on the page once.
pub struct Issued {
    pub team: String,
    pub token: String,
}

/// What a form did, in words.
pub struct Done {
    pub message: String,
    pub issued: Option<Issued>,
}

impl Done {
    pub fn said(message: impl Into<String>) -> Done {
        Done {
            message: message.into(),
            issued: None,
        }
    }
}
